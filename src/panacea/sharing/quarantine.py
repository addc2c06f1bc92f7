"""Quarantine: objects received but not ingested, kept for the security team to look at.

An object that is invalid, unsigned, signed by an unknown key, signed by a key of someone
other than its publisher, whose signature does not verify, or that replays a version (an
older version than the one stored, or different content under an id and version already
stored) is put here with the reason and the exact JSON received. Quarantined objects are never
served over TAXII, never stored as objects, and never feed anything else: the table is only
listed, by organisation (:func:`list_quarantined`, route
``GET /api/v1/orgs/{org_id}/sharing/quarantine``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ForeignKey, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow
from panacea.sharing.taxii.models import TaxiiCollection

# Reasons (beside the signature ones of panacea.sharing.signing).
INVALID: Final = "invalid"
REPLAY: Final = "replay"
# A received object is kept up to this size; a larger one is cut (and says so).
MAX_KEPT_CHARS: Final = 262_144


class QuarantinedObject(OrgOwned, Base):
    """One object refused on ingest. ``organisation_id``: the collection's owner."""

    __tablename__ = "sharing_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="SET NULL"), default=None, index=True
    )
    # What the object claimed to be (None when it did not say validly).
    stix_id: Mapped[str | None] = mapped_column(String(300), default=None)
    version: Mapped[str | None] = mapped_column(String(40), default=None)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # The Add Objects request it came in, and who sent it.
    status_id: Mapped[str | None] = mapped_column(String(36), default=None)
    received_from: Mapped[str] = mapped_column(String(400), default="")
    received_by_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Refusal:
    """An object to quarantine and why."""

    obj: Any
    reason: str
    detail: str

    @property
    def stix_id(self) -> str | None:
        value = self.obj.get("id") if isinstance(self.obj, dict) else None
        return value[:300] if isinstance(value, str) else None

    @property
    def version(self) -> str | None:
        if not isinstance(self.obj, dict):
            return None
        value = self.obj.get("modified", self.obj.get("created"))
        return value[:40] if isinstance(value, str) else None


@dataclass(frozen=True)
class QuarantineView:
    """A quarantined object as the API lists it."""

    id: int
    collection_id: str | None
    stix_id: str | None
    version: str | None
    reason: str
    detail: str
    received_at: datetime
    received_from: str
    status_id: str | None
    body: str


def quarantine(
    session: Session,
    refusals: list[Refusal],
    *,
    organisation_id: int,
    collection_id: int | None,
    status_id: str | None,
    received_from: str,
    received_by_user_id: int | None,
) -> int:
    """Store ``refusals`` (one statement for the lot); return how many."""
    if not refusals:
        return 0
    now = utcnow()
    rows = []
    for refusal in refusals:
        body = json.dumps(refusal.obj, ensure_ascii=False, separators=(",", ":"), default=str)
        if len(body) > MAX_KEPT_CHARS:
            body = body[:MAX_KEPT_CHARS] + "...(cut)"
        rows.append(
            {
                "organisation_id": organisation_id,
                "collection_id": collection_id,
                "stix_id": refusal.stix_id,
                "version": refusal.version,
                "reason": refusal.reason,
                "detail": refusal.detail[:4000],
                "body": body,
                "status_id": status_id,
                "received_from": received_from[:400],
                "received_by_user_id": received_by_user_id,
                "received_at": now,
            }
        )
    session.execute(insert(QuarantinedObject), rows)
    return len(rows)


def list_quarantined(
    session: Session, *, organisation_id: int, after: int | None, limit: int
) -> list[QuarantineView]:
    """The organisation's quarantined objects, oldest first, after the key ``after``."""
    stmt = (
        select(QuarantinedObject, TaxiiCollection.uuid)
        .outerjoin(TaxiiCollection, TaxiiCollection.id == QuarantinedObject.collection_id)
        .where(QuarantinedObject.organisation_id == organisation_id)
        .order_by(QuarantinedObject.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(QuarantinedObject.id > after)
    return [
        QuarantineView(
            id=row.id,
            collection_id=collection_uuid,
            stix_id=row.stix_id,
            version=row.version,
            reason=row.reason,
            detail=row.detail,
            received_at=row.received_at,
            received_from=row.received_from,
            status_id=row.status_id,
            body=row.body,
        )
        for row, collection_uuid in session.execute(stmt).all()
    ]
