"""The dashboard's acceptance flow, in a real Chromium against a real server (issue 6).

As the signed-in security lead (password and TOTP through the login page, conftest.py): the
overview ranks the services as ``panacea assess`` ranked them; the top service's scenario
leads to an asset and its CVE; the budget slider moves the curve and the list; an nmap XML
uploaded in the imports page adds assets that the assets page then lists; and the audit
viewer shows each of those changes. The tests run in file order and share one context; the
state changes they make are written in a :class:`Journal` that the audit test reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.web.browser.conftest import DemoSite
from tests.web.browser.ui import open_page, text_box, tid, wait_data_ready

NMAP_XML = Path(__file__).resolve().parents[2] / "data" / "nmap_service_detection_localhost.xml"
NVD = "https://nvd.nist.gov/vuln/detail/"
# The scanned host of NMAP_XML (a real scan of the loopback interface; not in the demo).
SCANNED_ADDRESS = "127.0.0.1"
PLAN_BUDGET = "20000"
MAX_SLIDER_KEYS = 60


@dataclass(frozen=True)
class Change:
    """A change the flow made: its audit action, and the target or a part of the details that
    identify its entry."""

    action: str
    target: str = ""
    details: str = ""


@dataclass
class Journal:
    """What the flow changed, for the audit test."""

    changes: list[Change] = field(default_factory=list)


@pytest.fixture(scope="module")
def journal() -> Journal:
    return Journal()


def _ranked_keys(assessment: dict[str, Any]) -> list[str]:
    return [str(s["key"]) for s in assessment["services"]]


def test_overview_ranks_the_services_as_the_assessment_did(page: Page, demo_site: DemoSite) -> None:
    open_page(page, "/")
    table = page.locator(tid("services-ranked"))
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expected = _ranked_keys(demo_site.assessment)
    expect(rows).to_have_count(len(expected))
    shown = [
        (rows.nth(i).get_attribute("data-testid") or "").removeprefix("service-row-")
        for i in range(rows.count())
    ]
    assert shown == expected
    top = demo_site.assessment["services"][0]
    first = rows.first
    expect(first.locator(tid(f"service-link-{top['key']}"))).to_have_text(f"1. {top['name']}")
    expect(first).to_contain_text(str(top["risk_class"]), ignore_case=True)
    # The "why" cells are filled in before the page marks its data ready.
    expect(first.locator("td").last).not_to_have_text("computing…")


def test_top_scenario_leads_to_an_asset_and_its_cve(page: Page, demo_site: DemoSite) -> None:
    top = demo_site.assessment["services"][0]
    open_page(page, "/")
    page.locator(tid(f"service-link-{top['key']}")).click()
    expect(page).to_have_url(re.compile(rf"/services/{re.escape(top['key'])}$"))
    wait_data_ready(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(top["name"])
    expect(page.locator(tid("scenario-graph"))).to_be_visible()
    scenario = page.locator(tid("scenario-1"))
    steps_with_cve = [
        s for s in top["top_paths"][0]["steps"] if s.get("cve") and s.get("asset_id") is not None
    ]
    assert steps_with_cve, "the top scenario of the top service exploits no CVE"
    step = steps_with_cve[0]
    item = scenario.locator(tid("scenario-step")).filter(has_text=step["cve"]).first
    cve_link = item.locator(tid("scenario-step-cve"))
    expect(cve_link).to_have_text(step["cve"])

    # The CVE link opens the NVD in a new tab; nothing leaves this machine: the NVD's page is
    # answered here, and only its address is checked.
    def nvd(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<title>NVD</title>")

    page.context.route(f"{NVD}**", nvd)
    try:
        with page.context.expect_page() as opened:
            cve_link.click()
        nvd_tab = opened.value
        nvd_tab.wait_for_load_state()
        assert nvd_tab.url == NVD + step["cve"]
        nvd_tab.close()
    finally:
        page.context.unroute(f"{NVD}**", nvd)

    # In the dashboard: the step's asset, then the CVE among that asset's findings.
    item.locator(tid("scenario-step-asset")).click()
    expect(page).to_have_url(re.compile(rf"/assets/{int(step['asset_id'])}$"))
    wait_data_ready(page)
    expect(page.locator(tid("asset-detail"))).to_contain_text(step["asset"])
    findings = page.locator(tid("asset-findings-table"))
    cve_cell = findings.get_by_role("link", name=step["cve"], exact=True).first
    expect(cve_cell).to_be_visible()
    cve_cell.click()
    expect(page).to_have_url(re.compile(r"/findings\?finding=\d+$"))
    wait_data_ready(page)
    expect(page.locator(tid("finding-heading"))).to_have_text(f"{step['cve']} on {step['asset']}")


def _listed_measures(page: Page) -> int:
    """How many measures the plan's list holds (one page of up to 50 rows at this budget)."""
    listed = page.locator(tid("plan-list"))
    pager = " ".join(listed.locator(".q-table__bottom").all_inner_texts())
    found = re.search(r"Page \d+ of (\d+)", pager)
    assert found is None or found.group(1) == "1", f"the list spans several pages: {pager}"
    return listed.locator("tbody tr").count()


