"""The incident table: what happened to a hospital, as its security team recorded it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class Incident(OrgOwned, Base):
    """One security incident of an organisation.

    ``summary`` and ``lessons`` are free text and may hold patient data: they are anonymised
    before anything leaves the platform. ``affected_services`` is a snapshot (id, key, name) of
    the clinical services taken when the incident was written, so that an exported version
    never changes without the incident changing. ``indicators`` holds ``{"type", "value"}``
    pairs (``IndicatorType``); ``share_finding_ids`` lists the findings its owner chose to share
    with it (none by default: a finding advertises an unpatched hole).
    """

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    determination: Mapped[str] = mapped_column(String(24), default="suspected")
    detected_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    contained_at: Mapped[datetime | None]
    affected_asset_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    affected_services: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    techniques: Mapped[list[str]] = mapped_column(JSON, default=list)
    indicators: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    lessons: Mapped[str] = mapped_column(Text, default="")
    tlp: Mapped[str] = mapped_column(String(16), default="amber+strict")
    share_finding_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    mitigation_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("risk_plan.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
