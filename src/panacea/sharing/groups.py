"""Sharing groups: named sets of organisations, visible only to their members.

Rules (every one enforced here, whatever the caller):

- An organisation learns of a group only when it is a member, or when it is invited (it then
  sees the group's name and owner, never its members). For anyone else the group does not
  exist: NotFoundError, the same answer as for an id that was never used.
- The organisation that creates a group owns it: it invites organisations and removes members.
  An invited organisation joins only by accepting (membership is visible to every member, so
  nobody is listed without agreeing to it). A member may leave; the owner may not (the group
  would have nobody to manage it).
- Every change is audited in the acting organisation's chain; joining, declining and removal
  are also recorded in the owner's chain (and removal in the removed member's), so each side
  can see who changed its membership and when.

:func:`groups_for_share` gives :mod:`panacea.sharing.policy` the members of the groups a
sender shares through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.identity.audit import AuditEvent, append
from panacea.identity.errors import ConflictError, NotFoundError, PermissionDeniedError
from panacea.identity.principal import OrgAccess
from panacea.inventory.organisation import Organisation
from panacea.sharing.errors import SharingGroupError
from panacea.sharing.group_models import (
    SharingGroup,
    SharingGroupInvitation,
    SharingGroupMember,
)
from panacea.sharing.policy import GroupMembers

MAX_NAME = 200
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class GroupView:
    """A group as one of its members (or an invitee) sees it."""

    id: int
    name: str
    description: str
    owner_organisation_id: int
    owner_name: str
    created_at: datetime
    member_count: int


@dataclass(frozen=True)
class MemberView:
    """A member organisation, as the other members see it."""

    organisation_id: int
    name: str
    joined_at: datetime
    owner: bool


@dataclass(frozen=True)
class InvitationView:
    """A pending invitation: the group's name and owner, never its members."""

    id: int
    group_id: int
    group_name: str
    owner_organisation_id: int
    owner_name: str
    organisation_id: int
    organisation_name: str
    created_at: datetime


def _group_target(group_id: int) -> str:
    return f"sharing_group:{group_id}"


def _not_found(group_id: int) -> NotFoundError:
    return NotFoundError(f"no sharing group {group_id}")


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME:
        raise SharingGroupError(f"a sharing group name has 1 to {MAX_NAME} characters")
    return cleaned


def is_member(session: Session, organisation_id: int, group_id: int) -> bool:
    """True if the organisation is a member of the group."""
    found = session.execute(
        select(SharingGroupMember.id).where(
            SharingGroupMember.group_id == group_id,
            SharingGroupMember.organisation_id == organisation_id,
        )
    ).first()
    return found is not None


def _member_group(session: Session, organisation_id: int, group_id: int) -> SharingGroup:
    """The group if the organisation is a member. Raises NotFoundError otherwise."""
    group = session.get(SharingGroup, group_id)
    if group is None or not is_member(session, organisation_id, group_id):
        raise _not_found(group_id)
    return group


def _owned_group(session: Session, organisation_id: int, group_id: int) -> SharingGroup:
    """The group if the organisation owns it: NotFoundError for non-members,
    PermissionDeniedError for members that are not the owner."""
    group = _member_group(session, organisation_id, group_id)
    if group.organisation_id != organisation_id:
        raise PermissionDeniedError(
            f"only the owner organisation {group.organisation_id} manages the membership "
            f"of sharing group {group_id}"
        )
    return group


def _view(session: Session, group: SharingGroup) -> GroupView:
    owner = session.get(Organisation, group.organisation_id)
    count = session.execute(
        select(func.count()).where(SharingGroupMember.group_id == group.id)
    ).scalar_one()
    return GroupView(
        id=group.id,
        name=group.name,
        description=group.description,
        owner_organisation_id=group.organisation_id,
        owner_name=owner.name if owner is not None else "",
        created_at=group.created_at,
        member_count=int(count),
    )


def create_group(
    session: Session, access: OrgAccess, *, name: str, description: str = ""
) -> GroupView:
    """Create a group owned (and joined) by the caller's organisation; audited.

    Raises SharingGroupError for an empty or too long name or description, ConflictError if
    the organisation already owns a group of that name.
    """
    cleaned = _clean_name(name)
    if len(description) > MAX_DESCRIPTION:
        raise SharingGroupError(
            f"a sharing group description has at most {MAX_DESCRIPTION} characters"
        )
    owner = access.organisation_id
    group = SharingGroup(name=cleaned, description=description, organisation_id=owner)
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError as e:
        raise ConflictError(
            f"organisation {owner} already owns a sharing group named {cleaned!r}"
        ) from e
    session.add(SharingGroupMember(group_id=group.id, organisation_id=owner))
    session.flush()
    append(
        session, access.event("sharing.group_created", target=_group_target(group.id), name=cleaned)
    )
    return _view(session, group)


