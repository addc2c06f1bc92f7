"""Risk routes on the small documented hospital: assessments and snapshots, scenarios, plans,
the board report; permissions, audit entries and another organisation's results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from panacea.identity.roles import Role
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.parameters import ENTRY_PROFILES
from panacea.risk.schemas import EntryProfile
from panacea.risk.service import service_scenarios
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, problem, small_hospital, walk

# Phishing: the documented hospital has no attack path from the internet alone.
FAST: dict[str, Any] = {"entries": ["phishing"], "trials": 256, "scenarios": 2}


def _url(org_id: int, suffix: str) -> str:
    return f"/api/v1/orgs/{org_id}/risk{suffix}"


def test_entry_profiles_are_the_engines() -> None:
    assert tuple(p.value for p in EntryProfile) == ENTRY_PROFILES


def test_assessment_is_stored_audited_and_becomes_the_latest(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    problem(analyst.get(_url(a, "/latest")), 404)

    response = analyst.post(_url(a, "/assessments"), json=FAST)

    assert response.status_code == 201, response.text
    out = response.json()
    document = out["document"]
    assert document["schema"] == "panacea.assessment/1"
    assert document["entries"] == ["phishing"]
    assert document["trials"] == 256
    assert {s["key"] for s in document["services"]} == {
        "ehr",
        "imaging",
        "emergency_triage",
        "infusion_therapy",
    }
    ehr = next(s for s in document["services"] if s["key"] == "ehr")
    assert ehr["probability"] > 0
    assert 1 <= len(ehr["top_paths"]) <= 2
    assert ehr["risk"]["class"] == ehr["risk_class"]
    latest = analyst.get(_url(a, "/latest")).json()
    assert latest["id"] == out["snapshot_id"]
    assert latest["entries"] == ["phishing"]
    assert latest["total_expected_loss"] == pytest.approx(document["total_expected_loss"], abs=0.01)
    assert latest["services"]["ehr"]["risk_class"] == ehr["risk_class"]
    (entry,) = audit_of(api_world, a, "assessment.run")
    assert entry.target == f"risk_snapshot:{out['snapshot_id']}"
    assert (entry.details["entries"], entry.details["trials"]) == (["phishing"], 256)

    problem(analyst.post(_url(a, "/assessments"), json={"entries": ["martians"]}), 422)
    problem(analyst.post(_url(a, "/assessments"), json={"entries": []}), 422)
    problem(analyst.post(_url(a, "/assessments"), json={"trials": 10**6}), 422)
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    problem(viewer.post(_url(a, "/assessments"), json=FAST), 403)
    assert viewer.get(_url(a, "/latest")).json() == latest
    assert len(audit_of(api_world, a, "assessment.run")) == 1


def test_snapshots_over_time_page_in_order(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    made = [
        analyst.post(_url(a, "/assessments"), json=dict(FAST, seed=seed)).json()["snapshot_id"]
        for seed in range(3)
    ]
    snapshots = walk(analyst, _url(a, "/snapshots"), limit=2)
    assert [s["id"] for s in snapshots] == made
    times = [datetime.fromisoformat(s["generated_at"]) for s in snapshots]
    assert times == sorted(times)
    assert analyst.get(_url(a, f"/snapshots/{made[1]}")).json() == snapshots[1]
    later = (times[-1] + timedelta(seconds=1)).isoformat()
    assert analyst.get(_url(a, "/snapshots"), params={"since": later}).json()["items"] == []
    earlier = (times[0] - timedelta(days=1)).isoformat()
    assert len(analyst.get(_url(a, "/snapshots"), params={"since": earlier}).json()["items"]) == 3
    problem(analyst.get(_url(a, "/snapshots"), params={"since": "2026-01-01T00:00:00"}), 422)


def test_scenarios_of_a_service_are_ranked_and_not_stored(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    params = {"entry": "phishing", "k": 3, "trials": 256}

    items = walk(viewer, _url(a, "/services/ehr/scenarios"), 1, **params)

    with api_world.sessions() as s:
        options = AssessmentOptions(entries=("phishing",), trials=256, scenarios=3)
        expected = service_scenarios(s, a, "ehr", options)
    assert expected is not None
    assert [i["rank"] for i in items] == list(range(1, len(expected["top_paths"]) + 1))
    assert [{k: v for k, v in i.items() if k != "rank"} for i in items] == expected["top_paths"]
    probabilities = [i["probability"] for i in items]
    assert probabilities == sorted(probabilities, reverse=True)
    first = items[0]["steps"]
    assert [(x["action"], x["asset"]) for x in first[:2]] == [
        ("entry", None),
        ("lure", "ws-ed-001"),
    ]
    assert first[-1]["asset"] == "ehr-db-01"
    problem(viewer.get(_url(a, "/services/nope/scenarios"), params=params), 404)
    problem(viewer.get(_url(a, "/latest")), 404)  # nothing was stored


def test_plans_are_created_stored_and_readable_by_everyone(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    fast = {"entries": ["phishing"], "trials": 256}

    budget = analyst.post(_url(a, "/plans"), json=dict(fast, budget=1000))
    cut = analyst.post(_url(a, "/plans"), json=dict(fast, cut="ehr"))

    assert budget.status_code == cut.status_code == 201, (budget.text, cut.text)
    plan = budget.json()
    document = plan["document"]
    assert document["schema"] == "panacea.plan/1"
    assert (document["mode"], document["organisation"], document["budget"]) == (
        "budget",
        "Hospital A",
        1000,
    )
    assert document["mitigations"]
    assert plan["total_cost"] == document["total_cost"] <= 1000
    assert document["risk_after"] < document["risk_before"]
    assert plan["created_by"] == "an@a.example"
    assert (cut.json()["mode"], cut.json()["service"]) == ("cut", "ehr")

    listed = walk(viewer, _url(a, "/plans"), limit=1)
    assert [p["id"] for p in listed] == [plan["id"], cut.json()["id"]]
    assert viewer.get(_url(a, f"/plans/{plan['id']}")).json() == plan
    entries = audit_of(api_world, a, "plan.created")
    assert [e.target for e in entries] == [
        f"risk_plan:{plan['id']}",
        f"risk_plan:{cut.json()['id']}",
    ]
    assert entries[0].details["total_cost"] == plan["total_cost"]

    problem(viewer.post(_url(a, "/plans"), json=dict(fast, budget=10)), 403)
    problem(analyst.post(_url(a, "/plans"), json=fast), 422)
    problem(analyst.post(_url(a, "/plans"), json=dict(fast, budget=10, cut="ehr")), 422)
    assert (
        "known:"
        in problem(analyst.post(_url(a, "/plans"), json=dict(fast, cut="nope")), 422)["detail"]
    )
    assert len(audit_of(api_world, a, "plan.created")) == 2


@pytest.mark.parametrize(
    ("output", "media_type", "start"),
    [
        ("markdown", "text/markdown", "# Cyber risk to clinical services: Hospital A"),
        ("html", "text/html", "<!doctype html>"),
    ],
)
def test_board_report_is_a_download_and_audited(
    api_world: ApiWorld, output: str, media_type: str, start: str
) -> None:
    a = small_hospital(api_world, "Hospital A")
    auditor = api_world.session_client(api_world.user("au@a.example", {a: Role.AUDITOR}))
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))

    response = auditor.get(
        _url(a, "/report"), params={"format": output, "budget": 1000, "entry": "phishing"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.text.startswith(start)
    assert "Electronic health record" in response.text
    (entry,) = audit_of(api_world, a, "report.exported")
    assert (entry.details["format"], entry.details["budget"]) == (output, 1000)
    # The report assessed the hospital: its snapshot is the latest result now.
    assert auditor.get(_url(a, "/latest")).json()["entries"] == ["phishing"]
    problem(viewer.get(_url(a, "/report")), 403)


def test_other_organisations_results_are_404_and_never_listed(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    b = small_hospital(api_world, "Hospital B")
    lead_a = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    lead_b = api_world.session_client(api_world.user("lead@b.example", {b: Role.SECURITY_LEAD}))
    fast_plan = {"entries": ["phishing"], "trials": 256, "budget": 500}
    snapshot_b = lead_b.post(_url(b, "/assessments"), json=FAST).json()["snapshot_id"]
    plan_b = lead_b.post(_url(b, "/plans"), json=fast_plan).json()["id"]
    snapshot_a = lead_a.post(_url(a, "/assessments"), json=FAST).json()["snapshot_id"]
    plan_a = lead_a.post(_url(a, "/plans"), json=fast_plan).json()["id"]

    assert [s["id"] for s in walk(lead_a, _url(a, "/snapshots"), 10)] == [snapshot_a]
    assert [p["id"] for p in walk(lead_a, _url(a, "/plans"), 10)] == [plan_a]
    assert lead_a.get(_url(a, "/latest")).json()["id"] == snapshot_a
    problem(lead_a.get(_url(a, f"/snapshots/{snapshot_b}")), 404)
    problem(lead_a.get(_url(a, f"/plans/{plan_b}")), 404)
    for path in ("/latest", "/snapshots", "/plans", "/services/ehr/scenarios"):
        problem(lead_a.get(_url(b, path)), 404)
    problem(lead_a.post(_url(b, "/assessments"), json=FAST), 404)
    assert [e.organisation_id for e in audit_of(api_world, b, "assessment.run")] == [b]
    assert datetime.now(UTC) > datetime.fromisoformat(
        lead_b.get(_url(b, f"/snapshots/{snapshot_b}")).json()["generated_at"]
    )
