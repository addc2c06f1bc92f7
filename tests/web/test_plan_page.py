"""The plan page: moving along a stored plan's curve, the CSV, the chart, making plans (as
the API, audited) and the CSV download route."""

from __future__ import annotations

import csv
import io
import math
from typing import Any
from urllib.parse import urlsplit

import pytest

from panacea.identity.roles import Role
from panacea.web.plan_data import (
    CSV_COLUMNS,
    curve_points,
    export_plan_csv,
    latest_cut_plan,
    make_plan,
    plan_csv,
    position,
    recent_plans,
    stored_plan,
)
from panacea.web.plan_page import chart_options, plan_csv_url, report_url, summary_text
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, small_hospital
from tests.web.conftest import anonymous, elements, find, signed_in
from tests.web.org_access import member_access

pytestmark = pytest.mark.usefixtures("cheap_hashing")
# Enough Monte Carlo trials for a plan of the small hospital, few enough to stay fast.
TRIALS = 256


def _mitigation(kind: str, target: str, cost: float) -> dict[str, Any]:
    return {
        "kind": kind,
        "target": target,
        "cost": cost,
        "effort_days": 0.5,
        "subjects": [1],
        "flags": [],
    }


def _document() -> dict[str, Any]:
    """A budget plan of three steps costing 100, 250 and 1,000 (cumulative 100, 350, 1,350)."""
    steps = [
        _mitigation("mfa", "CORP\\admin", 100.0),
        _mitigation("patch", '=HYPERLINK("http://x") on pc-1', 250.0),
        _mitigation("edr", "ehr-db-01", 1000.0),
    ]
    curve = [{"cost": 0.0, "risk": 9000.0, "risk_classes": {}, "mitigation": None, "rosi": None}]
    spent, risk = 0.0, 9000.0
    for m in steps:
        spent += m["cost"]
        risk -= 2000.0
        curve.append(
            {"cost": spent, "risk": risk, "risk_classes": {}, "mitigation": m, "rosi": 1.5}
        )
    return {
        "mode": "budget",
        "budget": 2000.0,
        "service": None,
        "mitigations": steps,
        "risk_before": 9000.0,
        "risk_after": risk,
        "total_cost": spent,
        "curve": curve,
    }


@pytest.mark.parametrize(
    ("budget", "steps", "spent", "next_cost"),
    [
        (0.0, 0, 0.0, 100.0),
        (99.99, 0, 0.0, 100.0),
        (100.0, 1, 100.0, 350.0),
        (1349.0, 2, 350.0, 1350.0),
        (5000.0, 3, 1350.0, None),
        (-5.0, 0, 0.0, 100.0),
        (math.nan, 0, 0.0, 100.0),
    ],
)
def test_the_slider_walks_the_curve(
    budget: float, steps: int, spent: float, next_cost: float | None
) -> None:
    at = position(_document(), budget)
    assert [s["step"] for s in at.steps] == list(range(1, steps + 1))
    assert at.spent == spent
    assert at.risk == 9000.0 - 2000.0 * steps
    assert at.next_cost == next_cost
    text = summary_text(at)
    assert f"lower the expected annual loss from 9,000 to {at.risk:,.0f}" in text
    assert ("next measure" in text) == (next_cost is not None)


def test_chart_marks_the_chosen_budget_and_stays_in_view() -> None:
    document = _document()
    options = chart_options(curve_points(document), 5000.0)
    [series] = options["series"]
    assert series["data"][0] == [0.0, 9000.0]
    assert series["markLine"]["data"] == [{"xAxis": 5000.0}]
    assert options["xAxis"]["max"] == 5000.0
    assert chart_options(curve_points(document), 200.0)["xAxis"]["max"] == 1350.0


