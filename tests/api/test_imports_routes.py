"""Upload route: each importer through HTTP, one transaction, size limits, errors, scoping."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import UploadFile
from sqlalchemy import func, select

from panacea.api.problems import ProblemError
from panacea.config import Settings
from panacea.identity.roles import Role
from panacea.inventory.assets import Asset
from panacea.inventory.importers.registry import IMPORTERS
from panacea.inventory.imports_router import ImportKind, read_upload
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, problem, small_hospital
from tests.conftest import TEST_DATA, table_snapshot

UPLOAD_LIMIT = 64 * 1024
SCAN = TEST_DATA / "nmap_service_detection_localhost.xml"
# Zones the CMDB export refers to, as an inventory file would create them.
ZONES_YAML = b"""version: 1
zones:
  - {name: dmz, kind: dmz}
  - {name: clinical-lan, kind: clinical}
  - {name: medical-devices, kind: medical_devices}
"""


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    """The app of these tests accepts uploads up to UPLOAD_LIMIT bytes."""
    return Settings(
        database_url=db_url, demo_mode=True, data_dir=tmp_path, max_upload_bytes=UPLOAD_LIMIT
    )


def _upload(client: Any, org_id: int, kind: str, name: str, content: bytes, **form: str) -> Any:
    return client.post(
        f"/api/v1/orgs/{org_id}/imports",
        data={"kind": kind, **form},
        files={"file": (name, content, "application/octet-stream")},
    )


def _asset_count(world: ApiWorld, org_id: int) -> int:
    with world.sessions() as s:
        return int(s.scalar(select(func.count()).where(Asset.organisation_id == org_id)) or 0)


def test_kinds_are_the_importers() -> None:
    assert {k.value for k in ImportKind} == set(IMPORTERS)


def test_nmap_scan_is_imported_reported_and_audited(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    raw = SCAN.read_bytes()

    response = _upload(analyst, a, "nmap", "scans/" + SCAN.name, raw)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["kind"] == "nmap"
    assert report["source"] == SCAN.name  # no directory of the client's machine
    assert (report["records"], report["assets_added"], report["endpoints_added"]) == (1, 1, 3)
    assert report["sha256"] == hashlib.sha256(raw).hexdigest()
    assert report["bytes"] == len(raw)
    (asset_id,) = report["touched_asset_ids"]
    asset = analyst.get(f"/api/v1/orgs/{a}/assets/{asset_id}").json()
    assert [x["value"] for x in asset["addresses"]] == ["127.0.0.1"]
    (entry,) = audit_of(api_world, a, "import.completed")
    assert entry.actor == "an@a.example"
    assert entry.details["file"] == SCAN.name
    assert entry.details["sha256"] == report["sha256"]
    assert entry.details["assets_added"] == 1
    assert entry.details["endpoints_added"] == 3

    # A rescan of the same file changes nothing but is still a recorded import.
    again = _upload(analyst, a, "nmap", SCAN.name, raw).json()
    assert (again["assets_added"], again["endpoints_added"]) == (0, 0)
    assert len(audit_of(api_world, a, "import.completed")) == 2


def test_inventory_then_csv_then_sbom(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    operator = api_world.session_client(api_world.user("op@a.example", {a: Role.IT_OPERATOR}))
    zones = _upload(operator, a, "inventory", "zones.yaml", ZONES_YAML)
    assert zones.status_code == 200, zones.text
    csv = _upload(
        operator, a, "csv", "cmdb.csv", (TEST_DATA / "csv_assets_cmdb_export.csv").read_bytes()
    )
    assert csv.status_code == 200, csv.text
    assert (csv.json()["records"], csv.json()["assets_added"]) == (5, 5)

    sbom = (TEST_DATA / "cyclonedx_1_6_pacs_server.json").read_bytes()
    components = len(json.loads(sbom)["components"])
    response = _upload(operator, a, "sbom", "pacs.cdx.json", sbom, asset="pacs-01")
    assert response.status_code == 200, response.text
    assert response.json()["components_added"] >= components
    (pacs_id,) = response.json()["touched_asset_ids"]
    listed = operator.get(f"/api/v1/orgs/{a}/assets/{pacs_id}/components").json()["items"]
    assert len(listed) == response.json()["components_added"]
    assert [e.details["kind"] for e in audit_of(api_world, a, "import.completed")] == [
        "inventory",
        "csv",
        "sbom",
    ]


@pytest.mark.parametrize(
    ("kind", "fixture", "form", "expected"),
    [
        ("nmap", "nmap_billion_laughs.xml", {}, "nmap_billion_laughs.xml"),
        ("nmap", "nmap_external_entity.xml", {}, "nmap_external_entity.xml"),
        (
            "csv",
            "csv_assets_unknown_zone.csv",
            {},
            "csv_assets_unknown_zone.csv: line 2, column zone: unknown zone 'medical-devices'",
        ),
        ("sbom", "cyclonedx_1_6_pacs_server.json", {}, "give its name or id in 'asset'"),
        (
            "sbom",
            "cyclonedx_1_6_pacs_server.json",
            {"asset": "no-such-asset"},
            "unknown asset 'no-such-asset'",
        ),
        ("inventory", "nmap_service_detection_localhost.xml", {}, "nmap_service_detection"),
    ],
)
def test_bad_file_is_422_naming_it_and_changes_nothing(
    api_world: ApiWorld, kind: str, fixture: str, form: dict[str, str], expected: str
) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    before = table_snapshot(api_world.sessions, ignore=frozenset({"last_used_at"}))

    response = _upload(analyst, a, kind, fixture, (TEST_DATA / fixture).read_bytes(), **form)

    body = problem(response, 422)
    assert expected in body["detail"]
    assert body["type"] == "urn:panacea:problem:import-failed"
    assert body["file"] == fixture
    after = table_snapshot(api_world.sessions, ignore=frozenset({"last_used_at"}))
    # Only the session's own bookkeeping may move; the inventory and the audit log may not.
    changed = {t for t in before if before[t] != after[t]}
    assert changed <= {"user_session"}, changed


def test_size_limit_and_malformed_requests(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    big = (TEST_DATA / "cyclonedx_1_6_python_env_generated.json").read_bytes()
    assert len(big) > UPLOAD_LIMIT

    body = problem(_upload(analyst, a, "sbom", "env.json", big, asset="x"), 413)
    assert body["type"] == "urn:panacea:problem:too-large"
    problem(_upload(analyst, a, "spreadsheet", "x.xlsx", b"PK"), 422)
    problem(analyst.post(f"/api/v1/orgs/{a}/imports", data={"kind": "nmap"}), 422)
    assert _asset_count(api_world, a) == 0
    assert audit_of(api_world, a, "import.completed") == []


def test_read_upload_refuses_more_than_the_limit() -> None:
    assert read_upload(UploadFile(io.BytesIO(b"x" * 10)), 10) == b"x" * 10
    with pytest.raises(ProblemError) as caught:
        read_upload(UploadFile(io.BytesIO(b"x" * 11)), 10)
    assert caught.value.status == 413


def test_permission_and_other_organisations(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    raw = SCAN.read_bytes()

    assert problem(_upload(viewer, a, "nmap", SCAN.name, raw), 403)["type"].endswith(
        "permission-denied"
    )
    problem(_upload(analyst, b, "nmap", SCAN.name, raw), 404)
    assert _asset_count(api_world, a) == _asset_count(api_world, b) == 0
    # Imported into A, the scanned host is A's only.
    assert _upload(analyst, a, "nmap", SCAN.name, raw).status_code == 200
    assert (_asset_count(api_world, a), _asset_count(api_world, b)) == (1, 0)
