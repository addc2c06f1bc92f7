"""Routes of user administration: ``/orgs/{org_id}/users`` (the rules are in the services).

Only members of the organisation of the path are ever listed or changed: anyone else's id
answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, after_id, page_of
from panacea.identity import accounts, users
from panacea.identity.actors import Actor
from panacea.identity.leavers import disable_user as disable_account
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.identity.user_views import list_users, member_view
from panacea.identity.users_schemas import (
    DisableRequest,
    MemberCreate,
    MemberCreated,
    MemberOut,
    MemberPatch,
    MfaResetOut,
)

router = APIRouter(prefix="/orgs/{org_id}/users", tags=["users"])
ReadUsers = Annotated[OrgAccess, Depends(require(Permission.USERS_READ))]
ManageUsers = Annotated[OrgAccess, Depends(require(Permission.USERS_MANAGE))]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="User id")]


@router.get(
    "",
    summary="Members with their role, second factors and whether they are disabled",
    response_model=Page[MemberOut],
)
def get_users(
    access: ReadUsers, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[MemberOut]:
    views = list_users(db, access.organisation_id, after=after_id(cursor), limit=limit + 1)
    page = page_of(views, limit=limit, key=lambda v: v.user_id)
    return Page[MemberOut](items=[MemberOut.of(v) for v in page.items], next=page.next)


@router.post(
    "",
    status_code=201,
    summary="Add a member (a new account gets a one-time password, shown once)",
    response_model=MemberCreated,
)
def add_user(body: MemberCreate, access: ManageUsers, db: Db) -> MemberCreated:
    added = users.add_member(
        db,
        access.organisation_id,
        email=body.email,
        role=body.role,
        display_name=body.display_name,
        break_glass_eligible=body.break_glass_eligible,
        actor=Actor.of(access),
    )
    return MemberCreated(member=MemberOut.of(added.member), initial_password=added.initial_password)


@router.patch(
    "/{user_id}",
    summary="Change a member's role or break-glass eligibility (audited)",
    response_model=MemberOut,
)
def update_user(user_id: UserId, body: MemberPatch, access: ManageUsers, db: Db) -> MemberOut:
    actor, org_id = Actor.of(access), access.organisation_id
    view = member_view(db, org_id, user_id)
    if body.role is not None:
        view = users.set_role(db, org_id, user_id, body.role, actor=actor)
    if body.break_glass_eligible is not None:
        view = users.set_break_glass_eligible(
            db, org_id, user_id, body.break_glass_eligible, actor=actor
        )
    return MemberOut.of(view)


@router.delete(
    "/{user_id}",
    status_code=204,
    summary="Remove a member from the organisation (their tokens here are revoked)",
    response_class=Response,
)
def remove_user(user_id: UserId, access: ManageUsers, db: Db) -> Response:
    users.remove_member(db, access.organisation_id, user_id, actor=Actor.of(access))
    return Response(status_code=204)


@router.post(
    "/{user_id}/disable",
    summary="Disable a member's account (sessions and tokens revoked)",
    response_model=MemberOut,
)
def disable_user(
    user_id: UserId, access: ManageUsers, db: Db, body: DisableRequest | None = None
) -> MemberOut:
    disable_account(
        db,
        user_id,
        actor=Actor.of(access),
        organisation_id=access.organisation_id,
        reason=body.reason if body is not None else "",
    )
    return MemberOut.of(member_view(db, access.organisation_id, user_id))


@router.post(
    "/{user_id}/reset-mfa",
    summary="Remove a member's TOTP, recovery codes and passkeys; end their sessions",
    response_model=MfaResetOut,
)
def reset_user_mfa(user_id: UserId, access: ManageUsers, db: Db) -> MfaResetOut:
    removed = accounts.reset_member_mfa(db, access.organisation_id, user_id, actor=Actor.of(access))
    return MfaResetOut(**removed)
