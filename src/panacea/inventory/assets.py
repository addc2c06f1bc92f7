"""Assets, their addresses, network endpoints and software components."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panacea.db.base import Base, OrgOwned, utcnow


class Asset(OrgOwned, Base):
    """A host, device or appliance of the hospital."""

    __tablename__ = "asset"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="other")
    zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zone.id", ondelete="SET NULL"), index=True
    )
    # A remote-access gateway (SSL-VPN, vendor VPN): a logon on it places the user in this zone.
    remote_access_zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zone.id", ondelete="SET NULL")
    )
    hostname: Mapped[str | None] = mapped_column(String(255), index=True)
    os: Mapped[str | None] = mapped_column(String(200))
    os_cpe: Mapped[str | None] = mapped_column(String(500))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    criticality: Mapped[str] = mapped_column(String(16), default="medium")
    patchable: Mapped[str] = mapped_column(String(16), default="yes")
    controls: Mapped[list[str]] = mapped_column(JSON, default=list)
    known_cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(32), default="inventory")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    addresses: Mapped[list[AssetAddress]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", lazy="selectin"
    )
    endpoints: Mapped[list[Endpoint]] = relationship(
        back_populates="asset", cascade="all, delete-orphan"
    )
    components: Mapped[list[Component]] = relationship(
        back_populates="asset", cascade="all, delete-orphan"
    )


class AssetAddress(OrgOwned, Base):
    """An IPv4/IPv6 or MAC address of an asset; unique per organisation."""

    __tablename__ = "asset_address"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str | None] = mapped_column(String(200))

    asset: Mapped[Asset] = relationship(back_populates="addresses")


class Endpoint(OrgOwned, Base):
    """A network service an asset exposes (port/protocol) and what runs behind it."""

    __tablename__ = "endpoint"
    __table_args__ = (UniqueConstraint("asset_id", "port", "protocol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    port: Mapped[int] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    state: Mapped[str] = mapped_column(String(8), default="open")
    service: Mapped[str | None] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(100))
    cpe: Mapped[str | None] = mapped_column(String(500))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset] = relationship(back_populates="endpoints")


class Component(OrgOwned, Base):
    """A software component of an asset (from an SBOM or the inventory)."""

    __tablename__ = "component"
    __table_args__ = (Index("ix_component_asset_name_version", "asset_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[str | None] = mapped_column(String(100))
    purl: Mapped[str | None] = mapped_column(String(1000))
    cpe: Mapped[str | None] = mapped_column(String(500))
    supplier: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32), default="inventory")

    asset: Mapped[Asset] = relationship(back_populates="components")
