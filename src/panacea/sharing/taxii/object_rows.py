"""Writing new rows of ``taxii_object`` in bulk, inside the caller's transaction.

On PostgreSQL (psycopg) the rows go through ``COPY ... FROM STDIN``: an ``INSERT`` executed
once a row (what ``executemany`` does, even pipelined) has the server parse and plan each row,
since the engine never prepares statements (``prepare_threshold=None``, see
:mod:`panacea.db.engine`); measured on 1,000-row batches, COPY took a third of the time, and the
collection stays locked while its objects are written. Elsewhere (SQLite), a Core ``INSERT``
run with ``executemany``; the ORM's bulk INSERT cost a third more per row for nothing, since
nothing reads the rows back.

Either way the rows are written in the order given, so the keys (``id``) follow that order,
and the constraints (unique version, unique date_added) are checked as for any insert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, cast

import psycopg
from psycopg import sql
from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from panacea.sharing.taxii.models import TaxiiObject

OBJECT_TABLE: Final = cast(Table, TaxiiObject.__table__)
# Every column a new row gives; ``id`` comes from the table's sequence.
COLUMNS: Final = (
    "collection_id",
    "stix_id",
    "stix_type",
    "spec_version",
    "version",
    "version_at",
    "date_added",
    "is_first",
    "is_latest",
    "publisher",
    "signer_kid",
    "content_digest",
    "body",
)
_VALUES_OF = itemgetter(*COLUMNS)


def insert_object_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with every column of :data:`COLUMNS`, timestamps timezone-aware)
    into ``taxii_object``, in order, in the session's transaction.

    Raises sqlalchemy.exc.DBAPIError (IntegrityError for a violated constraint) as an INSERT
    would.
    """
    if not rows:
        return
    # The rows refer to what the session may still hold unwritten (a collection just made).
    session.flush()
    raw = session.connection().connection.driver_connection
    if isinstance(raw, psycopg.Connection):
        _copy_rows(raw, rows)
    else:
        session.execute(insert(OBJECT_TABLE), list(rows))


def _copy_rows(connection: psycopg.Connection[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(OBJECT_TABLE.name), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(_VALUES_OF(row))
    except psycopg.Error as e:
        # The same exception an INSERT through SQLAlchemy raises (values hidden, as the
        # engine's hide_parameters does).
        raise DBAPIError.instance(
            f"COPY {OBJECT_TABLE.name}", None, e, psycopg.Error, hide_parameters=True
        ) from e
