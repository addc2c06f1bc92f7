"""Incident routes: CRUD by the roles that may, audit entries without patient data, 404 across
organisations, cursor pages, refusals as problems, and the STIX bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.roles import Role
from panacea.sharing.incident_router import STIX_MEDIA_TYPE
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, problem, small_hospital, walk
from tests.sharing.incident_world import finding_id, service_id
from tests.sharing.stix_checks import assert_valid, keep_validator_offline

BODY: dict[str, Any] = {
    "title": "Ransomware on the PACS archive",
    "summary": "Dr. Maria Rossi could not read the MRI of the patient in bed 12.",
    "status": "contained",
    "severity": "critical",
    "determination": "successful-attempt",
    "detected_at": "2026-03-01T08:30:00Z",
    "started_at": "2026-02-26T08:30:00+01:00",
    "contained_at": "2026-03-01T17:30:00Z",
    "affected_asset_kinds": ["medical_device"],
    "techniques": ["T1486", "t1190"],
    "indicators": [{"type": "ipv4", "value": "185.220.101.4"}],
    "cves": ["CVE-2022-2119"],
    "lessons": "Segment the PACS.",
    "tlp": "amber",
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    keep_validator_offline(monkeypatch)


@pytest.fixture
def api_world(db_url: str, tmp_path: Path) -> Iterator[ApiWorld]:
    """The app on a fresh database, as tests/api's fixture of the same name builds it."""
    settings = Settings(database_url=db_url, demo_mode=True, data_dir=tmp_path)
    engine = create_db_engine(db_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = create_app(settings, sessions=sessions)
    with TestClient(app, base_url="http://localhost:8000") as client:
        yield ApiWorld(client=client, sessions=sessions, settings=settings)
    engine.dispose()


def _url(org_id: int, suffix: str = "") -> str:
    return f"/api/v1/orgs/{org_id}/incidents{suffix}"


def test_analysts_record_change_and_delete_incidents_and_each_change_is_audited(
    api_world: ApiWorld,
) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    with api_world.sessions() as s:
        imaging = service_id(s, a, "imaging")
    created = analyst.post(_url(a), json={**BODY, "affected_service_ids": [imaging]})
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["techniques"] == [
        {"id": "T1190", "name": "Exploit Public-Facing Application"},
        {"id": "T1486", "name": "Data Encrypted for Impact"},
    ]
    assert incident["indicators"] == [
        {
            "type": "ipv4",
            "value": "185.220.101.4",
            "pattern": "[ipv4-addr:value = '185.220.101.4']",
        }
    ]
    assert incident["affected_services"] == [
        {"id": imaging, "key": "imaging", "name": "Imaging and PACS"}
    ]
    assert incident["started_at"] == "2026-02-26T07:30:00Z"
    assert incident["created_by"] == "an@a.example"
    url = _url(a, f"/{incident['id']}")
    assert analyst.get(url).json() == incident

    changed = analyst.patch(url, json={"status": "closed", "started_at": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["started_at"]) == ("closed", None)
    assert changed.json()["updated_at"] > incident["updated_at"]
    unchanged = analyst.patch(url, json={"status": "closed"})
    assert unchanged.json()["updated_at"] == changed.json()["updated_at"]

    (entry,) = audit_of(api_world, a, "incident.created")
    assert entry.target == f"incident:{incident['id']}"
    assert entry.actor == "an@a.example"
    assert entry.details == {
        "status": "contained",
        "severity": "critical",
        "tlp": "amber",
        "shared_findings": [],
    }
    (update,) = audit_of(api_world, a, "incident.updated")  # the no-op PATCH is not an update
    assert update.details["fields"] == ["status", "started_at"]
    for logged in (entry, update):
        text = json.dumps(logged.details)
        assert "Rossi" not in text
        assert "PACS" not in text

    assert analyst.delete(url).status_code == 204
    problem(analyst.get(url), 404)
    problem(analyst.delete(url), 404)
    assert [e.target for e in audit_of(api_world, a, "incident.deleted")] == [
        f"incident:{incident['id']}"
    ]


def test_who_may_read_and_who_may_write(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    lead = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    incident = lead.post(_url(a), json=BODY).json()
    auditor = api_world.session_client(api_world.user("au@a.example", {a: Role.AUDITOR}))
    assert auditor.get(_url(a, f"/{incident['id']}")).status_code == 200
    assert problem(auditor.post(_url(a), json=BODY), 403)["type"].endswith("permission-denied")
    assert problem(auditor.patch(_url(a, f"/{incident['id']}"), json={}), 403)
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    problem(viewer.get(_url(a)), 403)
    operator = api_world.session_client(api_world.user("op@a.example", {a: Role.IT_OPERATOR}))
    problem(operator.get(_url(a, f"/{incident['id']}/stix")), 403)


def test_another_organisations_incident_is_not_found(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    lead_a = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    lead_b = api_world.session_client(api_world.user("lead@b.example", {b: Role.SECURITY_LEAD}))
    incident = lead_a.post(_url(a), json=BODY).json()["id"]
    for method, suffix in (
        ("GET", f"/{incident}"),
        ("PATCH", f"/{incident}"),
        ("DELETE", f"/{incident}"),
        ("GET", f"/{incident}/stix"),
    ):
        problem(lead_b.request(method, _url(b, suffix), json={}), 404)
        problem(lead_b.request(method, _url(a, suffix), json={}), 404)
    assert lead_b.get(_url(b)).json() == {"items": [], "next": None}
    assert lead_a.get(_url(a, f"/{incident}")).status_code == 200


def test_pages_and_status_filter(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    lead = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    ids = []
    for n in range(5):
        body = {**BODY, "title": f"Incident {n}"}
        if n % 2:
            body = {**body, "status": "open", "contained_at": None}
        ids.append(lead.post(_url(a), json=body).json()["id"])
    assert [i["id"] for i in walk(lead, _url(a), limit=2)] == ids
    assert [i["id"] for i in walk(lead, _url(a), limit=2, status="open")] == ids[1::2]
    both = walk(lead, _url(a), limit=10, status=["open", "contained"])
    assert [i["id"] for i in both] == ids


REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"techniques": ["T9999"]}, "unknown ATT&CK technique T9999"),
    ({"techniques": ["T1086"]}, "T1086 (PowerShell) is revoked"),
    ({"indicators": [{"type": "url", "value": "evil.example"}]}, "indicators[0]"),
    ({"contained_at": None}, "contained_at: required once the status is contained"),
    ({"share_finding_ids": [999999]}, "no finding 999999 here"),
    ({"colour": "red"}, "colour"),
    ({"detected_at": "2026-03-01T08:30:00"}, "detected_at"),
    ({"title": None}, "title"),
]


def test_refusals_are_problems_naming_the_field(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    lead = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    for change, detail in REFUSALS:
        found = problem(lead.post(_url(a), json={**BODY, **change}), 422)["detail"]
        assert detail in found, (change, found)
    assert lead.get(_url(a)).json()["items"] == []


def test_the_stix_bundle_is_anonymised_valid_and_its_export_audited(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    lead = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    with api_world.sessions() as s:
        shared = finding_id(s, a, "CVE-2017-0144")
    incident = lead.post(_url(a), json={**BODY, "share_finding_ids": [shared]}).json()
    response = lead.get(_url(a, f"/{incident['id']}/stix"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == STIX_MEDIA_TYPE
    bundle = response.json()
    assert_valid(bundle)
    text = json.dumps(bundle)
    assert "Maria Rossi" not in text
    assert "185.220.101.4" in text
    names = {o["name"] for o in bundle["objects"] if o["type"] == "vulnerability"}
    assert names == {"CVE-2022-2119", "CVE-2017-0144"}
    assert "Hospital A" in text
    hidden = lead.get(_url(a, f"/{incident['id']}/stix"), params={"hide_organisation": True})
    assert "Hospital A" not in hidden.text
    raw = lead.get(_url(a, f"/{incident['id']}/stix"), params={"anonymise": False}).json()
    assert "Maria Rossi" in json.dumps(raw)
    assert [o["id"] for o in raw["objects"]] == [o["id"] for o in bundle["objects"]]

    entries = audit_of(api_world, a, "incident.exported")
    assert [(e.details["anonymised"], e.details["organisation_hidden"]) for e in entries] == [
        (True, False),
        (True, True),
        (False, False),
    ]
    assert entries[0].details["shared_findings"] == [shared]
    assert entries[0].details["objects"] == len(bundle["objects"])
    assert entries[0].details["bundle"] == bundle["id"]
