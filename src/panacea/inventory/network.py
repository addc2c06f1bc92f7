"""Network zones and the reachability rules between them."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned


class Zone(OrgOwned, Base):
    """A network zone. Within a zone hosts reach each other unless ``isolated``."""

    __tablename__ = "zone"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    isolated: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(500), default="")


class ReachabilityRule(OrgOwned, Base):
    """``from_zone -> to_zone : protocol/ports`` allowed; everything else between zones is denied.

    ``ports`` is ``*`` or a comma-separated list of ports and ranges (``22,443,8000-8100``).
    """

    __tablename__ = "reachability_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id", ondelete="CASCADE"), index=True)
    to_zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    ports: Mapped[str] = mapped_column(String(500), default="*")
    description: Mapped[str] = mapped_column(String(500), default="")
