"""Time until the dashboard's overview shows the ranked services, measured in Chromium.

For the demo hospital (300 assets) and a large one (``--assets 20000`` by default), this
builds the demo into a scratch SQLite file (``panacea demo --no-serve`` then ``panacea
assess``, which stores the snapshot the overview ranks), starts ``panacea serve`` on
localhost exactly as the browser tests do (tests/web/browser/live.py), signs a security lead
in (password and TOTP, through the JSON API; the session cookie is handed to the browser), and
opens the overview ``--runs`` times in fresh tabs of Debian's Chromium (``/usr/bin/chromium``).

Measured per load, from the browser's own clock (milliseconds since navigation start):

- ``data-ready``: the ``performance.mark('panacea:data-ready')`` the overview sets once the
  ranked services (and their one-line "why") are in the DOM: the figure the acceptance bounds
  (1.5 s on the demo, 3 s at 20,000 assets); median, min and max of ``--runs`` loads;
- ``first load``: the same for the first load after the server started (not in the
  median): it pays for what a process reads once, such as the assessment document behind
  the "why" (stored with the snapshot; recomputed, an assessment's time, only for a snapshot
  stored before migration 0005);
- ``html ttfb``: ``responseStart`` of the page's HTML (server time before the first byte);
- ``api json``: from the same tab, a ``fetch`` of the JSON the overview's data comes from
  (``GET /api/v1/orgs/{id}/risk/latest``) to its parsed body: the data path without the UI.

Peer, in the same run: a plain NiceGUI page (bench/dashboard_floor.py: one label, the mark set
the same way, once the browser's websocket connected) served by uvicorn in its own process:
the floor the framework costs before any PANACEA code. ``x floor`` and ``x api`` are the
ratios of the data-ready median to the floor's and to the JSON fetch. Nothing is asserted:
the figures go in the notes.

    .venv/bin/python bench/dashboard.py [--assets 300,20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.web.browser import live  # noqa: E402 - the repository root is put on the path first

CHROMIUM = Path("/usr/bin/chromium")
DATA_READY = "panacea:data-ready"
READY_TIMEOUT_MS = 180_000
DEMO_ASSETS = 300
console = Console(width=130)


@dataclass(frozen=True)
class Load:
    """One page load's figures, in milliseconds since navigation start."""

    data_ready: float
    html_ttfb: float
    api_json: float | None


@dataclass(frozen=True)
class Row:
    label: str
    build_seconds: float
    # The first load after the server started (not in the median): it pays for what a
    # process reads once, e.g. the overview's assessment document stored with the snapshot.
    cold: Load
    loads: list[Load]


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure_page(context: BrowserContext, url: str, api_path: str | None) -> Load:
    """Open ``url`` in a fresh tab; wait for the data-ready mark; read the browser's timings."""
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function(
            "n => performance.getEntriesByName(n).length > 0",
            arg=DATA_READY,
            timeout=READY_TIMEOUT_MS,
        )
        ready = float(
            page.evaluate("n => performance.getEntriesByName(n)[0].startTime", DATA_READY)
        )
        ttfb = float(
            page.evaluate("() => performance.getEntriesByType('navigation')[0].responseStart")
        )
        api = None
        if api_path is not None:
            api = float(
                page.evaluate(
                    """async path => {
                        const t0 = performance.now();
                        const r = await fetch(path, {credentials: 'same-origin'});
                        if (!r.ok) throw new Error(path + ' answered ' + r.status);
                        await r.json();
                        return performance.now() - t0;
                    }""",
                    api_path,
                )
            )
        return Load(data_ready=ready, html_ttfb=ttfb, api_json=api)
    finally:
        page.close()


