"""``panacea demo``: build the demo hospital and show what it holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from panacea.cli.progress import progress_bars
from panacea.cli.render import console
from panacea.cli.serve import DEFAULT_HOST, DEFAULT_PORT, run_server
from panacea.cli.state import state
from panacea.config import get_settings
from panacea.db.engine import session_scope
from panacea.demo.hospital import DEFAULT_ASSETS
from panacea.demo.install import DEFAULT_ORGANISATION, install_demo
from panacea.findings.views import CveCount, open_findings_by_cve
from panacea.identity.users import ensure_demo_admin
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
        bool, typer.Option("--no-serve", help="Build only; do not serve it afterwards.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to serve on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = (
        DEFAULT_PORT
    ),
) -> None:
    """Build the demo hospital, create its first administrator and serve it on localhost:8000.

    The hospital: shipped NVD/KEV/EPSS data, a generated inventory, matching. The
    administrator's random password is printed once, when the account is created.
    """
    factory = state(ctx).factory()
    with progress_bars() as bars:
        install_demo(factory, organisation=org, assets=assets, seed=seed, progress=bars)
    with session_scope(factory) as session:
        admin_email, admin_password = ensure_demo_admin(session, get_organisation(session, org).id)
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
    # Printed only after the account's transaction committed.
    if admin_password is not None:
        console.print(f"administrator: {admin_email}", highlight=False)
        console.print(
            f"password (shown once; change it after signing in): {admin_password}",
            markup=False,
            highlight=False,
        )
    else:
        console.print(
            f"administrator {admin_email} exists; `panacea users reset-password {admin_email}` "
            "prints a new password",
            highlight=False,
        )
    if no_serve:
        return
    settings = get_settings().model_copy(
        update={"database_url": state(ctx).database_url, "demo_mode": True}
    )
    console.print(f"serving the demo on http://{host}:{port} (Ctrl-C stops)", highlight=False)
    run_server(settings, host=host, port=port)


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
