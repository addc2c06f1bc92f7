"""Bulk writes of feed rows: INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL.

Feeds touch hundreds of thousands of rows; one statement per row (or a SELECT per record) would
take minutes. Rows go to the database in chunks through ``executemany``; lookups are chunked
``IN`` queries, small enough for SQLite's and PostgreSQL's bound-parameter limits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, delete, false, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from panacea.db.errors import StorageError
from panacea.vulndb.models import Vulnerability

T = TypeVar("T")
ROWS_PER_STATEMENT = 5000
IDS_PER_QUERY = 900


def chunked(items: Sequence[T] | Collection[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, in order."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def table_of(model: type[Any]) -> Table:
    """The Core table behind an ORM class (Core statements skip the ORM's per-row work)."""
    return cast(Table, model.__table__)


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    update: Collection[str],
    new_row: Mapping[str, ColumnElement[Any]] | None = None,
) -> None:
    """Insert ``rows`` into ``table``; where ``key`` exists, overwrite only the ``update`` columns.

    Every row must have the same keys. Columns not in ``update`` keep their stored values on
    conflict (so an NVD reload leaves KEV and EPSS columns alone). On insert, the columns the
    rows lack take the SQL constants of ``new_row`` (written once into the statement rather
    than computed and bound per row, which made bulk writes several times slower), else their
    defaults. Raises StorageError on a database other than SQLite or PostgreSQL.
    """
    if not rows:
        return
    present = rows[0].keys()
    constants = {c: value for c, value in (new_row or {}).items() if c not in present}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_statement = postgresql.insert(table).values(constants)
        pg_excluded = {column: pg_statement.excluded[column] for column in update}
        statement: Any = pg_statement.on_conflict_do_update(index_elements=[key], set_=pg_excluded)
    elif dialect == "sqlite":
        lite_statement = sqlite.insert(table).values(constants)
        lite_excluded = {column: lite_statement.excluded[column] for column in update}
        statement = lite_statement.on_conflict_do_update(index_elements=[key], set_=lite_excluded)
    else:
        raise StorageError(f"bulk upsert supports SQLite and PostgreSQL, not {dialect}")
    for chunk in chunked(rows, ROWS_PER_STATEMENT):
        session.execute(statement, chunk)


def upsert_vulnerabilities(
    session: Session, rows: Sequence[Mapping[str, Any]], *, update: Collection[str]
) -> None:
    """``upsert`` into Vulnerability by CVE id; new rows start as ``new_vulnerability_row``."""
    table = table_of(Vulnerability)
    upsert(session, table, rows, key="cve_id", update=update, new_row=new_vulnerability_row())


def new_vulnerability_row() -> dict[str, ColumnElement[Any]]:
    """What a Vulnerability row that a feed creates holds in the columns that feed does not set.

    The same values as the model's defaults, as SQL: no description, CWEs or configurations
    yet, no KEV flag, no NVD record.
    """
    return {
        "description": literal_column("''"),
        "cwes": literal_column("'[]'"),
        "configurations": literal_column("'[]'"),
        "kev": false(),
        "nvd_loaded": false(),
    }


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain bulk INSERT of ``rows`` (all with the same keys) into ``table``."""
    for chunk in chunked(rows, ROWS_PER_STATEMENT):
        session.execute(table.insert(), chunk)


def delete_where_in(session: Session, table: Table, column: str, values: Collection[Any]) -> None:
    """DELETE the rows of ``table`` whose ``column`` is one of ``values``."""
    for chunk in chunked(values, IDS_PER_QUERY):
        session.execute(delete(table).where(table.c[column].in_(chunk)))