def _summarised_measures(page: Page) -> int:
    found = re.search(r": (\d+) measures?", page.locator(tid("plan-summary")).inner_text())
    assert found is not None, page.locator(tid("plan-summary")).inner_text()
    return int(found.group(1))


def _step_down(page: Page) -> None:
    """PageDown on the focused slider (ten steps down); wait for the server's new summary."""
    summary = page.locator(tid("plan-summary"))
    before = summary.inner_text()
    page.keyboard.press("PageDown")
    expect(summary).not_to_have_text(before)


def test_budget_slider_moves_the_curve_and_the_list(page: Page, journal: Journal) -> None:
    open_page(page, "/plan")
    status = page.locator(tid("plan-status"))
    page.locator(text_box("plan-budget")).fill(PLAN_BUDGET)
    page.locator(tid("plan-compute")).click()
    expect(status).to_have_text(re.compile(r"Plan #\d+ computed and stored\."), timeout=120_000)
    plan_id = re.search(r"#(\d+)", status.inner_text())
    assert plan_id is not None
    journal.changes.append(Change("plan.created", target=f"risk_plan:{plan_id.group(1)}"))

    slider = page.locator(tid("budget-slider"))
    summary = page.locator(tid("plan-summary"))
    chart = page.locator(tid("plan-curve"))
    expect(slider).to_have_attribute("aria-valuenow", PLAN_BUDGET)
    expect(summary).to_contain_text(f"With a budget of {int(PLAN_BUDGET):,}")
    at_top = _listed_measures(page)
    assert at_top > 0, "the plan proposes no measure within the budget"
    assert at_top == _summarised_measures(page)
    label_at_top = chart.get_attribute("aria-label")
    picture_at_top = chart.screenshot()

    # With the keyboard, as anyone may: the slider's track takes focus (Tab reaches it) and
    # PageDown lowers the budget by ten steps. Each press waits for the server's answer.
    slider.locator('[tabindex="0"]').first.focus()
    for _ in range(MAX_SLIDER_KEYS):
        _step_down(page)
        if _summarised_measures(page) < at_top:
            break
    fewer = _summarised_measures(page)
    assert fewer < at_top, "the list did not shrink as the budget went down"
    assert _listed_measures(page) == fewer
    assert chart.get_attribute("aria-label") != label_at_top
    assert chart.screenshot() != picture_at_top, "the chart did not change with the budget"

    for _ in range(MAX_SLIDER_KEYS):
        if slider.get_attribute("aria-valuenow") == "0":
            break
        _step_down(page)
    expect(summary).to_contain_text("With a budget of 0: 0 measures")
    expect(page.locator(tid("plan-list"))).to_contain_text("Nothing within this budget")


def test_uploaded_nmap_scan_adds_assets(page: Page, journal: Journal) -> None:
    open_page(page, f"/assets?q={SCANNED_ADDRESS}")
    table = page.locator(tid("assets-table"))
    expect(table).to_contain_text("Nothing matches these filters")

    open_page(page, "/imports")
    with page.expect_file_chooser() as chooser:
        page.locator(tid("import-choose")).click()
    chooser.value.set_files(NMAP_XML)
    expect(page.locator(tid("import-status"))).to_have_text(
        "The import is complete.", timeout=60_000
    )
    report = page.locator(tid("import-report"))
    added = report.locator("tr", has_text="Assets added").locator("td").last.inner_text()
    # One host in the scan (127.0.0.1), absent from the demo: one asset added.
    assert added.strip() == "1", added
    sha = report.locator("tr", has_text="SHA-256").locator("td").last.inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sha), sha
    # The details column may be shortened: the digest's first 16 hex digits are enough.
    journal.changes.append(Change("import.completed", details=sha[:16]))

    open_page(page, f"/assets?q={SCANNED_ADDRESS}")
    expect(table.locator("tbody tr").first).to_contain_text(SCANNED_ADDRESS)


def test_audit_viewer_shows_each_change_of_the_flow(
    page: Page, journal: Journal, demo_site: DemoSite
) -> None:
    assert journal.changes, "the flow tests above changed nothing (did they run?)"
    open_page(page, "/admin/audit")
    table = page.locator(tid("audit-table"))
    action = page.locator(text_box("audit-action"))
    for change in journal.changes:
        action.fill(change.action)
        rows = table.locator("tbody tr")
        rows = rows.filter(has=page.get_by_role("cell", name=change.action, exact=True))
        if change.target:
            rows = rows.filter(has=page.get_by_role("cell", name=change.target, exact=True))
        if change.details:
            rows = rows.filter(has_text=change.details)
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(demo_site.lead.email)
