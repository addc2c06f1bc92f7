"""``panacea import inventory|nmap|sbom|csv FILE --org ORG [--asset ID]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from panacea.cli.render import console
from panacea.cli.state import state
from panacea.inventory.importers.interface import ImportReport
from panacea.inventory.imports import import_file

app = typer.Typer(help="Import inventory, scanner output and SBOMs.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="The file to import.", show_default=False)]
OrgOpt = Annotated[str, typer.Option("--org", help="Organisation (created if new).")]


def _run(ctx: typer.Context, kind: str, file: Path, org: str, asset: str | None = None) -> None:
    with console.status(f"importing {file} ..."):
        report = import_file(state(ctx).factory(), kind, file, organisation=org, asset_ref=asset)
    _print_report(report)


def _print_report(report: ImportReport) -> None:
    parts = [
        f"{report.records} records",
        f"assets +{report.assets_added} ~{report.assets_updated}",
        f"endpoints +{report.endpoints_added} closed {report.endpoints_closed}",
        f"components +{report.components_added}",
        f"findings +{report.findings_added} resolved {report.findings_resolved}",
    ]
    console.print(f"[bold]{report.kind}[/] {report.source}: " + ", ".join(parts), highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)


@app.command()
def inventory(ctx: typer.Context, file: FileArg, org: OrgOpt) -> None:
    """An inventory YAML file (docs/inventory.md)."""
    _run(ctx, "inventory", file, org)


@app.command()
def nmap(ctx: typer.Context, file: FileArg, org: OrgOpt) -> None:
    """nmap XML output (-oX), e.g. of `nmap -sV -O`."""
    _run(ctx, "nmap", file, org)


@app.command()
def sbom(
    ctx: typer.Context,
    file: FileArg,
    org: OrgOpt,
    asset: Annotated[str, typer.Option("--asset", help="Asset name or id the SBOM describes.")],
) -> None:
    """A CycloneDX JSON SBOM (1.4 to 1.6) of one asset."""
    _run(ctx, "sbom", file, org, asset)


@app.command()
def csv(ctx: typer.Context, file: FileArg, org: OrgOpt) -> None:
    """A CSV asset list (docs/csv-assets.md)."""
    _run(ctx, "csv", file, org)
