"""Bulk writes of feed rows: INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL.

Feeds touch hundreds of thousands of rows; one statement per row (or a SELECT per record) would
take minutes. Rows go to the database in chunks through ``executemany``; lookups are chunked
``IN`` queries, small enough for SQLite's and PostgreSQL's bound-parameter limits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from panacea.db.errors import StorageError

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
) -> None:
    """Insert ``rows`` into ``table``; where ``key`` exists, overwrite only the ``update`` columns.

    Every row must have the same keys. Columns not in ``update`` keep their stored values on
    conflict (so an NVD reload leaves KEV and EPSS columns alone) and take their defaults on
    insert. Raises StorageError on a database other than SQLite or PostgreSQL.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_statement = postgresql.insert(table)
        pg_excluded = {column: pg_statement.excluded[column] for column in update}
        statement: Any = pg_statement.on_conflict_do_update(index_elements=[key], set_=pg_excluded)
    elif dialect == "sqlite":
        lite_statement = sqlite.insert(table)
        lite_excluded = {column: lite_statement.excluded[column] for column in update}
        statement = lite_statement.on_conflict_do_update(index_elements=[key], set_=lite_excluded)
    else:
        raise StorageError(f"bulk upsert supports SQLite and PostgreSQL, not {dialect}")
    for chunk in chunked(rows, ROWS_PER_STATEMENT):
        session.execute(statement, chunk)


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain bulk INSERT of ``rows`` (all with the same keys) into ``table``."""
    for chunk in chunked(rows, ROWS_PER_STATEMENT):
        session.execute(table.insert(), chunk)


def delete_where_in(session: Session, table: Table, column: str, values: Collection[Any]) -> None:
    """DELETE the rows of ``table`` whose ``column`` is one of ``values``."""
    for chunk in chunked(values, IDS_PER_QUERY):
        session.execute(delete(table).where(table.c[column].in_(chunk)))
