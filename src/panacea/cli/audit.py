"""``panacea audit``: verify the log, export it, checkpoint it, create its signing key.

``verify`` exits with status 1 when a chain does not verify and names its first bad entry, so
it can run from cron and alert. ``checkpoint`` signs the end of every chain now (run it from
cron as well, so that quiet chains are covered between the automatic checkpoints).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from panacea.cli.render import console, errors
from panacea.cli.state import state
from panacea.config import Settings, get_settings
from panacea.db.engine import session_scope
from panacea.identity.audit_checkpoints import (
    checkpoint_heads,
    generate_key_file,
    key_id_of,
    public_key_pem,
)
from panacea.identity.audit_export import AuditExportError, ExportFormat, export_lines
from panacea.identity.audit_forwarding import install_audit_forwarding
from panacea.identity.audit_records import chain_of
from panacea.identity.audit_verify import VerifyReport, verify_audit
from panacea.inventory.service import get_organisation

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@contextmanager
def _opened(ctx: typer.Context) -> Iterator[tuple[sessionmaker[Session], Settings]]:
    """The CLI's database, its settings, audit forwarding on; connections closed at exit."""
    cli = state(ctx)
    settings = get_settings().model_copy(update={"database_url": cli.database_url})
    sessions = cli.factory()
    install_audit_forwarding(sessions, settings)
    try:
        yield sessions, settings
    finally:
        engine = sessions.kw.get("bind")
        if isinstance(engine, Engine):
            engine.dispose()


def _chains(session: Session, org: str | None) -> list[str] | None:
    return [chain_of(get_organisation(session, org).id)] if org else None


def _print_report(report: VerifyReport) -> None:
    table = Table(title="audit chains")
    for column in ("chain", "entries", "last seq", "checkpoints", "witnessed", "result"):
        table.add_column(column)
    for chain in report.chains:
        result = "ok" if chain.problem is None else chain.problem.kind.value.upper()
        table.add_row(
            chain.chain,
            str(chain.entries),
            str(chain.last_seq),
            str(chain.checkpoints),
            str(chain.witnessed),
            result,
        )
    console.print(table)
    if not report.signatures_checked:
        errors.print(
            "[yellow]warning:[/] no trusted key: checkpoint signatures were not checked "
            "(set PANACEA_AUDIT_SIGNING_KEY_FILE or give --public-key)",
            soft_wrap=True,
        )
    if report.witness is None:
        errors.print(
            "[yellow]warning:[/] no checkpoint file (PANACEA_AUDIT_CHECKPOINT_FILE): "
            "truncation is only checked against the database's own checkpoints",
            soft_wrap=True,
        )
    for line in report.witness_problems:
        errors.print(f"[bold red]witness:[/] {escape(line)}", soft_wrap=True)
    for chain in report.failed:
        problem = chain.problem
        assert problem is not None
        where = f"seq {problem.seq}" if problem.seq is not None else "the head"
        row = f" (entry id {problem.entry_id})" if problem.entry_id is not None else ""
        errors.print(
            f"[bold red]{escape(chain.chain)}: {problem.kind.value} at {where}{row}:[/] "
            f"{escape(problem.message)}",
            soft_wrap=True,
            highlight=False,
        )


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's chain.")
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key", help="A further trusted public key (PEM), e.g. before a rotation."
        ),
    ] = None,
) -> None:
    """Verify the chains: hashes, links, order, head, signed checkpoints, the witness file.

    Exits with status 1 and names the first bad entry of each chain that does not verify.
    """
    with _opened(ctx) as (sessions, settings), sessions() as session:
        report = verify_audit(
            session, settings, chains=_chains(session, org), extra_keys=public_key or ()
        )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Organisation.")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl, or fhir (FHIR R4 AuditEvent NDJSON)")
    ] = ExportFormat.JSONL,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
) -> None:
    """Export an organisation's audit log (the export is itself recorded in it)."""
    cli = state(ctx)
    with _opened(ctx) as (sessions, _settings):
        with session_scope(sessions) as session:
            organisation_id = get_organisation(session, org).id
            cli.audit(
                session,
                "audit.exported",
                organisation_id=organisation_id,
                target=f"audit:{chain_of(organisation_id)}",
                format=fmt.value,
                destination=str(out) if out is not None else "stdout",
            )
        with sessions() as session:
            if out is None:
                _write(export_lines(session, organisation_id, fmt), sys.stdout)
                return
            try:
                with out.open("w", encoding="utf-8") as handle:
                    count = _write(export_lines(session, organisation_id, fmt), handle)
            except OSError as e:
                raise AuditExportError(f"cannot write the export to {out}: {e.strerror}") from e
    errors.print(f"exported {count} entries of {escape(org)} to {escape(str(out))}")


def _write(lines: Iterator[str], handle: TextIO) -> int:
    count = 0
    for line in lines:
        handle.write(line)
        count += 1
    return count


@app.command("checkpoint")
def checkpoint_command(
    ctx: typer.Context,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's chain.")
    ] = None,
) -> None:
    """Sign the current end of every chain and write it to the witness file and/or syslog."""
    with _opened(ctx) as (sessions, settings):
        with sessions() as session:
            chains = _chains(session, org)
        made = checkpoint_heads(sessions, settings, chains)
    if not made:
        console.print("every chain is checkpointed at its last entry already")
    for checkpoint in made:
        console.print(
            f"checkpoint {escape(checkpoint.chain)} at seq {checkpoint.seq} "
            f"({checkpoint.hash[:16]}…) signed by key {checkpoint.key_id[:16]}…",
            highlight=False,
        )


@app.command("keygen")
def keygen_command(
    path: Annotated[Path, typer.Argument(help="Private key file to create (mode 0600).")],
) -> None:
    """Create an Ed25519 signing key for checkpoints; print its public key for auditors.

    Keep the file outside the database's host or backups; set PANACEA_AUDIT_SIGNING_KEY_FILE.
    """
    key = generate_key_file(path)
    public = key.public_key()
    errors.print(
        f"wrote audit signing key {key_id_of(public)[:16]}… to {escape(str(path))}; "
        f"set PANACEA_AUDIT_SIGNING_KEY_FILE={escape(str(path))}",
        soft_wrap=True,
    )
    print(public_key_pem(public), end="")
