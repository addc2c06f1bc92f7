"""Tables of vulnerability knowledge. Shared by all organisations: public data, no owner."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, utcnow


class Vulnerability(Base):
    """One CVE with its CVSS metrics, CWEs, applicability and exploitation signals."""

    __tablename__ = "vulnerability"

    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    published: Mapped[datetime | None]
    last_modified: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    cvss_v30_vector: Mapped[str | None] = mapped_column(String(200))
    cvss_v30_score: Mapped[float | None] = mapped_column(Float)
    cvss_v31_vector: Mapped[str | None] = mapped_column(String(200))
    cvss_v31_score: Mapped[float | None] = mapped_column(Float)
    cvss_v40_vector: Mapped[str | None] = mapped_column(String(300))
    cvss_v40_score: Mapped[float | None] = mapped_column(Float)
    cwes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # NVD ``configurations`` as published: a list of {nodes: [...], operator?} objects.
    configurations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    kev: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    kev_date_added: Mapped[date | None] = mapped_column(Date)
    kev_due_date: Mapped[date | None] = mapped_column(Date)
    kev_ransomware: Mapped[str | None] = mapped_column(String(20))
    kev_name: Mapped[str | None] = mapped_column(String(300))
    epss: Mapped[float | None] = mapped_column(Float)
    epss_percentile: Mapped[float | None] = mapped_column(Float)
    epss_date: Mapped[date | None] = mapped_column(Date)
    nvd_loaded: Mapped[bool] = mapped_column(Boolean, default=False)


class VulnerableProduct(Base):
    """Index of the ``vendor:product`` pairs a CVE's configurations mention, to find candidates."""

    __tablename__ = "vulnerable_product"
    __table_args__ = (Index("ix_vulnerable_product_vendor_product", "vendor", "product"),)

    cve_id: Mapped[str] = mapped_column(
        ForeignKey("vulnerability.cve_id", ondelete="CASCADE"), primary_key=True
    )
    vendor: Mapped[str] = mapped_column(String(200), primary_key=True)
    product: Mapped[str] = mapped_column(String(200), primary_key=True)


class FeedState(Base):
    """When each feed was last loaded, from where, and what it said of itself."""

    __tablename__ = "feed_state"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[str] = mapped_column(String(100), default="")
    records: Mapped[int] = mapped_column(default=0)
