"""Bulk writes of taxii_object rows: COPY on PostgreSQL, a Core executemany on SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from panacea.inventory.organisation import Organisation
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject
from panacea.sharing.taxii.object_rows import COLUMNS, insert_object_rows

T0 = datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC)
# What COPY's text format has to escape (backslash, tab, newlines, its NULL marker \N), and
# text beyond ASCII: each must come back as written.
BODIES = [
    '{"name":"plain"}',
    '{"name":"tab\\there","note":"line\\nfeed"}',
    '{"name":"a real\ttab, a real\nline feed and a real\r return"}',
    "\\N",
    '{"name":"back\\\\slash \\"quoted\\""}',
    '{"name":"Hôpital Saint-Éloi 病院 😀"}',
]


def _organisation(s: Session) -> int:
    org = Organisation(name="Hospital A")
    s.add(org)
    s.flush()
    return org.id


def _collection(s: Session) -> int:
    collection = TaxiiCollection(
        organisation_id=_organisation(s), uuid=str(uuid.uuid4()), title="Alerts"
    )
    s.add(collection)
    s.flush()
    return collection.id


def _row(collection_id: int, n: int, body: str = '{"name":"plain"}') -> dict[str, Any]:
    at = T0 + timedelta(microseconds=n)
    return {
        "collection_id": collection_id,
        "stix_id": f"indicator--{uuid.UUID(int=n)}",
        "stix_type": "indicator",
        "spec_version": "2.1",
        "version": "2026-01-05T08:00:00.123Z",
        "version_at": T0 - timedelta(days=n),
        "date_added": at,
        "is_first": n % 2 == 0,
        "is_latest": n % 3 != 0,
        "publisher": f"identity--{uuid.UUID(int=7)}",
        "signer_kid": "kid-" + "x" * 60,
        "content_digest": f"{n:064x}",
        "body": body,
    }


def _stored(s: Session) -> list[tuple[Any, ...]]:
    columns = [getattr(TaxiiObject, c) for c in COLUMNS]
    return [tuple(r) for r in s.execute(select(*columns).order_by(TaxiiObject.id)).all()]


def test_rows_come_back_as_written_in_order(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        collection_id = _collection(s)
    # Written in an order that is not the order of stix_id, dates or digests: the keys follow
    # the order given.
    rows = [
        _row(collection_id, n, body) for n, body in zip((5, 1, 4, 0, 3, 2), BODIES, strict=True)
    ]
    with factory.begin() as s:
        insert_object_rows(s, rows)
        insert_object_rows(s, [])
    with factory() as s:
        assert _stored(s) == [tuple(row[c] for c in COLUMNS) for row in rows]


def test_a_violated_constraint_fails_the_whole_batch(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        collection_id = _collection(s)
    clash = {**_row(collection_id, 9), "date_added": T0}
    with pytest.raises(IntegrityError), factory.begin() as s:
        insert_object_rows(s, [_row(collection_id, 0), _row(collection_id, 1), clash])
    with factory() as s:
        assert s.execute(select(func.count()).select_from(TaxiiObject)).scalar_one() == 0


def test_what_the_session_holds_is_written_first(factory: sessionmaker[Session]) -> None:
    """Rows may refer to a collection the session has not written yet."""
    with factory.begin() as s:
        organisation_id = _organisation(s)
    with factory.begin() as s:
        s.add(
            TaxiiCollection(
                id=4242, organisation_id=organisation_id, uuid=str(uuid.uuid4()), title="New"
            )
        )
        insert_object_rows(s, [_row(4242, 0), _row(4242, 1)])
    with factory() as s:
        assert [r[0] for r in _stored(s)] == [4242, 4242]
