"""The ``panacea`` application: global options, command groups, error handling."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from panacea.cli import (
    assets,
    audit,
    demo,
    feeds,
    findings,
    imports,
    incidents,
    keys,
    plan,
    risk,
    serve,
    share,
    users,
)
from panacea.cli.render import errors
from panacea.cli.state import CliState
from panacea.config import get_settings
from panacea.errors import PanaceaError

app = typer.Typer(
    name="panacea",
    help="PANACEA: see, reduce and share the cyber risk of a hospital.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(imports.app, name="import")
app.add_typer(audit.app, name="audit")
app.add_typer(feeds.app, name="feeds")
app.add_typer(assets.app, name="assets")
app.add_typer(findings.app, name="findings")
app.add_typer(incidents.app, name="incidents")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(share.app, name="share")
app.command(name="demo")(demo.demo)
app.command(name="assess")(risk.assess)
app.command(name="paths")(risk.paths)
app.command(name="plan")(plan.plan)
app.command(name="report")(risk.report)
app.command(name="serve")(serve.serve)


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: PANACEA_DATABASE_URL or sqlite:///panacea.db)"
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Global options."""
    ctx.obj = CliState(database_url=db or get_settings().database_url, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``panacea`` console script; returns the exit status."""
    command = typer.main.get_command(app)
    verbose = "--verbose" in (argv or sys.argv[1:]) or "-v" in (argv or sys.argv[1:])
    try:
        # standalone mode: click prints usage errors itself and ends with SystemExit.
        command.main(args=argv, prog_name="panacea", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except PanaceaError as e:
        if verbose:
            raise
        errors.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
