"""``panacea assets list --org ORG [--format table|json]``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.state import state
from panacea.inventory.service import get_organisation
from panacea.inventory.views import AssetView, list_assets

app = typer.Typer(help="The organisation's assets.", no_args_is_help=True)
ASSETS_SCHEMA = "panacea.assets/1"


@app.command("list")
def list_command(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Organisation.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.TABLE,
) -> None:
    """Every asset with its addresses and endpoints."""
    with state(ctx).factory()() as session:
        organisation = get_organisation(session, org)
        views = list_assets(session, organisation.id)
    if output is OutputFormat.JSON:
        print_json({"schema": ASSETS_SCHEMA, "organisation": org, "assets": views})
        return
    console.print(_table(views))


def _table(views: list[AssetView]) -> Table:
    table = Table(title=f"{len(views)} assets")
    for column in ("id", "name", "kind", "zone", "addresses", "os", "patchable", "open ports"):
        table.add_column(column)
    for v in views:
        ports = ", ".join(f"{e.port}/{e.protocol}" for e in v.endpoints if e.state == "open")
        table.add_row(
            str(v.id),
            v.name,
            v.kind,
            v.zone or "",
            " ".join(v.addresses),
            v.os or "",
            v.patchable,
            ports,
        )
    return table
