"""Findings routes: filters against the service's own list, cursors, triage, risk acceptance,
their audit entries, and another organisation's findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from panacea.findings.views import FindingView, list_findings
from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, problem, small_hospital, walk


def _url(org_id: int, suffix: str = "") -> str:
    return f"/api/v1/orgs/{org_id}/findings{suffix}"


def _service_view(world: ApiWorld, org_id: int) -> list[FindingView]:
    with world.sessions() as s:
        return list_findings(s, org_id)


def _ids(client: Any, org_id: int, **params: Any) -> set[int]:
    response = client.get(_url(org_id), params=params)
    assert response.status_code == 200, response.text
    return {f["id"] for f in response.json()["items"]}


def test_filters_select_what_the_service_list_says(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    client = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    views = _service_view(api_world, a)
    assert len(views) == 15
    ehr = next(v.asset_id for v in views if v.asset == "ehr-db-01")

    assert _ids(client, a) == {v.id for v in views}
    assert _ids(client, a, kev=True) == {v.id for v in views if v.kev}
    assert len(_ids(client, a, kev=True)) == 12
    assert _ids(client, a, min_cvss=9.5) == {v.id for v in views if (v.cvss or 0) >= 9.5}
    assert _ids(client, a, severity="critical") == {v.id for v in views if (v.cvss or 0) >= 9}
    high = {v.id for v in views if v.cvss is not None and 7 <= v.cvss < 9}
    assert _ids(client, a, severity="high") == high
    assert _ids(client, a, severity=["high", "low"]) == high
    assert _ids(client, a, asset_id=ehr) == {v.id for v in views if v.asset_id == ehr}
    assert _ids(client, a, cve="cve-2017-0144") == {v.id for v in views if v.cve == "CVE-2017-0144"}
    assert _ids(client, a, confidence="confirmed") == {
        v.id for v in views if v.confidence == "confirmed"
    }
    assert _ids(client, a, status="accepted") == set()
    assert _ids(client, a, kev=True, asset_id=ehr, severity="critical") == {
        v.id for v in views if v.kev and v.asset_id == ehr and (v.cvss or 0) >= 9
    }
    problem(client.get(_url(a), params={"cve": "log4shell"}), 422)
    problem(client.get(_url(a), params={"min_cvss": 11}), 422)

    by_id = {v.id: v for v in views}
    for item in walk(client, _url(a), limit=4):
        view = by_id[item["id"]]
        assert (item["cve"], item["asset"], item["cvss"], item["kev"], item["epss"]) == (
            view.cve,
            view.asset,
            view.cvss,
            view.kev,
            view.epss,
        )
    assert [f["id"] for f in walk(client, _url(a), limit=4)] == sorted(by_id)


def test_triage_changes_status_with_history_and_audit(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    auditor = api_world.session_client(api_world.user("au@a.example", {a: Role.AUDITOR}))
    finding = _service_view(api_world, a)[0]
    url = _url(a, f"/{finding.id}")

    response = analyst.post(
        f"{url}/status", json={"status": "false_positive", "reason": "service not exposed"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "false_positive"
    assert response.json()["status_reason"] == "service not exposed"
    assert analyst.get(url).json() == response.json()
    (change,) = analyst.get(f"{url}/history").json()["items"]
    assert (change["old_status"], change["new_status"], change["actor"]) == (
        "open",
        "false_positive",
        "an@a.example",
    )
    (entry,) = audit_of(api_world, a, "finding.status_changed")
    assert entry.target == f"finding:{finding.id}"
    assert entry.details == {
        "cve": finding.cve,
        "old": "open",
        "new": "false_positive",
        "reason": "service not exposed",
    }
    assert _ids(analyst, a, status="false_positive") == {finding.id}

    # Refused: accepting through triage, no reason, a blank reason, an auditor (read only).
    problem(analyst.post(f"{url}/status", json={"status": "accepted", "reason": "x"}), 422)
    problem(analyst.post(f"{url}/status", json={"status": "open"}), 422)
    assert (
        "reason"
        in problem(analyst.post(f"{url}/status", json={"status": "open", "reason": "   "}), 422)[
            "detail"
        ]
    )
    problem(auditor.post(f"{url}/status", json={"status": "open", "reason": "x"}), 403)
    assert analyst.get(url).json()["status"] == "false_positive"
    assert len(audit_of(api_world, a, "finding.status_changed")) == 1


def test_risk_acceptance_needs_the_permission_an_approver_and_a_future_expiry(
    api_world: ApiWorld,
) -> None:
    a = small_hospital(api_world, "Hospital A")
    analyst = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    lead = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    finding = _service_view(api_world, a)[0]
    url = _url(a, f"/{finding.id}/acceptance")
    expires = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    body = {"approver": "Dr. Rossi (CMO)", "reason": "vendor patch due Q3", "expires": ""}

    body["expires"] = expires.isoformat()
    assert problem(analyst.post(url, json=body), 403)["type"].endswith("permission-denied")
    past = dict(body, expires=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    assert "not in the future" in problem(lead.post(url, json=past), 422)["detail"]
    problem(lead.post(url, json=dict(body, approver="")), 422)
    problem(lead.post(url, json={"reason": "x", "expires": body["expires"]}), 422)
    assert audit_of(api_world, a, "risk.accepted") == []

    accepted = lead.post(url, json=body)

    assert accepted.status_code == 200, accepted.text
    out = accepted.json()
    assert out["status"] == "accepted"
    assert out["approver"] == "Dr. Rossi (CMO)"
    assert datetime.fromisoformat(out["accepted_until"]) == expires
    (entry,) = audit_of(api_world, a, "risk.accepted")
    assert entry.actor == "lead@a.example"
    assert entry.details["approver"] == "Dr. Rossi (CMO)"
    assert entry.details["old"] == "open"
    assert datetime.fromisoformat(entry.details["expires"]) == expires

    # A date alone is midnight UTC.
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    again = lead.post(url, json=dict(body, expires=day.isoformat())).json()
    assert datetime.fromisoformat(again["accepted_until"]) == datetime(
        day.year, day.month, day.day, tzinfo=UTC
    )


def test_other_organisations_findings_are_404_and_never_listed(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    b = small_hospital(api_world, "Hospital B")
    lead_a = api_world.session_client(api_world.user("lead@a.example", {a: Role.SECURITY_LEAD}))
    ids_b = {v.id for v in _service_view(api_world, b)}
    ids_a = {f["id"] for f in walk(lead_a, _url(a), 100)}
    assert ids_a == {v.id for v in _service_view(api_world, a)}
    assert not ids_a & ids_b
    foreign = min(ids_b)
    problem(lead_a.get(_url(a, f"/{foreign}")), 404)
    problem(lead_a.get(_url(a, f"/{foreign}/history")), 404)
    problem(
        lead_a.post(_url(a, f"/{foreign}/status"), json={"status": "resolved", "reason": "x"}),
        404,
    )
    expires = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    problem(
        lead_a.post(
            _url(a, f"/{foreign}/acceptance"),
            json={"approver": "x", "reason": "x", "expires": expires},
        ),
        404,
    )
    problem(lead_a.get(_url(b)), 404)
    assert {v.status for v in _service_view(api_world, b)} == {"open"}
    # Filtering by B's asset through A finds nothing of B's.
    b_asset = _service_view(api_world, b)[0].asset_id
    assert _ids(lead_a, a, asset_id=b_asset) == set()
