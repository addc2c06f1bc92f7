"""``panacea demo``: build the demo hospital and show what it holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from panacea.cli.progress import progress_bars
from panacea.cli.render import console
from panacea.cli.state import state
from panacea.demo.hospital import DEFAULT_ASSETS
from panacea.demo.install import DEFAULT_ORGANISATION, install_demo
from panacea.findings.views import CveCount, open_findings_by_cve
from panacea.inventory.service import get_organisation
from panacea.inventory.views import summarise_inventory


def demo(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Name of the demo organisation.")] = (
        DEFAULT_ORGANISATION
    ),
    assets: Annotated[int, typer.Option("--assets", min=60, help="Number of assets.")] = (
        DEFAULT_ASSETS
    ),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed: the same seed, the same hospital.")
    ] = 7,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Build only (there is no web side to serve yet).")
    ] = False,
) -> None:
    """Build the demo hospital (shipped NVD/KEV/EPSS data, inventory, matching) and summarise it."""
    factory = state(ctx).factory()
    with progress_bars() as bars:
        install_demo(factory, organisation=org, assets=assets, seed=seed, progress=bars)
    with factory() as session:
        organisation = get_organisation(session, org)
        summary = summarise_inventory(session, organisation.id)
        by_cve = open_findings_by_cve(session, organisation.id)
    console.print(_inventory_table(org, summary.assets_by_kind, summary.assets_by_zone))
    console.print(
        f"{summary.endpoints_open} open endpoints, {summary.unpatchable_assets} assets that cannot "
        "be patched"
    )
    console.print(_findings_table(by_cve))
    console.print(f"database: {state(ctx).database_url}")


def _inventory_table(org: str, by_kind: dict[str, int], by_zone: dict[str, int]) -> Table:
    table = Table(title=f"{org}: {sum(by_kind.values())} assets")
    table.add_column("kind")
    table.add_column("assets", justify="right")
    table.add_column("zone")
    table.add_column("assets", justify="right")
    kinds, zones = list(by_kind.items()), list(by_zone.items())
    for i in range(max(len(kinds), len(zones))):
        kind, n_kind = kinds[i] if i < len(kinds) else ("", "")
        zone, n_zone = zones[i] if i < len(zones) else ("", "")
        table.add_row(kind, str(n_kind), zone, str(n_zone))
    return table


def _findings_table(rows: list[CveCount]) -> Table:
    total = sum(c.assets for c in rows)
    table = Table(title=f"open findings: {len(rows)} CVEs on {total} asset-CVE pairs")
    for column in ("cve", "KEV", "CVSS", "assets"):
        table.add_column(column)
    for c in rows:
        cvss = f"{c.cvss:.1f}" if c.cvss is not None else ""
        table.add_row(c.cve, "KEV" if c.kev else "", cvss, str(c.assets))
    return table
