"""Every dashboard page: axe-core finds no serious or critical violation; screenshots for docs.

Each page is opened at desktop width (1280x800) in the signed-in security lead's context (the
login page in a fresh, signed-out one), waited for until it marks its data ready, checked with
axe-core (axe-playwright-python), then photographed at desktop and phone (390x844) widths into
docs/screenshots/<page>-desktop.png and <page>-phone.png. The screenshot is taken before the
verdict, so a failing page still leaves its picture for the reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.db.engine import create_db_engine
from panacea.findings.models import Finding
from tests.web.browser.accessibility import blocking_violations, describe
from tests.web.browser.conftest import DemoSite
from tests.web.browser.screenshots import capture
from tests.web.browser.ui import DESKTOP, open_page


@dataclass(frozen=True)
class Screen:
    """A page to check: its name (the screenshot's) and its path, with {placeholders}."""

    name: str
    path: str


SCREENS = (
    Screen("overview", "/"),
    Screen("service", "/services/{service}"),
    Screen("assets", "/assets"),
    Screen("asset", "/assets/{asset}"),
    Screen("findings", "/findings"),
    Screen("finding", "/findings?finding={finding}"),
    Screen("plan", "/plan"),
    Screen("imports", "/imports"),
    Screen("admin-users", "/admin/users"),
    Screen("admin-tokens", "/admin/tokens"),
    Screen("admin-audit", "/admin/audit"),
    Screen("account", "/account"),
)


@pytest.fixture(scope="module")
def placeholders(demo_site: DemoSite) -> dict[str, str]:
    """The top service, an asset of its top scenario and an open finding of the demo."""
    top = demo_site.assessment["services"][0]
    asset = next(
        s["asset_id"] for s in top["top_paths"][0]["steps"] if s.get("asset_id") is not None
    )
    engine = create_db_engine(demo_site.server.db_url)
    try:
        with Session(engine) as session:
            finding = session.scalars(
                select(Finding.id)
                .where(Finding.organisation_id == demo_site.organisation_id)
                .order_by(Finding.id)
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    return {"service": str(top["key"]), "asset": str(asset), "finding": str(finding)}


def _check(page: Page, name: str) -> None:
    violations = blocking_violations(page)
    capture(page, name)
    assert not violations, f"axe on {name} ({page.url}):\n{describe(violations)}"


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_page_has_no_serious_accessibility_violation(
    page: Page, screen: Screen, placeholders: dict[str, str]
) -> None:
    open_page(page, screen.path.format(**placeholders))
    _check(page, screen.name)


def test_login_page_has_no_serious_accessibility_violation(
    browser: Browser, demo_site: DemoSite
) -> None:
    context = browser.new_context(base_url=demo_site.base_url, viewport=DESKTOP)
    try:
        page = context.new_page()
        open_page(page, "/login")
        _check(page, "login")
    finally:
        context.close()
