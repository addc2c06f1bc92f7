"""Tables of what received intelligence means for the organisation's risk.

Derived from received objects by the rules of :mod:`panacea.sharing.intel` (rebuilt whole
whenever something new is received), and read by the risk model
(:func:`panacea.risk.inputs.load_inputs`):

- :class:`IntelSightingRecord`: a peer's report that CVE X is exploited, with the confidence
  the rule gives it and the report's anonymised source (cited by explanations);
- :class:`IntelEvidenceRecord`: a received indicator that names one of the organisation's
  assets (its address or host name): evidence that the asset is compromised.

This module holds tables only (no import of the sharing services), so the risk model can read
it without depending on them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class IntelSightingRecord(OrgOwned, Base):
    """A received report that ``cve`` is exploited, as the rule weighs it."""

    __tablename__ = "sharing_intel_sighting"
    __table_args__ = (UniqueConstraint("organisation_id", "cve", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cve: Mapped[str] = mapped_column(String(30), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    # The STIX id of the report (an incident, or a sighting), its name as received, and its
    # source as an explanation may cite it (a pseudonym, never the organisation's name).
    report_id: Mapped[str] = mapped_column(String(300))
    report_name: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(100))
    reported_at: Mapped[datetime]
    derived_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntelEvidenceRecord(OrgOwned, Base):
    """A received indicator that matched an asset of the organisation."""

    __tablename__ = "sharing_intel_evidence"
    __table_args__ = (UniqueConstraint("organisation_id", "asset_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    indicator_id: Mapped[str] = mapped_column(String(300))
    # What matched, as ``type:value`` (the indicator's public value, e.g. ipv4:203.0.113.7).
    matched: Mapped[str] = mapped_column(String(600))
    report_id: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(100))
    derived_at: Mapped[datetime] = mapped_column(default=utcnow)
