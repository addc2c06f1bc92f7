"""Routes of sharing groups: ``/orgs/{org_id}/sharing-groups`` and ``/sharing-invitations``.

The visibility rules live in :mod:`panacea.sharing.groups`: a group that the organisation of
the path is not a member of answers 404, exactly like a group that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, after_id, page_of
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.sharing import groups
from panacea.sharing.groups_schemas import (
    GroupCreate,
    GroupOut,
    InvitationCreate,
    InvitationOut,
    MemberOut,
)

router = APIRouter(prefix="/orgs/{org_id}", tags=["sharing groups"])
ReadSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_READ))]
PublishSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_PUBLISH))]
GroupId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Sharing group id")]
InvitationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Invitation id")]
MemberId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Member organisation id")]


@router.get(
    "/sharing-groups",
    summary="Sharing groups the organisation is a member of",
    response_model=Page[GroupOut],
)
def list_groups(
    access: ReadSharing, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[GroupOut]:
    views = groups.groups_of(db, access.organisation_id, after=after_id(cursor), limit=limit + 1)
    page = page_of(views, limit=limit, key=lambda v: v.id)
    return Page[GroupOut](items=[GroupOut.of(v) for v in page.items], next=page.next)


@router.post(
    "/sharing-groups",
    status_code=201,
    summary="Create a sharing group owned by the organisation",
    response_model=GroupOut,
)
def create_group(body: GroupCreate, access: PublishSharing, db: Db) -> GroupOut:
    view = groups.create_group(db, access, name=body.name, description=body.description)
    return GroupOut.of(view)


@router.get(
    "/sharing-groups/{group_id}",
    summary="One sharing group (members only)",
    response_model=GroupOut,
)
def get_group(group_id: GroupId, access: ReadSharing, db: Db) -> GroupOut:
    return GroupOut.of(groups.group_of(db, access.organisation_id, group_id))


@router.get(
    "/sharing-groups/{group_id}/members",
    summary="Members of a sharing group (members only)",
    response_model=Page[MemberOut],
)
def list_members(
    group_id: GroupId,
    access: ReadSharing,
    db: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MemberOut]:
    views = groups.members_of(
        db, access.organisation_id, group_id, after=after_id(cursor), limit=limit + 1
    )
    page = page_of(views, limit=limit, key=lambda v: v.organisation_id)
    return Page[MemberOut](items=[MemberOut.of(v) for v in page.items], next=page.next)


@router.delete(
    "/sharing-groups/{group_id}/members/{member_org_id}",
    status_code=204,
    summary="Remove a member (owner), or leave the group (the member itself)",
    response_class=Response,
)
def remove_member(
    group_id: GroupId, member_org_id: MemberId, access: PublishSharing, db: Db
) -> Response:
    groups.remove_member(db, access, group_id, member_org_id)
    return Response(status_code=204)


@router.post(
    "/sharing-groups/{group_id}/invitations",
    status_code=201,
    summary="Invite an organisation into the group (owner only)",
    response_model=InvitationOut,
)
def invite(
    group_id: GroupId, body: InvitationCreate, access: PublishSharing, db: Db
) -> InvitationOut:
    return InvitationOut.of(groups.invite(db, access, group_id, body.organisation_id))


@router.get(
    "/sharing-groups/{group_id}/invitations",
    summary="Pending invitations of the group (owner only)",
    response_model=Page[InvitationOut],
)
def list_sent_invitations(
    group_id: GroupId,
    access: ReadSharing,
    db: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[InvitationOut]:
    views = groups.invitations_sent(
        db, access.organisation_id, group_id, after=after_id(cursor), limit=limit + 1
    )
    page = page_of(views, limit=limit, key=lambda v: v.id)
    return Page[InvitationOut](items=[InvitationOut.of(v) for v in page.items], next=page.next)


@router.delete(
    "/sharing-groups/{group_id}/invitations/{invitation_id}",
    status_code=204,
    summary="Withdraw a pending invitation (owner only)",
    response_class=Response,
)
def revoke_invitation(
    group_id: GroupId, invitation_id: InvitationId, access: PublishSharing, db: Db
) -> Response:
    groups.revoke_invitation(db, access, group_id, invitation_id)
    return Response(status_code=204)


@router.get(
    "/sharing-invitations",
    summary="Invitations the organisation received",
    response_model=Page[InvitationOut],
)
def list_received_invitations(
    access: ReadSharing, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[InvitationOut]:
    views = groups.invitations_received(
        db, access.organisation_id, after=after_id(cursor), limit=limit + 1
    )
    page = page_of(views, limit=limit, key=lambda v: v.id)
    return Page[InvitationOut](items=[InvitationOut.of(v) for v in page.items], next=page.next)


@router.post(
    "/sharing-invitations/{invitation_id}/accept",
    summary="Accept an invitation: the organisation joins the group",
    response_model=GroupOut,
)
def accept_invitation(invitation_id: InvitationId, access: PublishSharing, db: Db) -> GroupOut:
    return GroupOut.of(groups.accept_invitation(db, access, invitation_id))


@router.post(
    "/sharing-invitations/{invitation_id}/decline",
    status_code=204,
    summary="Decline an invitation",
    response_class=Response,
)
def decline_invitation(invitation_id: InvitationId, access: PublishSharing, db: Db) -> Response:
    groups.decline_invitation(db, access, invitation_id)
    return Response(status_code=204)
