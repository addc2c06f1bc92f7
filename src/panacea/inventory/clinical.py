"""Clinical services and what they depend on."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned


class ClinicalService(OrgOwned, Base):
    """A service of care (emergency triage, PACS imaging, EHR...) and what its loss costs."""

    __tablename__ = "clinical_service"
    __table_args__ = (UniqueConstraint("organisation_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    patient_safety: Mapped[str] = mapped_column(String(16), default="none")
    cost_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    recovery_hours: Mapped[float] = mapped_column(Float, default=0.0)
    records_at_stake: Mapped[int] = mapped_column(Integer, default=0)
    cost_per_record: Mapped[float] = mapped_column(Float, default=0.0)


class RedundancyGroup(OrgOwned, Base):
    """A k-of-n group: the service works while at least ``k`` of the member assets work."""

    __tablename__ = "redundancy_group"
    __table_args__ = (UniqueConstraint("service_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("clinical_service.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    k: Mapped[int] = mapped_column(Integer, default=1)


class ServiceAssetDependency(OrgOwned, Base):
    """A service needs an asset's confidentiality, integrity and/or availability.

    ``needs`` holds the letters of CIA that matter.

    When ``redundancy_group_id`` is set the asset is one of a k-of-n group.
    """

    __tablename__ = "service_asset_dependency"
    __table_args__ = (UniqueConstraint("service_id", "asset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("clinical_service.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    needs: Mapped[str] = mapped_column(String(3), default="CIA")
    redundancy_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("redundancy_group.id", ondelete="CASCADE"), index=True
    )


class ServiceDependency(OrgOwned, Base):
    """A service that cannot run without another service."""

    __tablename__ = "service_dependency"
    __table_args__ = (UniqueConstraint("service_id", "depends_on_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("clinical_service.id", ondelete="CASCADE"), index=True
    )
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("clinical_service.id", ondelete="CASCADE"), index=True
    )
