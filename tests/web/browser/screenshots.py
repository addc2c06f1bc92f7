"""Screenshots of each page at desktop (1280x800) and phone (390x844) widths, for the README.

Written to ``docs/screenshots/<page>-desktop.png`` and ``<page>-phone.png`` by the page tests,
from the real server holding the demo hospital. Viewport-sized (not full-page) so that every
image has the same dimensions as the screen it stands for.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from tests.web.browser.ui import DESKTOP, PHONE, settle

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def capture(page: Page, name: str) -> list[Path]:
    """Screenshot ``page`` at desktop then phone width; back to desktop after. The files."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            settle(page)
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=path, animations="disabled", caret="hide")
            written.append(path)
    finally:
        page.set_viewport_size(DESKTOP)
    return written
