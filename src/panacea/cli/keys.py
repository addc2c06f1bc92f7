"""``panacea keys``: create the key-encryption key, rotate it, rotate the data key, show status.

KEK rotation never leaves the database without a usable KEK on disk: the new KEK is written to
a staged file first, the data keys are re-wrapped in one transaction, and only after the commit
does the staged file replace the configured one (``os.replace``, atomic on one file system).
If the process dies between the commit and the replace, the next ``keys rotate`` notices that
the data keys are under the staged KEK and finishes the replace.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.cli.render import console
from panacea.cli.state import state
from panacea.config import get_settings
from panacea.db.engine import session_scope
from panacea.db.models import Base
from panacea.identity.encryption import ENCRYPTED_COLUMNS
from panacea.identity.errors import EncryptionError
from panacea.identity.key_records import DataKey
from panacea.identity.key_rotation import rotate_data_key, rotate_kek
from panacea.identity.keys import (
    Kek,
    KekSource,
    bind_kek,
    kek_source,
    read_kek_file,
    write_kek_file,
)

app = typer.Typer(help="Encryption keys of sensitive fields.", no_args_is_help=True)


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextmanager
def _opened(ctx: typer.Context) -> Iterator[tuple[sessionmaker[Session], KekSource]]:
    """The CLI's database with the configured KEK bound; its connections closed at exit."""
    cli = state(ctx)
    source = kek_source(get_settings(), cli.database_url)
    sessions = cli.factory()
    bind_kek(sessions, source)
    try:
        yield sessions, source
    finally:
        engine = sessions.kw.get("bind")
        if isinstance(engine, Engine):
            engine.dispose()


@app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="File to create (mode 0600, must not exist).")],
) -> None:
    """Create a new key-encryption key file (32 random bytes, base64)."""
    kek = Kek.generate()
    write_kek_file(out, kek)
    console.print(f"wrote KEK {kek.kek_id} to {out}; set PANACEA_KEK_FILE={out}", soft_wrap=True)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """The configured KEK's id, the data keys and how many values each sealed column holds."""
    with _opened(ctx) as (sessions, source):
        _status(sessions, source)


def _status(sessions: sessionmaker[Session], source: KekSource) -> None:
    current = source.current().kek_id
    table = Table(title=f"data keys (configured KEK {current})")
    for name in ("id", "active", "wrapped by", "created", "re-wrapped"):
        table.add_column(name)
    with sessions() as session:
        for record in session.execute(select(DataKey).order_by(DataKey.id)).scalars():
            table.add_row(
                str(record.id),
                "yes" if record.active else "retired",
                record.kek_id if record.kek_id != current else f"{record.kek_id} (configured)",
                record.created_at.isoformat(timespec="seconds"),
                record.rewrapped_at.isoformat(timespec="seconds") if record.rewrapped_at else "",
            )
        console.print(table)
        for place in ENCRYPTED_COLUMNS:
            table_ = Base.metadata.tables[place.table]
            column = table_.c[place.column]
            count = session.execute(
                select(func.count()).select_from(table_).where(column.is_not(None))
            ).scalar_one()
            console.print(f"{place.table}.{place.column}: {count} sealed values")


def _kek_ids_in_use(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.execute(select(DataKey.kek_id).distinct()).scalars())


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_kek_file: Annotated[
        Path | None,
        typer.Option(
            "--new-kek-file",
            help="Take the new KEK from this file, or create it there if it does not exist. "
            "Default: replace the configured KEK file with a new KEK.",
        ),
    ] = None,
) -> None:
    """Re-wrap every data key under a new KEK, in one transaction (values are not re-sealed)."""
    with _opened(ctx) as (sessions, source):
        _rotate(sessions, source, new_kek_file)


def _rotate(sessions: sessionmaker[Session], source: KekSource, new_kek_file: Path | None) -> None:
    if new_kek_file is None and source.file is None:
        raise EncryptionError(
            "the KEK is configured as a value (PANACEA_KEK): pass --new-kek-file FILE to say "
            "where the new KEK goes"
        )
    old = source.current()
    created: Path | None = None  # a file this command wrote, removed if the rotation fails
    replace: Path | None = None  # the configured file the new KEK replaces after the commit
    if new_kek_file is not None:
        if new_kek_file.exists():
            new = read_kek_file(new_kek_file)
        else:
            new = Kek.generate()
            write_kek_file(new_kek_file, new)
            created = new_kek_file
        final = new_kek_file
    else:
        assert source.file is not None
        final = source.file
        staged = source.file.with_name(source.file.name + ".new")
        if staged.exists():
            leftover = read_kek_file(staged)
            if _kek_ids_in_use(sessions) == {leftover.kek_id}:
                os.replace(staged, final)
                console.print(
                    f"finished an interrupted rotation: {final} now holds KEK {leftover.kek_id}",
                    soft_wrap=True,
                )
                return
            raise EncryptionError(
                f"{staged} is left over from a rotation that did not commit (no data key uses "
                f"its KEK {leftover.kek_id}); delete it and run the rotation again"
            )
        new = Kek.generate()
        write_kek_file(staged, new)
        created = replace = staged
    try:
        with session_scope(sessions) as session:
            result = rotate_kek(session, old=old, new=new, actor=_actor())
    except BaseException:
        if created is not None:
            created.unlink(missing_ok=True)
        raise
    if replace is not None:
        os.replace(replace, final)
    console.print(
        f"re-wrapped {result.data_keys} data keys: KEK {result.old_kek_id} -> {result.new_kek_id} "
        f"(in {final})",
        soft_wrap=True,
    )
    if replace is None:
        console.print(
            f"now set PANACEA_KEK_FILE={final} (and unset PANACEA_KEK) and restart the server; "
            "the old KEK opens nothing any more: destroy its copies, except those kept with "
            "older database backups",
            soft_wrap=True,
        )


@app.command("rotate-data-key")
def rotate_data_key_command(ctx: typer.Context) -> None:
    """Create a new data key, re-encrypt every sealed column under it, delete the old keys."""
    with _opened(ctx) as (sessions, _), session_scope(sessions) as session:
        result = rotate_data_key(session, actor=_actor())
    sealed = ", ".join(f"{name}: {count}" for name, count in result.values.items())
    retired = ", ".join(str(i) for i in result.retired_data_key_ids) or "none"
    console.print(
        f"data key {result.new_data_key_id} is active; re-encrypted {sealed}; "
        f"deleted data keys: {retired}",
        soft_wrap=True,
    )
