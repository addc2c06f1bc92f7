"""Per-organisation overrides: mitigation costs and extra purl-to-CPE mappings."""

from __future__ import annotations

from sqlalchemy import Float, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned


class MitigationCost(OrgOwned, Base):
    """Cost (currency units) and effort (person-days) of a mitigation kind, maybe per target."""

    __tablename__ = "mitigation_cost"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200), default="*")
    cost: Mapped[float] = mapped_column(Float)
    effort_days: Mapped[float] = mapped_column(Float, default=0.0)


class PurlCpeRule(OrgOwned, Base):
    """Maps a package (purl type/namespace/name) to the CPE vendor:product NVD uses for it."""

    __tablename__ = "purl_cpe_rule"
    __table_args__ = (UniqueConstraint("organisation_id", "purl_type", "namespace", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purl_type: Mapped[str] = mapped_column(String(50))
    namespace: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200))
    cpe_vendor: Mapped[str] = mapped_column(String(200))
    cpe_product: Mapped[str] = mapped_column(String(200))
