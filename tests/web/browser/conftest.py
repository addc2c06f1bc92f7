"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``panacea serve``.

One server for the whole session (the demo hospital built once into a scratch SQLite file),
one browser, and one signed-in browser context that every page test reuses: the suite stays
within a few minutes. Chromium comes from Debian (``apt-get install chromium``): browser
downloads are impossible here, so Playwright launches ``/usr/bin/chromium``; without it the
tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import require
from tests.web.browser import live
from tests.web.browser.ui import DESKTOP, sign_in

CHROMIUM = Path("/usr/bin/chromium")
LEAD_EMAIL = "lead@demo-hospital.example"
SIGN_IN_EMAIL = "signin@demo-hospital.example"


@dataclass(frozen=True)
class DemoSite:
    """The running demo: its server, organisation and the accounts the tests sign in with."""

    server: live.LiveServer
    organisation_id: int
    # What `panacea assess` printed when the demo was built (the snapshot the overview shows).
    assessment: dict[str, Any]
    lead: live.Account
    lead_totp: live.TotpDevice
    # A second security lead, for the sign-in test: its TOTP steps are its own, so signing in
    # there never makes the main context's next code wait for the clock.
    signer: live.Account
    signer_totp: live.TotpDevice

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skip without it (fail under CI=true, where .ci/run installs it)."""
    require(CHROMIUM.is_file(), f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def demo_site(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo hospital served on localhost, with two security leads enrolled in TOTP."""
    data_dir = tmp_path_factory.mktemp("browser-demo")
    env = live.panacea_env(data_dir)
    built = live.build_demo(data_dir, env)
    db_url = built.db_url
    lead = live.create_user(db_url, env, LEAD_EMAIL, "security_lead")
    signer = live.create_user(db_url, env, SIGN_IN_EMAIL, "security_lead")
    with live.serving(db_url, env, data_dir / "server.log") as server:
        yield DemoSite(
            server=server,
            organisation_id=live.organisation_id(db_url),
            assessment=built.assessment,
            lead=lead,
            lead_totp=live.enrol_totp(server.base_url, lead),
            signer=signer,
            signer_totp=live.enrol_totp(server.base_url, signer),
        )


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # As root (containers, CI) Chromium refuses to start with its sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=str(chromium), args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def signed_in(browser: Browser, demo_site: DemoSite) -> Iterator[BrowserContext]:
    """A desktop browser context signed in as the security lead through the login page."""
    context = browser.new_context(base_url=demo_site.base_url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, demo_site.lead, demo_site.lead_totp)
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    """A fresh tab of the signed-in context, at desktop size."""
    tab = signed_in.new_page()
    try:
        yield tab
    finally:
        tab.close()