def groups_of(
    session: Session, organisation_id: int, *, after: int | None = None, limit: int = 100
) -> list[GroupView]:
    """The groups the organisation is a member of, by id, after ``after``."""
    stmt = (
        select(SharingGroup)
        .join(SharingGroupMember, SharingGroupMember.group_id == SharingGroup.id)
        .where(SharingGroupMember.organisation_id == organisation_id)
        .order_by(SharingGroup.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(SharingGroup.id > after)
    return [_view(session, g) for g in session.execute(stmt).scalars()]


def group_of(session: Session, organisation_id: int, group_id: int) -> GroupView:
    """One group the organisation is a member of. Raises NotFoundError otherwise."""
    return _view(session, _member_group(session, organisation_id, group_id))


def members_of(
    session: Session,
    organisation_id: int,
    group_id: int,
    *,
    after: int | None = None,
    limit: int = 100,
) -> list[MemberView]:
    """The members of a group, by organisation id; only for a member (NotFoundError otherwise)."""
    group = _member_group(session, organisation_id, group_id)
    stmt = (
        select(SharingGroupMember, Organisation)
        .join(Organisation, Organisation.id == SharingGroupMember.organisation_id)
        .where(SharingGroupMember.group_id == group_id)
        .order_by(SharingGroupMember.organisation_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(SharingGroupMember.organisation_id > after)
    return [
        MemberView(
            organisation_id=org.id,
            name=org.name,
            joined_at=member.joined_at,
            owner=org.id == group.organisation_id,
        )
        for member, org in session.execute(stmt)
    ]


def _invitation_view(session: Session, invitation: SharingGroupInvitation) -> InvitationView:
    group = session.get(SharingGroup, invitation.group_id)
    assert group is not None  # the foreign key cascades
    owner = session.get(Organisation, group.organisation_id)
    invitee = session.get(Organisation, invitation.organisation_id)
    return InvitationView(
        id=invitation.id,
        group_id=group.id,
        group_name=group.name,
        owner_organisation_id=group.organisation_id,
        owner_name=owner.name if owner is not None else "",
        organisation_id=invitation.organisation_id,
        organisation_name=invitee.name if invitee is not None else "",
        created_at=invitation.created_at,
    )


def invite(
    session: Session, access: OrgAccess, group_id: int, organisation_id: int
) -> InvitationView:
    """Invite an organisation into a group the caller's organisation owns; audited.

    Raises NotFoundError if the caller's organisation is not a member of the group or the
    invitee does not exist, PermissionDeniedError if it is a member but not the owner,
    ConflictError if the invitee is already a member or already invited.
    """
    _owned_group(session, access.organisation_id, group_id)
    if session.get(Organisation, organisation_id) is None:
        raise NotFoundError(f"no organisation {organisation_id}")
    if is_member(session, organisation_id, group_id):
        raise ConflictError(
            f"organisation {organisation_id} is already a member of group {group_id}"
        )
    invitation = SharingGroupInvitation(
        group_id=group_id,
        organisation_id=organisation_id,
        invited_by_user_id=access.principal.user_id,
    )
    try:
        with session.begin_nested():
            session.add(invitation)
            session.flush()
    except IntegrityError as e:
        raise ConflictError(
            f"organisation {organisation_id} is already invited into group {group_id}"
        ) from e
    append(
        session,
        access.event(
            "sharing.group_invitation_sent",
            target=_group_target(group_id),
            invitee_organisation_id=organisation_id,
            invitation_id=invitation.id,
        ),
    )
    return _invitation_view(session, invitation)


def invitations_sent(
    session: Session,
    organisation_id: int,
    group_id: int,
    *,
    after: int | None = None,
    limit: int = 100,
) -> list[InvitationView]:
    """The pending invitations of a group its owner sees (NotFound / PermissionDenied else)."""
    _owned_group(session, organisation_id, group_id)
    stmt = (
        select(SharingGroupInvitation)
        .where(SharingGroupInvitation.group_id == group_id)
        .order_by(SharingGroupInvitation.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(SharingGroupInvitation.id > after)
    return [_invitation_view(session, i) for i in session.execute(stmt).scalars()]


def invitations_received(
    session: Session, organisation_id: int, *, after: int | None = None, limit: int = 100
) -> list[InvitationView]:
    """The organisation's pending invitations, by id."""
    stmt = (
        select(SharingGroupInvitation)
        .where(SharingGroupInvitation.organisation_id == organisation_id)
        .order_by(SharingGroupInvitation.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(SharingGroupInvitation.id > after)
    return [_invitation_view(session, i) for i in session.execute(stmt).scalars()]


def _received(session: Session, organisation_id: int, invitation_id: int) -> SharingGroupInvitation:
    invitation = session.get(SharingGroupInvitation, invitation_id)
    if invitation is None or invitation.organisation_id != organisation_id:
        raise NotFoundError(f"no invitation {invitation_id}")
    return invitation


def _also_for(event: AuditEvent, organisation_id: int) -> AuditEvent:
    """The same event recorded in another organisation's chain."""
    return replace(event, organisation_id=organisation_id)


def accept_invitation(session: Session, access: OrgAccess, invitation_id: int) -> GroupView:
    """The caller's organisation joins the group it was invited into; audited on both sides.

    Raises NotFoundError for an invitation that is not the organisation's.
    """
    invitation = _received(session, access.organisation_id, invitation_id)
    group = session.get(SharingGroup, invitation.group_id)
    assert group is not None  # the foreign key cascades
    session.delete(invitation)
    session.add(SharingGroupMember(group_id=group.id, organisation_id=access.organisation_id))
    session.flush()
    event = access.event(
        "sharing.group_member_added",
        target=_group_target(group.id),
        member_organisation_id=access.organisation_id,
        invitation_id=invitation_id,
    )
    append(session, event)
    append(session, _also_for(event, group.organisation_id))
    return _view(session, group)


def decline_invitation(session: Session, access: OrgAccess, invitation_id: int) -> None:
    """The caller's organisation declines an invitation; audited on both sides."""
    invitation = _received(session, access.organisation_id, invitation_id)
    group = session.get(SharingGroup, invitation.group_id)
    assert group is not None
    session.delete(invitation)
    session.flush()
    event = access.event(
        "sharing.group_invitation_declined",
        target=_group_target(group.id),
        invitation_id=invitation_id,
    )
    append(session, event)
    append(session, _also_for(event, group.organisation_id))


def revoke_invitation(
    session: Session, access: OrgAccess, group_id: int, invitation_id: int
) -> None:
    """The owner withdraws a pending invitation; audited."""
    _owned_group(session, access.organisation_id, group_id)
    invitation = session.get(SharingGroupInvitation, invitation_id)
    if invitation is None or invitation.group_id != group_id:
        raise NotFoundError(f"no invitation {invitation_id} in group {group_id}")
    invitee = invitation.organisation_id
    session.delete(invitation)
    session.flush()
    append(
        session,
        access.event(
            "sharing.group_invitation_revoked",
            target=_group_target(group_id),
            invitation_id=invitation_id,
            invitee_organisation_id=invitee,
        ),
    )


def remove_member(
    session: Session, access: OrgAccess, group_id: int, member_organisation_id: int
) -> None:
    """The owner removes a member, or a member leaves (removes itself); audited.

    Raises NotFoundError if the caller's organisation is not a member (or the organisation
    to remove is not one), PermissionDeniedError if a non-owner removes another member,
    SharingGroupError if the owner tries to leave its own group.
    """
    caller = access.organisation_id
    group = _member_group(session, caller, group_id)
    if member_organisation_id != caller and group.organisation_id != caller:
        raise PermissionDeniedError(
            f"only the owner organisation {group.organisation_id} removes other members "
            f"of sharing group {group_id}"
        )
    if member_organisation_id == group.organisation_id:
        raise ConflictError(
            f"organisation {member_organisation_id} owns sharing group {group_id}: "
            "the owner cannot leave it"
        )
    member = session.execute(
        select(SharingGroupMember).where(
            SharingGroupMember.group_id == group_id,
            SharingGroupMember.organisation_id == member_organisation_id,
        )
    ).scalar_one_or_none()
    if member is None:
        raise NotFoundError(
            f"organisation {member_organisation_id} is not a member of group {group_id}"
        )
    session.delete(member)
    session.flush()
    event = access.event(
        "sharing.group_member_removed",
        target=_group_target(group_id),
        member_organisation_id=member_organisation_id,
    )
    append(session, event)
    for other in {group.organisation_id, member_organisation_id} - {caller}:
        append(session, _also_for(event, other))


def member_ids(session: Session, group_id: int) -> frozenset[int]:
    """Every member organisation of a group (internal: no visibility check)."""
    rows = session.execute(
        select(SharingGroupMember.organisation_id).where(SharingGroupMember.group_id == group_id)
    ).scalars()
    return frozenset(rows)


def groups_for_share(
    session: Session, organisation_id: int, group_ids: Iterable[int]
) -> list[GroupMembers]:
    """The groups a sender shares through, with their members now, for the policy.

    Raises NotFoundError for a group the sender is not a member of (as if it did not exist).
    """
    found: list[GroupMembers] = []
    for group_id in sorted(set(group_ids)):
        group = _member_group(session, organisation_id, group_id)
        found.append(
            GroupMembers(id=group.id, name=group.name, members=member_ids(session, group.id))
        )
    return found
