"""Reading and deleting stored objects: keyset pages, manifests, versions.

Every list is a keyset page on the integer key (``id > after ORDER BY id LIMIT n + 1``, the
extra row only telling that there is more), served by the index (collection_id, id), so a page
costs the same at object 100 as at object 1,000,000. ``added_after`` becomes a lower bound on
the key: since date_added grows with the key inside a collection, the first key added after the
instant (one probe of the unique index (collection_id, date_added)) is exactly where the page
starts. Filters are conditions on indexed columns; only what the page returns is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, delete, false, or_, select, text, update
from sqlalchemy.orm import Session

from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.sharing.errors import TaxiiError
from panacea.sharing.taxii.filters import ObjectFilter, VersionFilter
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject

_Columns = TypeVarTuple("_Columns")


@dataclass(frozen=True)
class StoredRow:
    """One stored object version as a page shows it (``body`` None for manifests)."""

    key: int
    stix_id: str
    version: str
    date_added: datetime
    body: str | None


@dataclass(frozen=True)
class StoredPage:
    rows: list[StoredRow]
    more: bool

    @property
    def last_key(self) -> int | None:
        return self.rows[-1].key if self.rows else None


def taxii_timestamp(value: datetime) -> str:
    """A date_added as TAXII writes it: RFC 3339 UTC with microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_condition(versions: VersionFilter) -> ColumnElement[bool] | None:
    if versions.all:
        return None
    terms: list[ColumnElement[bool]] = []
    if versions.first:
        terms.append(TaxiiObject.is_first.is_(True))
    if versions.last:
        terms.append(TaxiiObject.is_latest.is_(True))
    if versions.at:
        terms.append(TaxiiObject.version_at.in_(versions.at))
    return or_(*terms) if terms else false()


def _filtered(stmt: Select[*_Columns], collection_id: int, flt: ObjectFilter) -> Select[*_Columns]:
    stmt = stmt.where(TaxiiObject.collection_id == collection_id)
    if flt.after_key is not None:
        stmt = stmt.where(TaxiiObject.id > flt.after_key)
    if flt.added_after is not None:
        first_key = (
            select(TaxiiObject.id)
            .where(
                TaxiiObject.collection_id == collection_id,
                TaxiiObject.date_added > flt.added_after,
            )
            .order_by(TaxiiObject.date_added)
            .limit(1)
            .scalar_subquery()
        )
        stmt = stmt.where(TaxiiObject.id >= first_key)
    if flt.ids is not None:
        stmt = stmt.where(TaxiiObject.stix_id.in_(flt.ids))
    if flt.types is not None:
        stmt = stmt.where(TaxiiObject.stix_type.in_(flt.types))
    if flt.spec_versions is not None:
        stmt = stmt.where(TaxiiObject.spec_version.in_(flt.spec_versions))
    condition = _version_condition(flt.versions)
    if condition is not None:
        stmt = stmt.where(condition)
    return stmt


def _page(session: Session, stmt: Select[*_Columns], limit: int, *, with_body: bool) -> StoredPage:
    ordered = stmt.order_by(TaxiiObject.id).limit(limit + 1)
    if session.get_bind().dialect.name != "postgresql":
        rows: Sequence[Any] = session.execute(ordered).all()
    else:
        # Right after a bulk load, before autovacuum has analysed the table, PostgreSQL takes
        # a collection for a few hundred rows and reads everything after the cursor in a
        # bitmap scan, then sorts it: a page at the start then costs a hundred times one at
        # the end. A keyset page is always best read in key order from the index
        # (collection_id, id), so bitmap scans are off for this one statement.
        # (A failed statement rolls the transaction back, and SET LOCAL with it.)
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
        rows = session.execute(ordered).all()
        session.execute(text("SET LOCAL enable_bitmapscan TO DEFAULT"))
    more = len(rows) > limit
    return StoredPage(
        rows=[
            StoredRow(
                key=r.id,
                stix_id=r.stix_id,
                version=r.version,
                date_added=r.date_added,
                body=r.body if with_body else None,
            )
            for r in rows[:limit]
        ],
        more=more,
    )


def page_objects(session: Session, collection_id: int, flt: ObjectFilter) -> StoredPage:
    """A page of objects (with their JSON) of a collection, in date_added order."""
    stmt = select(
        TaxiiObject.id,
        TaxiiObject.stix_id,
        TaxiiObject.version,
        TaxiiObject.date_added,
        TaxiiObject.body,
    )
    return _page(session, _filtered(stmt, collection_id, flt), flt.limit, with_body=True)


def page_manifest(session: Session, collection_id: int, flt: ObjectFilter) -> StoredPage:
    """A page of manifest records (no JSON read) of a collection, in date_added order."""
    stmt = select(TaxiiObject.id, TaxiiObject.stix_id, TaxiiObject.version, TaxiiObject.date_added)
    return _page(session, _filtered(stmt, collection_id, flt), flt.limit, with_body=False)


def object_exists(session: Session, collection_id: int, stix_id: str) -> bool:
    """True if the collection holds any version of ``stix_id``."""
    found = session.execute(
        select(TaxiiObject.id)
        .where(TaxiiObject.collection_id == collection_id, TaxiiObject.stix_id == stix_id)
        .limit(1)
    ).first()
    return found is not None


def delete_versions(session: Session, collection_id: int, stix_id: str, flt: ObjectFilter) -> int:
    """Delete the versions of ``stix_id`` that ``flt`` matches; return how many.

    The remaining versions get their first/last flags back, so ``match[version]=last`` then
    serves the newest version left.
    """
    matched = select(TaxiiObject.id).where(TaxiiObject.stix_id == stix_id)
    keys = list(session.execute(_filtered(matched, collection_id, flt)).scalars())
    if not keys:
        return 0
    session.execute(delete(TaxiiObject).where(TaxiiObject.id.in_(keys)))
    remaining = list(
        session.execute(
            select(TaxiiObject.id)
            .where(TaxiiObject.collection_id == collection_id, TaxiiObject.stix_id == stix_id)
            .order_by(TaxiiObject.version_at, TaxiiObject.id)
        ).scalars()
    )
    if remaining:
        session.execute(
            update(TaxiiObject)
            .where(TaxiiObject.id.in_(remaining))
            .values(
                is_first=TaxiiObject.id == remaining[0],
                is_latest=TaxiiObject.id == remaining[-1],
            )
            .execution_options(synchronize_session=False)
        )
    return len(keys)


def remove_object(
    session: Session,
    access: OrgAccess,
    collection: TaxiiCollection,
    stix_id: str,
    flt: ObjectFilter,
) -> int:
    """Delete An Object (audited ``sharing.object_deleted``); return how many versions went.

    Raises TaxiiError(404) if no version matched.
    """
    count = delete_versions(session, collection.id, stix_id, flt)
    if count == 0:
        raise TaxiiError(404, "Not Found", f"no matching version of {stix_id}")
    append(
        session,
        access.event(
            "sharing.object_deleted",
            target=f"taxii_collection:{collection.uuid}",
            stix_id=stix_id,
            versions=count,
        ),
    )
    return count
