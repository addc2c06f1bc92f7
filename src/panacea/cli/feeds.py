"""``panacea feeds load DIR`` and ``panacea feeds update``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from panacea.cli.progress import progress_bars
from panacea.cli.render import console
from panacea.cli.state import state
from panacea.config import get_settings
from panacea.vulndb.errors import FeedError
from panacea.vulndb.feeds import ALL_FEEDS, load_directory, update_online

app = typer.Typer(help="Vulnerability knowledge: NVD, CISA KEV, FIRST EPSS.", no_args_is_help=True)


@app.command()
def load(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder of NVD JSON, KEV JSON, EPSS CSV.")],
) -> None:
    """Load feed files offline (one transaction: a bad file changes nothing)."""
    with progress_bars() as bars:
        report = load_directory(state(ctx).factory(), directory, progress=bars)
    for path, records in report.files.items():
        console.print(f"{path}: {records} records", highlight=False)
    for skipped in report.skipped:
        console.print(f"skipped {skipped.path}: {skipped.reason}", highlight=False)
    if report.kev is not None:
        console.print(f"KEV: {len(report.kev.added)} added, {len(report.kev.removed)} removed")


@app.command()
def update(
    ctx: typer.Context,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="nvd, kev or epss (repeat).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="NVD records modified since (ISO date).")
    ] = None,
) -> None:
    """Fetch the feeds online (NVD API 2.0 with PANACEA_NVD_API_KEY if set, KEV, EPSS)."""
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise FeedError(f"--since {since!r} is not an ISO date like 2026-11-01") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    with progress_bars() as bars:
        report = update_online(
            state(ctx).factory(),
            settings=get_settings(),
            since=start,
            progress=bars,
            feeds=tuple(feed or ALL_FEEDS),
        )
    if report.nvd is not None:
        console.print(f"NVD: {report.nvd}", highlight=False)
    if report.kev is not None:
        console.print(f"KEV: {len(report.kev.added)} added, {len(report.kev.removed)} removed")
    if report.epss is not None:
        console.print(f"EPSS: {report.epss}", highlight=False)
    console.print(f"waited {report.rate_limit_wait_seconds:.0f} s for rate limits")
