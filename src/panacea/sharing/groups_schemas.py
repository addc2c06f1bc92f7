"""Request and response bodies of the sharing-group routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from panacea.sharing.groups import (
    MAX_DESCRIPTION,
    MAX_NAME,
    GroupView,
    InvitationView,
    MemberView,
)


class GroupCreate(BaseModel):
    """A new sharing group, owned by the organisation of the path."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"\S")
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class InvitationCreate(BaseModel):
    """The organisation to invite into the group."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: int = Field(ge=1, le=2**31 - 1)


class GroupOut(BaseModel):
    """A sharing group as a member sees it."""

    id: int
    name: str
    description: str
    owner_organisation_id: int
    owner_name: str
    created_at: datetime
    member_count: int

    @classmethod
    def of(cls, view: GroupView) -> GroupOut:
        return cls(
            id=view.id,
            name=view.name,
            description=view.description,
            owner_organisation_id=view.owner_organisation_id,
            owner_name=view.owner_name,
            created_at=view.created_at,
            member_count=view.member_count,
        )


class MemberOut(BaseModel):
    """A member organisation of a group."""

    organisation_id: int
    name: str
    joined_at: datetime
    owner: bool

    @classmethod
    def of(cls, view: MemberView) -> MemberOut:
        return cls(
            organisation_id=view.organisation_id,
            name=view.name,
            joined_at=view.joined_at,
            owner=view.owner,
        )


class InvitationOut(BaseModel):
    """A pending invitation: the group's name and owner, never its members."""

    id: int
    group_id: int
    group_name: str
    owner_organisation_id: int
    owner_name: str
    organisation_id: int = Field(description="The invited organisation")
    organisation_name: str
    created_at: datetime

    @classmethod
    def of(cls, view: InvitationView) -> InvitationOut:
        return cls(
            id=view.id,
            group_id=view.group_id,
            group_name=view.group_name,
            owner_organisation_id=view.owner_organisation_id,
            owner_name=view.owner_name,
            organisation_id=view.organisation_id,
            organisation_name=view.organisation_name,
            created_at=view.created_at,
        )
