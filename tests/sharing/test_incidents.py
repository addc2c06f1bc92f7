"""Incident records (SQLite and PostgreSQL): every field checked and normalised, refusals that
name the field, updates that move ``updated_at`` only on change, and exports that keep their
ids, share findings only on opt-in and anonymise what leaves."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from panacea.risk.stored_plans import plans_query
from panacea.sharing import incidents
from panacea.sharing.errors import IncidentError, MarkingError, UnknownTechniqueError
from panacea.sharing.incident_vocabulary import IncidentStatus
from panacea.sharing.keys import organisation_identity
from panacea.sharing.tlp import Tlp
from tests.sharing.incident_world import (
    DETECTED,
    finding_id,
    hospital,
    ransomware,
    service_id,
    with_kek,
)
from tests.sharing.stix_checks import assert_valid, keep_validator_offline


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    keep_validator_offline(monkeypatch)


@pytest.fixture
def sessions(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    return with_kek(factory)


def _create(sessions: sessionmaker[Session], org: int, **changes: Any) -> int:
    with sessions.begin() as s:
        return incidents.create_incident(s, org, ransomware(**changes), actor="lead@a").id


def test_an_incident_is_recorded_checked_and_normalised(sessions: sessionmaker[Session]) -> None:
    org = hospital(sessions, "Hospital A")
    with sessions.begin() as s:
        imaging = service_id(s, org, "imaging")
        values = ransomware(affected_service_ids=[imaging], share_finding_ids=[])
        recorded = DETECTED + timedelta(days=1)
        incident = incidents.create_incident(s, org, values, actor="lead@a", now=recorded)
        assert incident.techniques == ["T1059.001", "T1190", "T1486"]
        assert incident.indicators == [
            {"type": "domain", "value": "update-check.example"},
            {"type": "ipv4", "value": "198.51.100.23"},
            {"type": "sha256", "value": "e3" * 32},
        ]
        assert incident.cves == ["CVE-2022-2119"]
        assert incident.affected_asset_kinds == ["medical_device", "server"]
        assert incident.affected_services == [
            {"id": imaging, "key": "imaging", "name": "Imaging and PACS"}
        ]
        assert (incident.tlp, incident.status, incident.created_by) == (
            "amber",
            "contained",
            "lead@a",
        )
        assert incident.created_at == incident.updated_at == recorded
        incident_id = incident.id
    with sessions() as s:
        stored = incidents.require_incident(s, org, incident_id)
        assert stored.detected_at == DETECTED
        assert stored.summary.startswith("Encrypted images; Dr. Maria Rossi")


def test_defaults_are_an_open_suspected_medium_amber_strict_incident(
    sessions: sessionmaker[Session],
) -> None:
    org = hospital(sessions, "Hospital A")
    with sessions.begin() as s:
        incident = incidents.create_incident(
            s, org, {"title": "Odd logons", "detected_at": DETECTED}, actor="an@a"
        )
        assert (incident.status, incident.severity, incident.determination, incident.tlp) == (
            "open",
            "medium",
            "suspected",
            "amber+strict",
        )
        assert incident.share_finding_ids == []


REFUSALS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"techniques": ["T1486", "T9999"]}, UnknownTechniqueError, "T9999"),
    ({"techniques": ["T1086"]}, UnknownTechniqueError, "T1086 .* is revoked"),
    (
        {"indicators": [{"type": "ipv4", "value": "10.0.0.300"}]},
        IncidentError,
        r"indicators\[0\]",
    ),
    ({"indicators": [{"type": "ipv4"}]}, IncidentError, r"indicators\[0\]: expected"),
    ({"cves": ["CVE-2024-01234"]}, IncidentError, "cves: 'CVE-2024-01234' is not a CVE id"),
    ({"affected_asset_kinds": ["toaster"]}, IncidentError, "affected_asset_kinds: 'toaster'"),
    ({"status": "done"}, IncidentError, "status: 'done' is not one of"),
    ({"tlp": "white"}, MarkingError, "unknown TLP level 'white'"),
    ({"title": "  "}, IncidentError, "title: must not be empty"),
    ({"title": "a\x00b"}, IncidentError, "title: control characters"),
    ({"title": None}, IncidentError, "title: required"),
    ({"summary": "x" * 20_001}, IncidentError, "summary: at most 20000 characters"),
    ({"colour": "red"}, IncidentError, "colour: not a field of an incident"),
    ({"detected_at": DETECTED.replace(tzinfo=None)}, IncidentError, "with a time zone"),
    ({"detected_at": DETECTED + timedelta(days=3650)}, IncidentError, "is in the future"),
    ({"started_at": DETECTED + timedelta(hours=1)}, IncidentError, "cannot start after"),
    ({"contained_at": DETECTED - timedelta(days=4)}, IncidentError, "before it started"),
    ({"contained_at": None}, IncidentError, "contained_at: required once the status is"),
    ({"affected_service_ids": [999_999]}, IncidentError, "no clinical service 999999 here"),
    ({"share_finding_ids": [999_999]}, IncidentError, "no finding 999999 here"),
    ({"share_finding_ids": [True]}, IncidentError, "True is not an id"),
    ({"mitigation_plan_id": 999_999}, IncidentError, "no mitigation plan 999999 here"),
    ({"techniques": ["T1486"] * 101}, IncidentError, "techniques: at most 100 items"),
]


def test_refusals_name_the_field_and_the_value(sessions: sessionmaker[Session]) -> None:
    org = hospital(sessions, "Hospital A")
    for changes, error, message in REFUSALS:
        with sessions() as s, pytest.raises(error, match=message):
            incidents.create_incident(s, org, ransomware(**changes), actor="lead@a")
    with sessions() as s:
        assert incidents.list_incidents(s, org) == []


def test_another_organisations_services_findings_and_plans_are_unknown(
    sessions: sessionmaker[Session],
) -> None:
    a = hospital(sessions, "Hospital A")
    b = hospital(sessions, "Hospital B", plan=True)
    with sessions() as s:
        theirs = {
            "affected_service_ids": [service_id(s, b, "ehr")],
            "share_finding_ids": [finding_id(s, b, "CVE-2017-0144")],
            "mitigation_plan_id": s.scalars(plans_query(b)).one().id,
        }
    for name, value in theirs.items():
        with sessions.begin() as s, pytest.raises(IncidentError, match=f"{name}: no "):
            incidents.create_incident(s, a, ransomware(**{name: value}), actor="lead@a")
    incident = _create(sessions, b)
    with sessions() as s:
        assert incidents.incident_in(s, a, incident) is None
        with pytest.raises(IncidentError, match=f"no incident {incident}"):
            incidents.update_incident(s, a, incident, {"status": "closed"})


def test_updates_change_what_they_name_and_move_updated_at_only_then(
    sessions: sessionmaker[Session],
) -> None:
    org = hospital(sessions, "Hospital A")
    incident_id = _create(sessions, org)
    with sessions.begin() as s:
        before = incidents.require_incident(s, org, incident_id).updated_at
        # The same moment as the last change: still a millisecond later, as STIX needs.
        incident, changed = incidents.update_incident(
            s, org, incident_id, {"status": "resolved", "techniques": ["T1486"]}, now=before
        )
        assert changed == ["status", "techniques"]
        assert incident.updated_at == before + timedelta(milliseconds=1)
        moved = incident.updated_at
        _, changed = incidents.update_incident(
            s, org, incident_id, {"status": "resolved", "cves": ["CVE-2022-2119"]}
        )
        assert changed == []
        assert incident.updated_at == moved
        with pytest.raises(IncidentError, match="contained_at: required"):
            incidents.update_incident(s, org, incident_id, {"contained_at": None, "title": "X"})
        # A refused update leaves the incident as it was.
        assert (incident.title, incident.contained_at) == (
            "Ransomware on the PACS archive",
            DETECTED + timedelta(hours=9),
        )
        _, changed = incidents.update_incident(s, org, incident_id, {"started_at": None})
        assert changed == ["started_at"]
    with sessions() as s:
        assert incidents.require_incident(s, org, incident_id).started_at is None


def test_listing_filters_by_status_and_deleting_removes(sessions: sessionmaker[Session]) -> None:
    org = hospital(sessions, "Hospital A")
    first = _create(sessions, org)
    second = _create(
        sessions, org, status="open", contained_at=None, detected_at=DETECTED + timedelta(hours=1)
    )
    with sessions() as s:
        assert [i.id for i in incidents.list_incidents(s, org)] == [second, first]
        assert [i.id for i in incidents.list_incidents(s, org, [IncidentStatus.OPEN])] == [second]
    with sessions.begin() as s:
        incidents.delete_incident(s, org, first)
    with sessions() as s:
        assert incidents.incident_in(s, org, first) is None
        with pytest.raises(IncidentError, match=f"no incident {first}"):
            incidents.delete_incident(s, org, first)


def _kinds(bundle: dict[str, Any]) -> Counter[str]:
    return Counter(o["type"] for o in bundle["objects"])


def test_the_export_is_valid_stable_and_shares_findings_only_on_opt_in(
    sessions: sessionmaker[Session],
) -> None:
    org = hospital(sessions, "Hospital A", plan=True)
    with sessions() as s:
        plan = s.scalars(plans_query(org)).one().id
        shared = finding_id(s, org, "CVE-2022-2120")
    incident_id = _create(sessions, org, mitigation_plan_id=plan)
    with sessions.begin() as s:
        private = incidents.export_incident(s, org, incident_id, anonymise=False)
        identity = organisation_identity(s, org)
    assert_valid(private)
    assert {o["name"] for o in private["objects"] if o["type"] == "vulnerability"} == {
        "CVE-2022-2119"
    }
    assert _kinds(private)["course-of-action"] == 5  # the plan's five mitigations
    publisher = next(o for o in private["objects"] if o["id"] == identity)
    assert publisher["name"] == "Hospital A"
    assert all(
        o["object_marking_refs"] == [Tlp.AMBER.marking_id]
        for o in private["objects"]
        if o.get("created_by_ref") == identity
    )

    with sessions.begin() as s:
        incidents.update_incident(s, org, incident_id, {"share_finding_ids": [shared]})
    with sessions.begin() as s:
        opted_in = incidents.export_incident(s, org, incident_id, anonymise=False)
        again = incidents.export_incident(s, org, incident_id, anonymise=False)
    assert json.dumps(opted_in, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert_valid(opted_in)
    vulnerabilities = {
        o["name"]: o["id"] for o in opted_in["objects"] if o["type"] == "vulnerability"
    }
    assert set(vulnerabilities) == {"CVE-2022-2119", "CVE-2022-2120"}
    sighted = [o for o in opted_in["objects"] if o["type"] == "sighting"]
    assert [s["sighting_of_ref"] for s in sighted if s["sighting_of_ref"].startswith("vuln")] == [
        vulnerabilities["CVE-2022-2120"]
    ]
    mitigates = {
        o["target_ref"]
        for o in opted_in["objects"]
        if o["type"] == "relationship" and o["relationship_type"] == "mitigates"
    }
    assert mitigates == set(vulnerabilities.values())  # both CVEs have a patch in the plan
    # Same incident, same ids; the versions moved with the update.
    before = {o["id"]: o for o in private["objects"]}
    incident_before = next(o for o in private["objects"] if o["type"] == "incident")
    incident_after = next(o for o in opted_in["objects"] if o["type"] == "incident")
    assert incident_after["id"] == incident_before["id"]
    assert incident_after["modified"] > incident_before["modified"]
    assert set(before) <= {o["id"] for o in opted_in["objects"]}


def test_the_export_is_anonymised_by_default(sessions: sessionmaker[Session]) -> None:
    org = hospital(sessions, "Hospital A")
    public = {"type": "ipv4", "value": "185.220.101.4"}
    incident_id = _create(
        sessions,
        org,
        lessons="Call Dr. Maria Rossi before restoring ehr-db-01.",
        indicators=[*ransomware()["indicators"], public],
    )
    with sessions.begin() as s:
        raw = json.dumps(incidents.export_incident(s, org, incident_id, anonymise=False))
        shared = incidents.export_incident(s, org, incident_id)
        hidden = incidents.export_incident(s, org, incident_id, hide_organisation=True)
    assert "Maria Rossi" in raw
    text = json.dumps(shared)
    assert "Maria Rossi" not in text
    assert "ehr-db-01" not in text
    assert "[person-" in text
    assert "Hospital A" in text  # its own name, unless asked to hide it
    assert "Hospital A" not in json.dumps(hidden)
    assert "[ipv4-addr:value = '185.220.101.4']" in text  # a public indicator survives
    assert "198.51.100.23" not in text  # a documentation (non-global) address does not
    assert_valid(shared)
    assert_valid(hidden)
    # Pseudonyms are stable: exporting again gives the same bundle.
    with sessions.begin() as s:
        assert incidents.export_incident(s, org, incident_id) == shared