def test_csv_lists_the_steps_and_defuses_formulas() -> None:
    document = _document()
    rows = list(csv.reader(io.StringIO(plan_csv(document, 400.0))))
    assert rows[0] == list(CSV_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    # A cell starting with "=" would run in a spreadsheet (OWASP CSV injection): quoted.
    assert rows[2][2] == '\'=HYPERLINK("http://x") on pc-1'
    assert plan_csv(document, 400.0).endswith("\r\n")
    everything = list(csv.reader(io.StringIO(plan_csv(document))))
    assert len(everything) == 4
    cut = {**document, "mode": "cut", "service": "ehr"}
    cut_rows = list(csv.reader(io.StringIO(plan_csv(cut))))
    assert [r[1] for r in cut_rows[1:]] == ["mfa", "patch", "edr"]


def test_links_are_pinned_to_the_organisation() -> None:
    url = urlsplit(plan_csv_url(7, 12, 1500.0))
    assert url.path == "/export/plans/12.csv"
    assert url.query == "org=7&budget=1500.00"
    assert report_url(7, 1500.0) == "/api/v1/orgs/7/risk/report?format=html&budget=1500.00"


def test_a_plan_is_made_stored_and_audited_as_the_api(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    lead = member_access(api_world, "l@a.example", org, Role.SECURITY_LEAD)
    with api_world.sessions.begin() as db:
        plan = make_plan(db, lead, budget=3000.0, trials=TRIALS)
        plan_id = plan.id
    with api_world.sessions.begin() as db:
        cut = make_plan(db, lead, cut="infusion_therapy", trials=TRIALS)
        cut_id = cut.id
    [entry, cut_entry] = audit_of(api_world, org, "plan.created")
    assert entry.target == f"risk_plan:{plan_id}"
    assert entry.details["mode"] == "budget"
    assert entry.details["budget"] == 3000.0
    assert cut_entry.details["service"] == "infusion_therapy"
    with api_world.sessions() as db:
        document = stored_plan(db, org, plan_id)
        assert [p.id for p in recent_plans(db, org, "budget")] == [plan_id]
        assert [p.id for p in recent_plans(db, org, "cut")] == [cut_id]
        latest_cut = latest_cut_plan(db, org, "infusion_therapy")
        assert latest_cut is not None
        assert latest_cut["id"] == cut_id
        assert latest_cut_plan(db, org, "ehr") is None
        assert latest_cut_plan(db, org + 1000, "infusion_therapy") is None
    assert document is not None
    assert document["id"] == plan_id
    # The whole plan is the slider at the plan's budget.
    at = position(document, 3000.0)
    assert [s["target"] for s in at.steps] == [m["target"] for m in document["mitigations"]]
    assert at.spent == document["total_cost"] <= 3000.0


def test_csv_download_is_authenticated_scoped_and_audited(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    other = small_hospital(api_world, "Hospital B")
    lead = member_access(api_world, "l@a.example", org, Role.SECURITY_LEAD)
    with api_world.sessions.begin() as db:
        plan_id = make_plan(db, lead, budget=3000.0, trials=TRIALS).id
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    path = plan_csv_url(org, plan_id, 1000.0)
    response = viewer.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="panacea-plan-{org}-{plan_id}.csv"'
    )
    with api_world.sessions() as db:
        document = stored_plan(db, org, plan_id)
    assert document is not None
    assert response.text == plan_csv(document, 1000.0)
    [entry] = audit_of(api_world, org, "report.exported")
    assert entry.target == f"risk_plan:{plan_id}"
    assert entry.details == {"format": "csv", "budget": 1000.0, "mode": "budget"}
    # No session: to the login page, which comes back here.
    redirect = anonymous(api_world).get(path, follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith("/login?next=")
    # A member of another organisation: that organisation has no such plan.
    stranger = signed_in(api_world, api_world.user("s@b.example", {other: Role.SECURITY_LEAD}))
    assert stranger.get(plan_csv_url(other, plan_id, None)).status_code == 404
    assert viewer.get(f"/export/plans/{plan_id}.csv?org={org}&budget=-1").status_code == 422
    assert len(audit_of(api_world, org, "report.exported")) == 1


def test_export_of_a_missing_plan_writes_nothing(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    lead = member_access(api_world, "l@a.example", org, Role.SECURITY_LEAD)
    with api_world.sessions.begin() as db:
        assert export_plan_csv(db, lead, 999_999, None) is None
    assert audit_of(api_world, org, "report.exported") == []


def test_plan_page_shows_creation_to_planners_only(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    tree = elements(viewer.get("/plan"))
    for testid in (
        "budget-slider",
        "plan-curve",
        "plan-list",
        "plan-csv",
        "cut-service-select",
        "cut-plan-list",
        "plan-select",
    ):
        assert find(tree, testid) is not None, testid
    assert find(tree, "plan-compute") is None
    assert find(tree, "cut-compute") is None
    report = find(tree, "report-html")
    assert report is not None
    assert "hidden" in report["class"]
    lead = signed_in(api_world, api_world.user("l@a.example", {org: Role.ANALYST}))
    planner = elements(lead.get("/plan"))
    assert find(planner, "plan-compute") is not None
    assert find(planner, "cut-compute") is not None
    services = find(planner, "cut-service-select")
    assert services is not None
    assert "infusion_therapy" in str(services["props"]["options"])
