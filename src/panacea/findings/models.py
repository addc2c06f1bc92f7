"""The finding table and its status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class Finding(OrgOwned, Base):
    """A CVE on an asset.

    ``locus`` says where on the asset: ``endpoint:<id>``, ``component:<id>`` or ``asset``; one
    finding per (asset, CVE, locus) so that re-matching and re-importing are idempotent.
    ``status_by_person`` is set once a person chose the status; automation never overrides it.
    """

    __tablename__ = "finding"
    __table_args__ = (
        UniqueConstraint("asset_id", "cve_id", "locus"),
        # Every column the risk model loads (risk.inputs), so that the load of an
        # organisation's findings reads this index and not the rows, whose evidence and
        # reasons make them wide: 200,566 findings came in 0.20-0.25 s instead of 0.38-0.40 s.
        Index(
            "ix_finding_risk_columns",
            "organisation_id",
            "status",
            "asset_id",
            "endpoint_id",
            "component_id",
            "cve_id",
            "confidence",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    cve_id: Mapped[str] = mapped_column(String(32), index=True)
    locus: Mapped[str] = mapped_column(String(40), default="asset")
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("endpoint.id", ondelete="CASCADE"), index=True
    )
    component_id: Mapped[int | None] = mapped_column(
        ForeignKey("component.id", ondelete="CASCADE"), index=True
    )
    confidence: Mapped[str] = mapped_column(String(16), default="potential")
    source: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[str] = mapped_column(Text, default="")
    matched_cpe: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_by_person: Mapped[bool] = mapped_column(Boolean, default=False)
    approver: Mapped[str | None] = mapped_column(String(200))
    accepted_until: Mapped[datetime | None]
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class FindingStatusChange(OrgOwned, Base):
    """Every status change of a finding, by a person or by automation."""

    __tablename__ = "finding_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("finding.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    old_status: Mapped[str] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="system")
