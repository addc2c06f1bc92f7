"""``panacea audit``: verify (exit 1 naming the entry), export, checkpoint, keygen."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from panacea.cli.main import main
from panacea.config import get_settings
from panacea.db.engine import create_db_engine
from panacea.identity.audit import append
from panacea.identity.audit_checkpoints import generate_key_file, load_public_key, read_witness
from panacea.identity.audit_records import AuditCheckpoint, AuditEntry, AuditHead, chain_of
from panacea.inventory.organisation import Organisation
from tests.identity.audit_helpers import event

ORG = "Saint Example Hospital"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A signing key and a witness file configured through the environment."""
    key = tmp_path / "keys" / "audit.pem"
    generate_key_file(key)
    monkeypatch.setenv("PANACEA_AUDIT_SIGNING_KEY_FILE", str(key))
    monkeypatch.setenv("PANACEA_AUDIT_CHECKPOINT_FILE", str(tmp_path / "witness.jsonl"))
    monkeypatch.delenv("PANACEA_DEMO_MODE", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "witness.jsonl"
    get_settings.cache_clear()


def _hospital(url: str, entries: int) -> tuple[sessionmaker[Session], int]:
    engine = create_db_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        org = Organisation(name=ORG)
        session.add(org)
        session.flush()
        org_id = org.id
    for n in range(entries):
        with factory.begin() as session:
            append(session, event(n, organisation_id=org_id))
    engine.dispose()  # the CLI opens its own; a later use of the factory reconnects
    return factory, org_id


def test_verify_passes_then_names_the_modified_entry(
    db_url: str, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, org_id = _hospital(db_url, 4)
    assert main(["--db", db_url, "audit", "checkpoint"]) == 0
    assert f"checkpoint {chain_of(org_id)} at seq 4" in capsys.readouterr().out
    assert main(["--db", db_url, "audit", "verify", "--org", ORG]) == 0
    assert "ok" in capsys.readouterr().out

    with factory.begin() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.chain == chain_of(org_id), AuditEntry.seq == 3)
            .values(outcome="failure")
        )
        victim = session.execute(
            select(AuditEntry.id).where(AuditEntry.chain == chain_of(org_id), AuditEntry.seq == 3)
        ).scalar_one()
    factory.kw["bind"].dispose()
    assert main(["--db", db_url, "audit", "verify"]) == 1
    captured = capsys.readouterr()
    assert "MODIFIED" in captured.out
    assert f"{chain_of(org_id)}: modified at seq 3 (entry id {victim})" in " ".join(
        captured.err.split()
    )


def test_verify_names_a_truncation_that_only_the_witness_saw(
    sqlite_url: str, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, org_id = _hospital(sqlite_url, 3)
    assert main(["--db", sqlite_url, "audit", "checkpoint"]) == 0
    with factory.begin() as session:  # entries, head and database checkpoints all gone
        for table in (AuditEntry, AuditHead, AuditCheckpoint):
            session.execute(delete(table))
    factory.kw["bind"].dispose()
    capsys.readouterr()
    assert main(["--db", sqlite_url, "audit", "verify", "--org", ORG]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{chain_of(org_id)}: truncated at seq 1" in err
    assert "witness file" in err


def test_export_writes_a_file_and_is_audited(
    sqlite_url: str, configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hospital(sqlite_url, 2)
    out = tmp_path / "audit.jsonl"
    argv = ["--db", sqlite_url, "audit", "export", "--org", ORG, "--format", "jsonl", "--out"]
    assert main([*argv, str(out)]) == 0
    assert "exported 3 entries" in capsys.readouterr().err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["action"] for r in records][-1] == "audit.exported"
    assert records[-1]["via"] == "cli"
    assert records[-1]["details"]["destination"] == str(out)

    assert main(["--db", sqlite_url, "audit", "export", "--org", ORG, "--format", "fhir"]) == 0
    lines = capsys.readouterr().out.splitlines()
    resources = [json.loads(line) for line in lines]
    assert [r["resourceType"] for r in resources] == ["AuditEvent"] * 4
    assert resources[-1]["subtype"][-1]["code"] == "audit.exported"

    assert main(["--db", sqlite_url, "audit", "export", "--org", "Nowhere"]) == 1
    assert main([*argv, str(tmp_path / "missing-dir" / "x" / "a.jsonl")]) == 1
    assert "cannot write the export" in capsys.readouterr().err


def test_checkpoint_writes_the_witness_and_is_idempotent(
    sqlite_url: str, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hospital(sqlite_url, 2)
    assert main(["--db", sqlite_url, "audit", "checkpoint", "--org", ORG]) == 0
    assert main(["--db", sqlite_url, "audit", "checkpoint"]) == 0
    assert "checkpointed at its last entry already" in capsys.readouterr().out
    assert [(c.chain, c.seq) for c in read_witness(configured).checkpoints] == [("org-1", 2)]


def test_checkpoint_without_a_key_is_refused_with_the_setting_named(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PANACEA_AUDIT_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("PANACEA_DEMO_MODE", raising=False)
    get_settings.cache_clear()
    try:
        _hospital(sqlite_url, 1)
        assert main(["--db", sqlite_url, "audit", "checkpoint"]) == 1
    finally:
        get_settings.cache_clear()
    assert "PANACEA_AUDIT_SIGNING_KEY_FILE" in capsys.readouterr().err


def test_keygen_creates_a_private_key_and_prints_the_public_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.pem"
    assert main(["audit", "keygen", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    captured = capsys.readouterr()
    assert captured.out.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PANACEA_AUDIT_SIGNING_KEY_FILE" in captured.err
    assert main(["audit", "keygen", str(path)]) == 1  # never overwritten


def test_an_auditor_verifies_with_the_public_key_alone(
    sqlite_url: str,
    configured: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _hospital(sqlite_url, 2)
    assert main(["--db", sqlite_url, "audit", "checkpoint"]) == 0
    public = tmp_path / "public.pem"
    public.write_bytes(
        load_public_key(tmp_path / "keys" / "audit.pem").public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.delenv("PANACEA_AUDIT_SIGNING_KEY_FILE")
    get_settings.cache_clear()
    capsys.readouterr()
    assert main(["--db", sqlite_url, "audit", "verify"]) == 0
    assert "signatures were not checked" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "audit", "verify", "--public-key", str(public)]) == 0
    assert "signatures were not checked" not in capsys.readouterr().err
