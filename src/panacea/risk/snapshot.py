"""Risk snapshots: every assessment is stored, so trends can be drawn."""

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
