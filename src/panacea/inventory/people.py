"""Accounts, where they can log on, and the staff groups who use workstations."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned


class Account(OrgOwned, Base):
    """A directory, local, service or vendor account."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="user")
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(500), default="")


class AccountLogon(OrgOwned, Base):
    """Where an account can log on, and with which privilege: one asset or a whole zone."""

    __tablename__ = "account_logon"
    __table_args__ = (
        CheckConstraint("(asset_id IS NULL) <> (zone_id IS NULL)", name="asset_xor_zone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), index=True
    )
    zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zone.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(8), default="user")


class StaffGroup(OrgOwned, Base):
    """A group of staff (e.g. emergency nurses) with a size and a phishing susceptibility."""

    __tablename__ = "staff_group"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, default=1)
    phishing_susceptibility: Mapped[float] = mapped_column(Float, default=0.1)
    department: Mapped[str | None] = mapped_column(String(100))


class StaffWorkstation(OrgOwned, Base):
    """A workstation (or every asset of a zone) that a staff group uses."""

    __tablename__ = "staff_workstation"
    __table_args__ = (
        CheckConstraint("(asset_id IS NULL) <> (zone_id IS NULL)", name="asset_xor_zone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_group_id: Mapped[int] = mapped_column(
        ForeignKey("staff_group.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), index=True
    )
    zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zone.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
