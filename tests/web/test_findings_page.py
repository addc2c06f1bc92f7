"""The findings page: filters and sorting as the API's, triage and acceptance as the API's
(same rules, same audit entries), and who sees the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from panacea.db.base import utcnow
from panacea.findings.errors import FindingError
from panacea.findings.views import FindingView, list_findings
from panacea.findings.vocabulary import Confidence, FindingStatus
from panacea.identity.roles import Role
from panacea.vulndb.models import Vulnerability
from panacea.web.finding_rows import (
    FindingChangeError,
    FindingQuery,
    accept_risk,
    change_status,
    finding_history,
    finding_page,
    query_of,
)
from panacea.web.table_paging import TableRequest
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, small_hospital
from tests.web.conftest import elements, find, signed_in
from tests.web.org_access import member_access

pytestmark = pytest.mark.usefixtures("cheap_hashing")
ALL = TableRequest(1, 100, "id", False)


def _ids(world: ApiWorld, org: int, query: FindingQuery, request: TableRequest = ALL) -> list[int]:
    with world.sessions() as db:
        return [row["id"] for row in finding_page(db, org, query, request).rows]


def _findings(world: ApiWorld, org: int) -> list[FindingView]:
    with world.sessions() as db:
        return list_findings(db, org)


def test_filters_select_what_the_views_say(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    # the small hospital loads no EPSS file: give its CVEs scores so that the filter has data
    cves = sorted({f.cve for f in _findings(api_world, org)})
    with api_world.sessions.begin() as db:
        for rank, cve in enumerate(cves):
            db.execute(
                update(Vulnerability)
                .where(Vulnerability.cve_id == cve)
                .values(epss=round((rank + 1) / (len(cves) + 1), 4))
            )
    findings = _findings(api_world, org)
    assert len(findings) >= 10
    some = findings[0]
    # a threshold the data splits: some findings at or above it, some below
    scores = sorted({f.epss for f in findings if f.epss})
    epss = scores[len(scores) // 2]
    cases: list[tuple[FindingQuery, set[int]]] = [
        (FindingQuery(), {f.id for f in findings}),
        (FindingQuery(kev_only=True), {f.id for f in findings if f.kev}),
        (FindingQuery(min_cvss=9.0), {f.id for f in findings if (f.cvss or 0) >= 9.0}),
        (FindingQuery(min_epss=epss), {f.id for f in findings if (f.epss or 0) >= epss}),
        (
            FindingQuery(asset_id=some.asset_id),
            {f.id for f in findings if f.asset_id == some.asset_id},
        ),
        (
            FindingQuery(asset_search=some.asset[:4].upper()),
            {f.id for f in findings if some.asset[:4] in f.asset},
        ),
        (FindingQuery(cve=some.cve[4:]), {f.id for f in findings if some.cve[4:] in f.cve}),
        (
            FindingQuery(confidence=Confidence.CONFIRMED),
            {f.id for f in findings if f.confidence == "confirmed"},
        ),
        (FindingQuery(statuses=frozenset({FindingStatus.ACCEPTED})), set()),
    ]
    for query, expected in cases:
        assert set(_ids(api_world, org, query)) == expected, query
    # every filter but the last (no accepted finding yet) selects something, and the
    # KEV, CVSS and EPSS filters leave something out
    assert all(expected for _query, expected in cases[:-1])
    assert all(len(expected) < len(findings) for _query, expected in cases[1:4])


def test_sorting_by_score_puts_unscored_findings_last(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    with api_world.sessions() as db:
        rows = finding_page(db, org, FindingQuery(), TableRequest(1, 100, "cvss", True)).rows
        by_asset = finding_page(db, org, FindingQuery(), TableRequest(1, 100, "asset", False)).rows
    scores = [-1.0 if r["cvss"] is None else r["cvss"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert [r["asset"] for r in by_asset] == sorted(r["asset"] for r in by_asset)
    assert all(r["severity"] in {"", "none", "low", "medium", "high", "critical"} for r in rows)


def test_query_of_keeps_only_known_values() -> None:
    query = query_of(
        {
            "statuses": ["open", "deleted", "accepted"],
            "kev_only": "yes",
            "min_cvss": 42,
            "min_epss": True,
            "confidence": "certain",
            "asset_id": -4,
            "asset_search": "  ",
            "cve": " 2021-44228 ",
        }
    )
    assert query == FindingQuery(
        statuses=frozenset({FindingStatus.OPEN, FindingStatus.ACCEPTED}),
        min_cvss=10.0,
        cve="2021-44228",
    )


def test_triage_changes_status_and_audits_as_the_api(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = member_access(api_world, "a@a.example", org, Role.ANALYST)
    target = _findings(api_world, org)[0]
    with api_world.sessions.begin() as db:
        changed = change_status(db, analyst, target.id, "mitigated", "vendor patch applied")
        assert changed.status == "mitigated"
    [entry] = audit_of(api_world, org, "finding.status_changed")
    assert entry.target == f"finding:{target.id}"
    assert entry.actor == "a@a.example"
    assert entry.details == {
        "cve": target.cve,
        "old": "open",
        "new": "mitigated",
        "reason": "vendor patch applied",
    }
    with api_world.sessions() as db:
        history = finding_history(db, org, target.id)
    assert history is not None
    assert history.changes[0]["new"] == "mitigated"
    assert history.changes[0]["actor"] == "a@a.example"


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        ("accepted", "fine", "status"),  # acceptance has its own form and permission
        ("mitigated", "", "reason"),
        ("deleted", "gone", "status"),
    ],
)
def test_triage_refuses_what_the_api_refuses(
    api_world: ApiWorld, status: str, reason: str, message: str
) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = member_access(api_world, "a@a.example", org, Role.ANALYST)
    target = _findings(api_world, org)[0]
    with api_world.sessions() as db, pytest.raises(FindingChangeError, match=message):
        change_status(db, analyst, target.id, status, reason)
    assert audit_of(api_world, org, "finding.status_changed") == []


def test_another_organisations_finding_cannot_be_changed(api_world: ApiWorld) -> None:
    mine = small_hospital(api_world, "Hospital A")
    theirs = small_hospital(api_world, "Hospital B")
    lead = member_access(api_world, "l@a.example", mine, Role.SECURITY_LEAD)
    foreign = _findings(api_world, theirs)[0]
    with api_world.sessions() as db:
        with pytest.raises(FindingError, match="unknown finding"):
            change_status(db, lead, foreign.id, "mitigated", "not mine")
        with pytest.raises(FindingError, match="unknown finding"):
            accept_risk(db, lead, foreign.id, approver="x", reason="y", expires="2999-01-01")
        assert finding_history(db, mine, foreign.id) is None
    assert _findings(api_world, theirs)[0].status == "open"


def test_acceptance_needs_a_future_expiry_and_is_audited(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    lead = member_access(api_world, "l@a.example", org, Role.SECURITY_LEAD)
    target = _findings(api_world, org)[0]
    with api_world.sessions() as db, pytest.raises(FindingError, match="not in the future"):
        accept_risk(db, lead, target.id, approver="CISO", reason="isolated", expires="2020-01-01")
    with api_world.sessions() as db, pytest.raises(FindingChangeError, match="approver"):
        accept_risk(db, lead, target.id, approver="", reason="isolated", expires="2999-01-01")
    until = (utcnow() + timedelta(days=30)).date().isoformat()
    with api_world.sessions.begin() as db:
        accepted = accept_risk(
            db, lead, target.id, approver="Dr CISO", reason="isolated VLAN", expires=until
        )
        assert accepted.status == "accepted"
    [entry] = audit_of(api_world, org, "risk.accepted")
    assert entry.details["approver"] == "Dr CISO"
    assert entry.details["expires"] == f"{until}T00:00:00+00:00"
    assert entry.details["old"] == "open"
    assert entry.details["new"] == "accepted"
    statuses = {FindingStatus.ACCEPTED}
    assert _ids(api_world, org, FindingQuery(statuses=frozenset(statuses))) == [target.id]


def test_findings_page_for_readers_only(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = signed_in(api_world, api_world.user("a@a.example", {org: Role.ANALYST}))
    tree = elements(analyst.get("/findings?status=open,accepted&kev=true"))
    for testid in ("findings-table", "findings-status", "findings-kev", "finding-panel"):
        assert find(tree, testid) is not None, testid
    status = find(tree, "findings-status")
    assert status is not None
    assert sorted(v["label"] for v in status["props"]["model-value"]) == ["accepted", "open"]
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    refused = viewer.get("/findings")
    assert refused.status_code == 403
    assert find(elements(refused), "findings-table") is None
