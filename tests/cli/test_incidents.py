"""``panacea incidents``: record, list, show and export an incident as STIX, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from panacea.cli.main import main
from panacea.config import get_settings
from panacea.db.engine import create_db_engine
from panacea.identity.audit_records import AuditEntry
from panacea.identity.keys import Kek, write_kek_file
from panacea.inventory.service import get_organisation
from tests.sharing.incident_world import finding_id, hospital, with_kek
from tests.sharing.stix_checks import assert_valid, keep_validator_offline

ORG = "Hospital A"


@pytest.fixture(autouse=True)
def kek_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A configured KEK (PANACEA_KEK_FILE): exports create the signing and pseudonym keys."""
    keep_validator_offline(monkeypatch)
    path = tmp_path / "panacea.kek"
    write_kek_file(path, Kek.generate())
    monkeypatch.setenv("PANACEA_KEK_FILE", str(path))
    monkeypatch.delenv("PANACEA_KEK", raising=False)
    monkeypatch.delenv("PANACEA_DEMO_MODE", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def db(sqlite_url: str) -> str:
    engine = create_db_engine(sqlite_url)
    hospital(with_kek(sessionmaker(engine)), ORG)
    engine.dispose()
    return sqlite_url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out, err = _run(capsys, *argv)
    assert status == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def _audit(db: str, action: str) -> list[AuditEntry]:
    engine = create_db_engine(db)
    with sessionmaker(engine)() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    engine.dispose()
    return entries


def test_create_list_show_and_export(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_db_engine(db)
    with sessionmaker(engine)() as s:
        shared = finding_id(s, get_organisation(s, ORG).id, "CVE-2017-0144")
    engine.dispose()
    created = _json(
        capsys,
        *("--db", db, "incidents", "create", "--org", ORG),
        *("--title", "Ransomware on the PACS archive", "--detected-at", "2026-03-01T08:30"),
        *("--summary", "Dr. Maria Rossi could not read the MRI of the patient in bed 12."),
        *("--status", "contained", "--contained-at", "2026-03-01T17:30", "--severity", "high"),
        *("--asset-kind", "medical_device", "--service", "imaging"),
        *("--technique", "T1486", "--technique", "t1190"),
        *("--indicator", "ipv4:185.220.101.4", "--indicator", "url:https://evil.example/a:b"),
        *("--cve", "CVE-2022-2119", "--share-finding", str(shared), "--tlp", "green"),
        *("--actor", "lead@a", "--format", "json"),
    )
    assert created["schema"] == "panacea.incident/1"
    incident = created["incident"]
    assert [t["id"] for t in incident["techniques"]] == ["T1190", "T1486"]
    assert {(i["type"], i["value"]) for i in incident["indicators"]} == {
        ("ipv4", "185.220.101.4"),
        ("url", "https://evil.example/a:b"),
    }
    assert [s["key"] for s in incident["affected_services"]] == ["imaging"]
    assert (incident["tlp"], incident["created_by"]) == ("green", "lead@a")
    number = str(incident["id"])

    listed = _json(capsys, "--db", db, "incidents", "list", "--org", ORG, "--format", "json")
    assert [i["id"] for i in listed["incidents"]] == [incident["id"]]
    status, table, _ = _run(capsys, "--db", db, "incidents", "list", "--org", ORG)
    assert status == 0
    assert "Ransomware" in table
    shown = _json(capsys, "--db", db, "incidents", "show", number, "--org", ORG, "--format", "json")
    assert shown["incident"] == incident
    status, text, _ = _run(capsys, "--db", db, "incidents", "show", number, "--org", ORG)
    assert status == 0
    assert "T1486" in text

    out = tmp_path / "incident.json"
    status, _, err = _run(
        capsys, "--db", db, "incidents", "export-stix", number, "--org", ORG, "--out", str(out)
    )
    assert status == 0, err
    bundle = json.loads(out.read_text())
    assert_valid(bundle)
    assert "Maria Rossi" not in out.read_text()
    assert {o["name"] for o in bundle["objects"] if o["type"] == "vulnerability"} == {
        "CVE-2022-2119",
        "CVE-2017-0144",
    }
    raw = _json(capsys, "--db", db, "incidents", "export-stix", number, "--org", ORG, "--raw")
    assert "Maria Rossi" in json.dumps(raw)

    (entry,) = _audit(db, "incident.created")
    assert entry.via == "cli"
    assert entry.details["recorded_actor"] == "lead@a"
    assert entry.details["shared_findings"] == [shared]
    exports = _audit(db, "incident.exported")
    assert [(e.details["anonymised"], e.details["out"]) for e in exports] == [
        (True, str(out)),
        (False, "stdout"),
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--technique", "T9999"), "unknown ATT&CK technique T9999"),
        (("--indicator", "198.51.100.7"), "write TYPE:VALUE"),
        (("--indicator", "ipv4:not-an-ip"), "indicators[0]: 'not-an-ip' is not an IPv4 address"),
        (("--service", "bakery"), "no clinical service 'bakery' here"),
        (("--started-at", "yesterday"), "--started-at 'yesterday' is not a date"),
    ],
)
def test_refusals_name_what_is_wrong(
    db: str, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    status, _, err = _run(
        capsys,
        *("--db", db, "incidents", "create", "--org", ORG, "--title", "X"),
        *("--detected-at", "2026-03-01T08:30", *extra),
    )
    assert status == 1
    assert message in " ".join(err.split())
    assert _audit(db, "incident.created") == []
