"""Driving the dashboard: sizes, the data-ready mark, signing in through the login page.

Selectors are the ``data-testid`` attributes listed in docs/dashboard.md.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, ViewportSize, expect

from tests.web.browser.live import Account, TotpDevice

DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
DATA_READY = "panacea:data-ready"
# Generous for a shared 2-CPU CI machine; the real figures are in bench/dashboard.py.
READY_MS = 20_000


def tid(name: str) -> str:
    """The CSS selector of an element's ``data-testid``."""
    return f'[data-testid="{name}"]'


def text_box(name: str) -> str:
    """The ``<input>`` of a text or number field: Quasar puts the attribute on the input itself
    or on its wrapper, depending on the component."""
    return f"input{tid(name)}, {tid(name)} input"


def ready_marks(page: Page) -> int:
    """How many ``panacea:data-ready`` marks this document has set so far."""
    return int(page.evaluate("n => performance.getEntriesByName(n).length", DATA_READY))


def wait_data_ready(page: Page, *, after: int = 0) -> float:
    """Wait until the page marked its data rendered (more than ``after`` marks); the mark's time.

    The time is the last mark's ``startTime``: milliseconds since the navigation started.
    """
    page.wait_for_function(
        "([n, after]) => performance.getEntriesByName(n).length > after",
        arg=[DATA_READY, after],
        timeout=READY_MS,
    )
    return float(page.evaluate("n => performance.getEntriesByName(n).at(-1).startTime", DATA_READY))


def open_page(page: Page, path: str) -> float:
    """Navigate to ``path`` and wait for its data; the data-ready time in milliseconds."""
    response = page.goto(path)
    assert response is not None, f"GET {path}: no response"
    assert response.ok, f"GET {path} answered {response.status}"
    return wait_data_ready(page)


def settle(page: Page) -> None:
    """Let layout, web fonts and transitions finish after a resize (for screenshots)."""
    page.evaluate(
        "() => document.fonts.ready.then(() => new Promise("
        "r => requestAnimationFrame(() => requestAnimationFrame(r))))"
    )
    # Quasar's transitions and ECharts' redraw animation run for a few hundred milliseconds.
    page.wait_for_timeout(400)


def sign_in(page: Page, account: Account, device: TotpDevice) -> None:
    """Sign in through the login page: e-mail and password, then a TOTP code; lands signed in.

    Waits for the first page after sign-in to mark its data ready.
    """
    page.goto("/login")
    wait_data_ready(page)
    page.locator(tid("login-email")).fill(account.email)
    page.locator(tid("login-password")).fill(account.password)
    page.locator(tid("login-submit")).click()
    code = page.locator(tid("totp-code"))
    expect(code).to_be_visible()
    code.fill(device.next_code())
    page.locator(tid("totp-submit")).click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    wait_data_ready(page)