def session_cookie(base_url: str, account: live.Account, device: live.TotpDevice) -> str:
    """Sign in through the JSON API (password, then TOTP); the session cookie's value."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        login.raise_for_status()
        mfa = client.post(
            "/api/v1/auth/mfa/totp",
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
            json={"code": device.next_code()},
        )
        mfa.raise_for_status()
        return str(client.cookies["panacea_session"])


def bench_demo(browser: Browser, assets: int, runs: int) -> Row:
    """Build a demo of ``assets`` assets, serve it, and load its overview ``runs`` + 1 times."""
    with tempfile.TemporaryDirectory(prefix="panacea-bench-") as scratch:
        data_dir = Path(scratch)
        env = live.panacea_env(data_dir)
        started = time.monotonic()
        console.print(f"building the demo hospital with {assets} assets ...")
        db_url = live.build_demo(
            data_dir, env, assets=None if assets == DEMO_ASSETS else assets
        ).db_url
        built = time.monotonic() - started
        account = live.create_user(db_url, env, "bench@demo-hospital.example", "security_lead")
        org_id = live.organisation_id(db_url)
        with live.serving(db_url, env, data_dir / "server.log") as server:
            device = live.enrol_totp(server.base_url, account)
            context = browser.new_context(base_url=server.base_url)
            try:
                context.add_cookies(
                    [
                        {
                            "name": "panacea_session",
                            "value": session_cookie(server.base_url, account, device),
                            "url": server.base_url,
                            "httpOnly": True,
                            "sameSite": "Lax",
                        }
                    ]
                )
                api_path = f"/api/v1/orgs/{org_id}/risk/latest"
                loads = [
                    measure_page(context, f"{server.base_url}/", api_path) for _ in range(runs + 1)
                ]
            finally:
                context.close()
    return Row(f"overview, {assets} assets", build_seconds=built, cold=loads[0], loads=loads[1:])


FLOOR_APP = ROOT / "bench" / "dashboard_floor.py"


@contextmanager
def floor_server() -> Iterator[str]:
    """The plain NiceGUI page (bench/dashboard_floor.py) on localhost; its URL."""
    port = live.free_port()
    process = subprocess.Popen(
        [sys.executable, str(FLOOR_APP), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("PANACEA_")},
    )
    url = f"http://localhost:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise SystemExit(f"the floor page exited with {process.returncode}: {err}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the floor page did not answer {url} within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def bench_floor(browser: Browser, runs: int) -> Row:
    with floor_server() as url:
        context = browser.new_context()
        try:
            loads = [measure_page(context, url, None) for _ in range(runs + 1)]
        finally:
            context.close()
    return Row("floor: plain NiceGUI page", build_seconds=0.0, cold=loads[0], loads=loads[1:])


def report(rows: list[Row], floor: Row | None) -> None:
    table = Table(title="Dashboard overview: time until the ranked services are rendered (ms)")
    for column in (
        "page",
        "loads",
        "data-ready median",
        "min",
        "max",
        "first load",
        "html ttfb",
        "api json",
        "x floor",
        "x api",
        "build s",
    ):
        table.add_column(column, justify="left" if column == "page" else "right")
    floor_median = _median([x.data_ready for x in floor.loads]) if floor else None
    for row in [*rows, *([floor] if floor else [])]:
        ready = [x.data_ready for x in row.loads]
        api = [x.api_json for x in row.loads if x.api_json is not None]
        median = _median(ready)
        table.add_row(
            row.label,
            str(len(ready)),
            f"{median:.0f}",
            f"{min(ready):.0f}",
            f"{max(ready):.0f}",
            f"{row.cold.data_ready:.0f}",
            f"{_median([x.html_ttfb for x in row.loads]):.0f}",
            f"{_median(api):.0f}" if api else "-",
            f"{median / floor_median:.1f}" if floor_median else "-",
            f"{median / _median(api):.1f}" if api else "-",
            f"{row.build_seconds:.0f}" if row.build_seconds else "-",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", default=f"{DEMO_ASSETS},20000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=5, help="counted loads per page")
    parser.add_argument("--no-floor", action="store_true", help="skip the plain NiceGUI peer")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    sizes = [int(s) for s in args.assets.split(",") if s.strip()]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        try:
            rows = [bench_demo(browser, n, args.runs) for n in sizes]
            floor = None if args.no_floor else bench_floor(browser, args.runs)
        finally:
            browser.close()
    report(rows, floor)


if __name__ == "__main__":
    main()
