"""The ``panacea`` command line: demo, imports, listings, status changes, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from panacea.cli.main import main
from panacea.db.engine import create_db_engine
from panacea.identity.audit_records import AuditEntry
from tests.conftest import REPO, TEST_DATA

ORG = "Demo General Hospital"


@pytest.fixture(scope="module")
def demo_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    assert main(["--db", url, "demo", "--assets", "80", "--no-serve"]) == 0
    return url


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_demo_prints_inventory_and_findings(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", sqlite_url, "demo", "--assets", "70", "--seed", "2", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert f"{ORG}: 70 assets" in out
    assert "CVE-2017-0144" in out
    assert "KEV" in out


def test_assets_list_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(capsys, ["--db", demo_db, "assets", "list", "--org", ORG, "--format", "json"])
    assert document["schema"] == "panacea.assets/1"
    assets = {a["name"]: a for a in document["assets"]}  # type: ignore[attr-defined]
    assert len(assets) == 80
    db = assets["ehr-db-01"]
    assert db["zone"] == "clinical-lan"
    assert any(e["port"] == 445 and e["state"] == "open" for e in db["endpoints"])
    assert db["addresses"]
    assert isinstance(db["id"], int)


def test_findings_list_and_set_status(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--db", demo_db, "findings", "list", "--org", ORG, "--format", "json"]
    document = _json(capsys, argv)
    assert document["schema"] == "panacea.findings/1"
    findings = document["findings"]
    eternal = next(f for f in findings if f["cve"] == "CVE-2017-0144" and f["asset"] == "ehr-db-01")  # type: ignore[attr-defined]
    assert {"id", "cve", "asset", "status", "confidence"} <= set(eternal)
    fid = str(eternal["id"])
    assert (
        main(
            [
                "--db",
                demo_db,
                "findings",
                "set-status",
                fid,
                "--status",
                "accepted",
                "--reason",
                "isolated",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "approver" in err
    assert "Traceback" not in err
    assert (
        main(
            [
                "--db",
                demo_db,
                "findings",
                "set-status",
                fid,
                "--status",
                "accepted",
                "--reason",
                "EHR vendor certifies the patch in March",
                "--approver",
                "CISO",
                "--expires",
                "2099-03-31",
            ]
        )
        == 0
    )
    after = _json(capsys, [*argv])
    changed = next(f for f in after["findings"] if f["id"] == eternal["id"])  # type: ignore[attr-defined]
    assert changed["status"] == "accepted"
    assert changed["approver"] == "CISO"
    # The acceptance is in the audit log; the refused attempt before it left nothing there.
    engine = create_db_engine(demo_db)
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.via).where(
                AuditEntry.action == "risk.accepted"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("risk.accepted", f"finding:{fid}", "cli")]


def test_bad_import_is_one_line_on_stderr(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets:\n  - {name: a, zone: icu}\n")
    assert main(["--db", sqlite_url, "import", "inventory", str(bad), "--org", "X"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}: assets[0].zone (line 2): unknown zone 'icu'"


def test_console_script_exit_status_and_verbose(sqlite_url: str, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "panacea"
    assert script.exists(), "the package must be installed (pip install -e .)"
    missing = tmp_path / "missing.xml"
    quiet = subprocess.run(
        [str(script), "--db", sqlite_url, "import", "nmap", str(missing), "--org", "X"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert quiet.returncode == 1
    assert quiet.stderr.count("\n") == 1
    assert "missing.xml: cannot read" in quiet.stderr
    loud = subprocess.run(
        [
            str(script),
            "--db",
            sqlite_url,
            "--verbose",
            "import",
            "nmap",
            str(missing),
            "--org",
            "X",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loud.returncode != 0
    assert "Traceback" in loud.stderr


def test_unknown_organisation(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", demo_db, "assets", "list", "--org", "Nowhere"]) == 1
    assert "unknown organisation 'Nowhere'" in capsys.readouterr().err


def test_readme_quick_start_has_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert section.count("```bash") == 2
    assert (TEST_DATA.parent.parent / ".ci" / "run").stat().st_mode & 0o111


def test_expired_acceptance_reopens_at_the_next_import(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from panacea.db.engine import create_db_engine
    from panacea.findings.models import Finding

    argv = ["--db", demo_db, "findings", "list", "--org", ORG, "--format", "json"]
    target = _json(capsys, argv)["findings"][1]  # type: ignore[index]
    fid = str(target["id"])
    assert (
        main(
            [
                "--db",
                demo_db,
                "findings",
                "set-status",
                fid,
                "--status",
                "accepted",
                "--reason",
                "compensating control",
                "--approver",
                "CISO",
                "--expires",
                "2099-01-01",
            ]
        )
        == 0
    )
    engine = create_db_engine(demo_db)
    with engine.begin() as conn:  # time passes: the acceptance ends
        conn.execute(
            Finding.__table__.update()
            .where(Finding.id == int(fid))
            .values(accepted_until=datetime.now(UTC) - timedelta(days=1))
        )
    inventory = tmp_path / "empty.yaml"
    inventory.write_text("zones: []\n")
    assert main(["--db", demo_db, "import", "inventory", str(inventory), "--org", ORG]) == 0
    with engine.connect() as conn:
        status = conn.execute(select(Finding.status).where(Finding.id == int(fid))).scalar_one()
    engine.dispose()
    assert status == "open"
