"""Risk snapshots: every assessment is stored, so trends can be drawn and shown again.

A snapshot keeps the figures (per service: probability, risk class, expected loss) and, since
migration 0005, the assessment's ``panacea.assessment/1`` document (``risk.report_json``), so
that what explains the figures (each service's top scenarios, each asset's probability) is
read back instead of rebuilding the model. Snapshots stored before that have no document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class RiskSnapshot(OrgOwned, Base):
    __tablename__ = "risk_snapshot"

    id: Mapped[int] = mapped_column(primary_key=True)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model_version: Mapped[str] = mapped_column(String(40))
    entries: Mapped[list[str]] = mapped_column(JSON, default=list)
    trigger: Mapped[str] = mapped_column(String(100), default="assessment")
    total_expected_loss: Mapped[float] = mapped_column(Float, default=0.0)
    # service key -> {"probability", "risk_class", "expected_loss"}
    services: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The panacea.assessment/1 document; None on snapshots stored before migration 0005.
    # Deferred: about 1.2 MB at 20,000 assets, and a trend reads many snapshots, no document.
    document: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), default=None, deferred=True
    )


def store_snapshot(session: Session, snapshot: RiskSnapshot) -> RiskSnapshot:
    session.add(snapshot)
    session.flush()
    return snapshot


def list_snapshots(
    session: Session, organisation_id: int, *, limit: int = 100
) -> list[RiskSnapshot]:
    """The organisation's newest ``limit`` snapshots, oldest first."""
    rows = session.scalars(
        select(RiskSnapshot)
        .where(RiskSnapshot.organisation_id == organisation_id)
        .order_by(RiskSnapshot.generated_at.desc(), RiskSnapshot.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def snapshots_query(
    organisation_id: int, *, since: datetime | None = None, until: datetime | None = None
) -> Select[RiskSnapshot]:
    """The organisation's snapshots generated in ``[since, until)`` (either bound optional)."""
    stmt = select(RiskSnapshot).where(RiskSnapshot.organisation_id == organisation_id)
    if since is not None:
        stmt = stmt.where(RiskSnapshot.generated_at >= since)
    if until is not None:
        stmt = stmt.where(RiskSnapshot.generated_at < until)
    return stmt


def snapshot_in(session: Session, organisation_id: int, snapshot_id: int) -> RiskSnapshot | None:
    """Snapshot ``snapshot_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(RiskSnapshot).where(
            RiskSnapshot.id == snapshot_id, RiskSnapshot.organisation_id == organisation_id
        )
    )


def latest_snapshot(session: Session, organisation_id: int) -> RiskSnapshot | None:
    """The organisation's newest snapshot, or None before its first assessment."""
    return session.scalar(
        select(RiskSnapshot)
        .where(RiskSnapshot.organisation_id == organisation_id)
        .order_by(RiskSnapshot.generated_at.desc(), RiskSnapshot.id.desc())
        .limit(1)
    )


def stored_document(
    session: Session, organisation_id: int, snapshot_id: int
) -> dict[str, Any] | None:
    """The assessment document stored with the organisation's snapshot ``snapshot_id``.

    None if the snapshot has none (stored before migration 0005), is not the organisation's,
    or does not exist.
    """
    document: dict[str, Any] | None = session.scalar(
        select(RiskSnapshot.document).where(
            RiskSnapshot.id == snapshot_id, RiskSnapshot.organisation_id == organisation_id
        )
    )
    return document
