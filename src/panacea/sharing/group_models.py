"""Tables of sharing groups: the groups, their member organisations, pending invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class SharingGroup(OrgOwned, Base):
    """A named set of organisations that share with each other (a community, an ISAC).

    ``organisation_id`` is the owner: the organisation that created the group and manages its
    membership. Names are unique per owner only: a platform-wide unique name would let a
    non-member learn, from a refused name, that a group exists.
    """

    __tablename__ = "sharing_group"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharingGroupMember(Base):
    """An organisation in a group (the owner is one from the start)."""

    __tablename__ = "sharing_group_member"
    __table_args__ = (UniqueConstraint("group_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("sharing_group.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharingGroupInvitation(Base):
    """An invitation of an organisation into a group, until the invitee accepts or declines.

    Joining is the invitee's decision: membership is visible to every member, so nobody is
    listed in a group without having agreed to it.
    """

    __tablename__ = "sharing_group_invitation"
    __table_args__ = (UniqueConstraint("group_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("sharing_group.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    invited_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
