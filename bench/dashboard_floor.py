"""The floor for bench/dashboard.py: a plain NiceGUI page, one label, the same data-ready mark.

Served by uvicorn on localhost with the same NiceGUI version and run settings the dashboard
uses (``ui.run_with`` on a FastAPI app), and marked exactly as the dashboard marks its pages
(``ui.run_javascript("performance.mark('panacea:data-ready')")`` in the page function, sent
once the browser's websocket connects). What a PANACEA page takes beyond this is our code.

    .venv/bin/python bench/dashboard_floor.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from nicegui import ui

DATA_READY_MARK = "panacea:data-ready"


def build() -> FastAPI:
    app = FastAPI()

    @ui.page("/")
    def hello() -> None:
        ui.label("Hello from a plain NiceGUI page").props("data-testid=floor")
        ui.run_javascript(f"performance.mark({DATA_READY_MARK!r})")

    ui.run_with(
        app,
        title="floor",
        language="en-GB",
        storage_secret="bench-floor-not-a-secret",  # noqa: S106 - a local benchmark page
        show_welcome_message=False,
    )
    return app


if __name__ == "__main__":
    uvicorn.run(build(), host="localhost", port=int(sys.argv[1]), log_level="warning")
