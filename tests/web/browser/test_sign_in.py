"""Signing in through the login page: password, then a TOTP code (the acceptance's first step)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.web.browser.conftest import DemoSite
from tests.web.browser.ui import DESKTOP, tid, wait_data_ready


def test_password_then_totp_lands_on_the_overview(browser: Browser, demo_site: DemoSite) -> None:
    context = browser.new_context(base_url=demo_site.base_url, viewport=DESKTOP)
    try:
        page = context.new_page()
        # Not signed in: the overview sends the browser to the login page, keeping the target.
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login\?next=%2F"))
        wait_data_ready(page)
        page.locator(tid("login-email")).fill(demo_site.signer.email)
        page.locator(tid("login-password")).fill(demo_site.signer.password)
        page.locator(tid("login-submit")).click()
        # A security lead must pass a second factor: the TOTP step replaces the password step.
        code = page.locator(tid("totp-code"))
        expect(code).to_be_visible()
        expect(page.locator(tid("login-password"))).to_be_hidden()
        code.fill(demo_site.signer_totp.wrong_code())
        page.locator(tid("totp-submit")).click()
        expect(page.locator(tid("login-message"))).to_contain_text("not valid")
        expect(page).to_have_url(re.compile(r"/login"))
        code.fill(demo_site.signer_totp.next_code())
        page.locator(tid("totp-submit")).click()
        expect(page).to_have_url(f"{demo_site.base_url}/")
        wait_data_ready(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["panacea_session"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Lax"
    finally:
        context.close()


def test_a_wrong_password_is_refused_without_saying_which_part(
    browser: Browser, demo_site: DemoSite
) -> None:
    context = browser.new_context(base_url=demo_site.base_url, viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto("/login")
        wait_data_ready(page)
        page.locator(tid("login-email")).fill(demo_site.signer.email)
        page.locator(tid("login-password")).fill(demo_site.signer.password + "x")
        page.locator(tid("login-submit")).click()
        expect(page.locator(tid("login-message"))).to_have_text(
            "E-mail or password not recognised."
        )
        expect(page.locator(tid("totp-code"))).to_be_hidden()
        assert "panacea_session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()
