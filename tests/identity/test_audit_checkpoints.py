"""Signed checkpoints: keys outside the database, the witness file, periodic checkpoints."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.audit import append
from panacea.identity.audit_checkpoints import (
    CheckpointError,
    SignedCheckpoint,
    checkpoint_heads,
    generate_key_file,
    key_id_of,
    load_private_key,
    load_public_key,
    read_witness,
    record_checkpoint,
    sign,
    signature_problem,
    signing_key,
    signing_key_path,
    trusted_keys,
    witness_path,
)
from panacea.identity.audit_forwarding import due_checkpoints, install_audit_forwarding
from panacea.identity.audit_records import AuditCheckpoint
from panacea.identity.audit_verify import verify_audit
from tests.identity.audit_helpers import (
    CHAIN,
    audit_settings,
    build_chain,
    entry_at,
    event,
    forged,
)


def _stored(factory: sessionmaker[Session]) -> list[tuple[str, int]]:
    with factory() as session:
        rows = session.execute(
            select(AuditCheckpoint.chain, AuditCheckpoint.seq).order_by(
                AuditCheckpoint.chain, AuditCheckpoint.seq
            )
        ).all()
    return [(r.chain, r.seq) for r in rows]


def _witnessed(settings: Settings) -> list[tuple[str, int]]:
    path = witness_path(settings)
    assert path is not None
    return [(c.chain, c.seq) for c in read_witness(path).checkpoints]


def test_a_signature_covers_every_field_of_the_statement(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.pem")
    keys = {key_id_of(key.public_key()): key.public_key()}
    at = datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    checkpoint = sign(key, CHAIN, 10, "a" * 64, at)
    assert signature_problem(checkpoint, keys) is None
    for change in (
        {"seq": 11},
        {"hash": "b" * 64},
        {"chain": "org-8"},
        {"signed_at": datetime.now(UTC)},
    ):
        forged = SignedCheckpoint(**{**checkpoint.__dict__, **change})
        assert signature_problem(forged, keys) == "its Ed25519 signature does not verify"
    assert "not a trusted key" in str(signature_problem(checkpoint, {}))
    assert SignedCheckpoint.from_json(checkpoint.as_json()) == checkpoint


def test_periodic_checkpoints_follow_the_commits(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url, audit_checkpoint_every=5)
    install_audit_forwarding(factory, settings)
    build_chain(factory, 12)  # one transaction per entry
    assert _stored(factory) == [(CHAIN, 5), (CHAIN, 10)]
    assert _witnessed(settings) == [(CHAIN, 5), (CHAIN, 10)]
    # A transaction that crosses a multiple checkpoints its last entry.
    with factory.begin() as session:
        for n in range(4):
            append(session, event(100 + n))
    assert _stored(factory)[-1] == (CHAIN, 16)
    with factory() as session:
        report = verify_audit(session, settings)
    assert report.ok
    assert (report.chains[0].checkpoints, report.chains[0].witnessed) == (3, 3)


def test_due_checkpoints() -> None:
    def records(chain: str, *seqs: int) -> list[dict[str, object]]:
        return [{"chain": chain, "seq": s, "hash": f"h{s}"} for s in seqs]

    assert due_checkpoints(records("a", 4), 5) == {}
    assert due_checkpoints(records("a", 5), 5) == {"a": (5, "h5")}
    assert due_checkpoints(records("a", 4, 5, 6), 5) == {"a": (6, "h6")}
    assert due_checkpoints(records("a", 6, 7) + records("b", 10), 5) == {"b": (10, "h10")}
    assert due_checkpoints(records("a", 5), 0) == {}


def test_checkpointing_the_heads_is_idempotent(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url)
    build_chain(factory, 3)
    build_chain(factory, 2, organisation_id=None)
    assert [(c.chain, c.seq) for c in checkpoint_heads(factory, settings)] == [
        (CHAIN, 3),
        ("platform", 2),
    ]
    assert checkpoint_heads(factory, settings) == []
    assert _witnessed(settings) == [(CHAIN, 3), ("platform", 2)]
    assert checkpoint_heads(factory, settings, chains=["org-99"]) == []


def test_a_chain_changed_since_the_last_checkpoint_is_not_signed(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url)
    build_chain(factory, 4)
    checkpoint_heads(factory, settings)
    build_chain(factory, 3)
    with factory.begin() as session:
        entry_at(session, 6).target = "finding:1000"
    with pytest.raises(
        CheckpointError,
        match=r"not signing org-7 at seq 7: after the checkpoint at seq 4, entry seq 6",
    ):
        checkpoint_heads(factory, settings)
    assert _stored(factory) == [(CHAIN, 4)]
    assert _witnessed(settings) == [(CHAIN, 4)]


def test_outside_demo_mode_a_missing_key_is_refused(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = Settings(database_url=db_url, audit_checkpoint_file=tmp_path / "w.jsonl")
    build_chain(factory, 1)
    with pytest.raises(CheckpointError, match="PANACEA_AUDIT_SIGNING_KEY_FILE"):
        checkpoint_heads(factory, settings)
    assert signing_key_path(settings) is None
    assert trusted_keys(settings) == {}


def test_outside_demo_mode_a_checkpoint_needs_a_witness(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url, audit_checkpoint_file=None)
    build_chain(factory, 1)
    with pytest.raises(CheckpointError, match="no external witness"):
        checkpoint_heads(factory, settings)
    assert _stored(factory) == []


def test_a_failed_periodic_checkpoint_never_fails_the_commit(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=db_url, audit_checkpoint_every=1)
    install_audit_forwarding(factory, settings)
    with caplog.at_level(logging.ERROR, logger="panacea.identity.audit_forwarding"):
        build_chain(factory, 2)
    assert _stored(factory) == []
    assert "audit checkpoint of org-7 at seq 1 not made" in caplog.text


def test_demo_mode_generates_a_private_key_next_to_the_database(
    sqlite_factory: sessionmaker[Session], sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=sqlite_url, demo_mode=True)
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    build_chain(sqlite_factory, 2)
    with caplog.at_level(logging.WARNING, logger="panacea.identity.audit_checkpoints"):
        (made,) = checkpoint_heads(sqlite_factory, settings)
    key_file = database.with_name("panacea.audit-key.pem")
    assert signing_key_path(settings) == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "generated an audit signing key" in caplog.text
    assert witness_path(settings) == database.with_name("panacea.audit-checkpoints.jsonl")
    assert made.key_id == key_id_of(load_private_key(key_file).public_key())
    # The same key is used from then on.
    assert key_id_of(signing_key(settings).public_key()) == made.key_id


def test_key_files_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key = generate_key_file(path)
    with pytest.raises(CheckpointError, match="cannot create"):
        generate_key_file(path)  # never overwritten
    public = tmp_path / "pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert key_id_of(load_public_key(public)) == key_id_of(key.public_key())
    assert key_id_of(load_public_key(path)) == key_id_of(key.public_key())
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CheckpointError, match="not an Ed25519 key"):
        load_private_key(other)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(CheckpointError, match="not a PEM public key"):
        load_public_key(garbage)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")


def test_the_witness_reader_reports_damaged_lines(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.pem")
    good = sign(key, CHAIN, 3, "c" * 64, datetime(2025, 1, 1, tzinfo=UTC))
    path = tmp_path / "w.jsonl"
    lines = ["[1, 2]", "{not json", '{"type": "other"}', "", str(good.as_json()).replace("'", '"')]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    witness = read_witness(path)
    assert witness.checkpoints == (good,)
    assert [line.split(": ", 1)[0] for line in witness.unreadable] == [
        f"{path}:1",
        f"{path}:2",
        f"{path}:3",
    ]
    assert read_witness(tmp_path / "none.jsonl").checkpoints == ()


def test_a_concurrent_duplicate_checkpoint_is_not_an_error(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url)
    build_chain(factory, 2)
    with factory() as session:
        last = entry_at(session, 2)
    first = record_checkpoint(factory, settings, CHAIN, 2, last.hash)
    assert first is not None
    assert record_checkpoint(factory, settings, CHAIN, 2, last.hash) is None
    assert _stored(factory) == [(CHAIN, 2)]


def test_an_entry_slipped_in_past_the_head_is_never_signed(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = audit_settings(tmp_path, db_url)
    build_chain(factory, 3)
    with factory.begin() as session:
        session.add(forged(4, entry_at(session, 3).hash))
    (made,) = checkpoint_heads(factory, settings)
    assert made.seq == 3
    with factory() as session:
        last = entry_at(session, 3)
        earlier = entry_at(session, 2)
    assert made.hash == last.hash
    # A later checkpoint covers an earlier one: nothing more is signed.
    assert record_checkpoint(factory, settings, CHAIN, 2, earlier.hash) is None
