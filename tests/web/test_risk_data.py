"""What the overview and the service view read, on the small documented hospital."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from panacea.api.context import AppContext
from panacea.identity.models import User
from panacea.identity.roles import Role
from panacea.identity.sessions import create_session
from panacea.risk.snapshot import RiskSnapshot, latest_snapshot, stored_document
from panacea.web.callers import WebCaller, WebSessionEndedError, resolve_caller
from panacea.web.risk_data import (
    DOCUMENTS,
    DocumentCache,
    dependency_tree,
    devices_at_risk,
    document_of,
    feed_freshness,
    internet_exposed_assets,
    known_document,
    medical_device_ids,
    overview_counts,
    ranked_services,
    reassess,
    service_in_document,
    service_labels,
    trend,
    why_line,
)
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, small_hospital
from tests.web.model_builds import count_model_builds


def _caller(world: ApiWorld, org: int, role: Role) -> WebCaller:
    user_id = world.user(f"{role.value}@hospital.example", {org: role})
    context = world.client.app.state.panacea  # type: ignore[attr-defined]
    assert isinstance(context, AppContext)
    with world.sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        _, token = create_session(s, user=user, assurance="mfa")
    with world.sessions() as db:
        caller = resolve_caller(db, context, token)
        db.commit()
    assert isinstance(caller, WebCaller)
    return caller


def test_reassess_stores_audits_and_keeps_the_document(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = _caller(api_world, org, Role.ANALYST)
    snapshot, document = reassess(analyst)
    assert DOCUMENTS.get(org, snapshot.id) is document
    (entry,) = audit_of(api_world, org, "assessment.run")
    assert entry.target == f"risk_snapshot:{snapshot.id}"
    assert entry.actor == analyst.email
    assert entry.details["client"] == "dashboard"
    with api_world.sessions() as db:
        stored = latest_snapshot(db, org)
        assert stored is not None
        assert stored.id == snapshot.id
        labels = service_labels(db, org)
        points = trend(db, org)
    # Ranked as the assessment ranks them: risk class, then expected loss.
    ranked = ranked_services(stored, labels)
    assert [s.key for s in ranked] == [s["key"] for s in document["services"]]
    assert ranked[0].name == labels[ranked[0].key].name
    assert [p.snapshot_id for p in points] == [snapshot.id]
    # A viewer may not assess: refused before anything is computed or written.
    with pytest.raises(WebSessionEndedError):
        reassess(_caller(api_world, org, Role.VIEWER))
    assert len(audit_of(api_world, org, "assessment.run")) == 1


def test_a_restarted_process_reads_the_document_stored_with_the_snapshot(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = small_hospital(api_world, "Hospital B")
    snapshot, kept = reassess(_caller(api_world, org, Role.SECURITY_LEAD))
    builds = count_model_builds(monkeypatch)
    # A restarted process (or another one: the API, the CLI) has no document in memory.
    DOCUMENTS.forget(org, snapshot.id)
    with api_world.sessions() as db:
        assert stored_document(db, org, snapshot.id) == json.loads(json.dumps(kept))
        known = known_document(db, snapshot)
    assert known == kept
    assert DOCUMENTS.get(org, snapshot.id) is known
    DOCUMENTS.forget(org, snapshot.id)
    assert document_of(api_world.sessions, snapshot) == kept
    assert builds == [], "the model was rebuilt although the snapshot stores its document"


def test_a_snapshot_stored_without_its_document_gets_it_recomputed(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = small_hospital(api_world, "Hospital B")
    snapshot, kept = reassess(_caller(api_world, org, Role.SECURITY_LEAD))
    # As a snapshot stored before migration 0005, in a process that never saw its document.
    with api_world.sessions.begin() as db:
        db.execute(update(RiskSnapshot).where(RiskSnapshot.id == snapshot.id).values(document=None))
    DOCUMENTS.forget(org, snapshot.id)
    builds = count_model_builds(monkeypatch)
    with api_world.sessions() as db:
        assert known_document(db, snapshot) is None
    recomputed = document_of(api_world.sessions, snapshot)
    assert len(builds) == 1
    assert DOCUMENTS.get(org, snapshot.id) is recomputed
    # Same model, same entries, same seed: the same figures as the snapshot stored.
    for service in recomputed["services"]:
        stored = snapshot.services[service["key"]]
        assert service["probability"] == pytest.approx(stored["probability"], abs=1e-4)
        assert service["risk_class"] == stored["risk_class"]
    assert recomputed["services"] == kept["services"]
    # Kept in memory, not written back: it describes today's model, not the one assessed.
    with api_world.sessions() as db:
        assert stored_document(db, org, snapshot.id) is None
    assert document_of(api_world.sessions, snapshot) is recomputed
    assert len(builds) == 1


def test_why_line_tells_the_most_likely_scenario(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital C")
    _, document = reassess(_caller(api_world, org, Role.ANALYST))
    ehr = service_in_document(document, "ehr")
    assert ehr is not None
    assert ehr["top_paths"], "the documented hospital has attack paths to the EHR"
    line = why_line(ehr)
    assert line.startswith("Most likely: ")
    top = ehr["top_paths"][0]
    last = top["steps"][-1]
    assert (last["cve"] or last["asset"] or last["account"]) in line
    assert line.endswith(f"({top['probability']:.0%})")
    assert why_line({"key": "x", "top_paths": []}) == "No attack path reaches it in the model."
    assert service_in_document(document, "no-such-service") is None


def test_counts_of_the_overview(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital D")
    _, document = reassess(_caller(api_world, org, Role.ANALYST))
    with api_world.sessions() as db:
        # vpn-gw-01 in the DMZ: port 443 open and allowed from the internet. Nothing else is
        # reachable from the internet directly.
        assert internet_exposed_assets(db, org) == 1
        devices = medical_device_ids(db, org)
        assert len(devices) == 1  # infusion-gw-01
        counts = overview_counts(db, org, document)
        without_document = overview_counts(db, org, None)
        feeds = feed_freshness(db)
    probability = next(a["probability"] for a in document["assets"] if a["id"] in devices)
    assert counts.medical_devices_at_risk == (1 if probability >= 0.3 else 0)
    # In this small hospital nothing reaches the infusion gateway: 0 at risk. The same
    # document with the gateway at 0.5 counts it (both sides of the rule are exercised).
    assert probability == 0.0
    assert counts.medical_devices_at_risk == 0
    raised = {
        **document,
        "assets": [
            {**a, "probability": 0.5} if a["id"] in devices else a for a in document["assets"]
        ],
    }
    assert devices_at_risk(raised, devices) == 1
    assert devices_at_risk(document, devices) == counts.medical_devices_at_risk
    assert without_document.medical_devices_at_risk is None
    assert counts.open_findings > 0
    assert 0 < counts.kev_findings <= counts.open_findings
    assert {f.name.lower() for f in feeds} >= {"nvd", "kev", "epss"}


def test_dependency_tree_of_a_service(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital E")
    with api_world.sessions() as db:
        tree = dependency_tree(db, org, "emergency_triage")
        assert dependency_tree(db, org, "no-such-service") is None
    assert tree is not None
    assert tree.label == "service Emergency department triage"
    labels = [c.label for c in tree.children]
    assert "service Electronic health record" in labels
    assert "redundancy group ed-workstations: 1 of 1 needed" in labels
    ehr = next(c for c in tree.children if c.label == "service Electronic health record")
    assert [c.label for c in ehr.children] == ["asset ehr-db-01 (needs CIA)"]
    as_dict = tree.as_tree()
    ids = []
    stack = [as_dict]
    while stack:
        node = stack.pop()
        ids.append(node["id"])
        stack.extend(node["children"])
    assert len(ids) == len(set(ids))  # ui.tree needs unique ids


def test_document_cache_drops_the_least_recently_used() -> None:
    cache = DocumentCache(size=2)
    cache.put(1, 1, {"n": 1})
    cache.put(1, 2, {"n": 2})
    assert cache.get(1, 1) == {"n": 1}  # now the most recent
    cache.put(2, 3, {"n": 3})
    assert cache.get(1, 2) is None
    assert cache.get(1, 1) == {"n": 1}
    assert cache.get(2, 3) == {"n": 3}
