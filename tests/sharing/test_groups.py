"""Sharing groups (service level, SQLite and PostgreSQL): visibility, invitations, audit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import ConflictError, NotFoundError, PermissionDeniedError
from panacea.identity.models import Membership, User
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.roles import Role
from panacea.inventory.organisation import Organisation
from panacea.sharing import groups
from panacea.sharing.errors import NoRecipientsError, SharingGroupError
from panacea.sharing.policy import Share
from panacea.sharing.tlp import Tlp


@dataclass
class Hospitals:
    sessions: sessionmaker[Session]
    owner: OrgAccess
    invitee: OrgAccess
    outsider: OrgAccess


def _access(session: Session, name: str) -> OrgAccess:
    org = Organisation(name=name)
    user = User(email=f"lead@{name.lower().replace(' ', '-')}.example", display_name="Lead")
    session.add_all([org, user])
    session.flush()
    session.add(Membership(user_id=user.id, organisation_id=org.id, role=Role.SECURITY_LEAD.value))
    principal = Principal(user_id=user.id, email=user.email, via="session", assurance="mfa")
    return OrgAccess(
        principal=principal,
        organisation_id=org.id,
        role=Role.SECURITY_LEAD,
        base_role=Role.SECURITY_LEAD,
    )


@pytest.fixture
def hospitals(factory: sessionmaker[Session]) -> Hospitals:
    with factory.begin() as s:
        return Hospitals(
            sessions=factory,
            owner=_access(s, "Ospedale San Marco"),
            invitee=_access(s, "Klinikum Nordstadt"),
            outsider=_access(s, "Riverside General"),
        )


def _actions(session: Session, organisation_id: int) -> list[str]:
    return list(
        session.execute(
            select(AuditEntry.action)
            .where(
                AuditEntry.organisation_id == organisation_id, AuditEntry.action.like("sharing.%")
            )
            .order_by(AuditEntry.seq)
        ).scalars()
    )


def _group_with_member(w: Hospitals) -> int:
    with w.sessions.begin() as s:
        group = groups.create_group(s, w.owner, name="Regional ISAC", description="Lazio hospitals")
        invitation = groups.invite(s, w.owner, group.id, w.invitee.organisation_id)
        groups.accept_invitation(s, w.invitee, invitation.id)
        return group.id


def test_the_creator_owns_and_joins_its_group(hospitals: Hospitals) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        view = groups.create_group(s, w.owner, name="  Regional   ISAC ", description="Lazio")
    assert view.name == "Regional ISAC"
    assert view.owner_organisation_id == w.owner.organisation_id
    assert view.member_count == 1
    with w.sessions.begin() as s:
        members = groups.members_of(s, w.owner.organisation_id, view.id)
        assert [(m.organisation_id, m.owner) for m in members] == [(w.owner.organisation_id, True)]
        assert _actions(s, w.owner.organisation_id) == ["sharing.group_created"]


def test_group_names_are_unique_per_owner_only(hospitals: Hospitals) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        groups.create_group(s, w.owner, name="ISAC")
        # Another organisation may use the same name: refusing it would reveal the group.
        groups.create_group(s, w.outsider, name="ISAC")
    with w.sessions.begin() as s, pytest.raises(ConflictError, match="already owns"):
        groups.create_group(s, w.owner, name="ISAC")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_invalid_names_are_refused(hospitals: Hospitals, name: str) -> None:
    with hospitals.sessions.begin() as s, pytest.raises(SharingGroupError, match="1 to 200"):
        groups.create_group(s, hospitals.owner, name=name)


def test_non_members_learn_nothing_of_a_group(hospitals: Hospitals) -> None:
    w = hospitals
    group_id = _group_with_member(w)
    outsider = w.outsider.organisation_id
    with w.sessions.begin() as s:
        assert groups.groups_of(s, outsider) == []
        for call in (
            lambda: groups.group_of(s, outsider, group_id),
            lambda: groups.members_of(s, outsider, group_id),
            lambda: groups.groups_for_share(s, outsider, [group_id]),
            lambda: groups.invitations_sent(s, outsider, group_id),
        ):
            with pytest.raises(NotFoundError, match=f"no sharing group {group_id}") as caught:
                call()
            # The same answer as for a group that never existed.
            with pytest.raises(NotFoundError) as never:
                groups.group_of(s, outsider, group_id + 1000)
            assert str(caught.value).replace(str(group_id), "N") == str(never.value).replace(
                str(group_id + 1000), "N"
            )


def test_an_invited_organisation_sees_the_invitation_but_not_the_members(
    hospitals: Hospitals,
) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        group = groups.create_group(s, w.owner, name="Regional ISAC")
        groups.invite(s, w.owner, group.id, w.invitee.organisation_id)
    with w.sessions.begin() as s:
        [received] = groups.invitations_received(s, w.invitee.organisation_id)
        assert (received.group_name, received.owner_name) == ("Regional ISAC", "Ospedale San Marco")
        with pytest.raises(NotFoundError):
            groups.members_of(s, w.invitee.organisation_id, group.id)
        assert groups.groups_of(s, w.invitee.organisation_id) == []
        assert groups.invitations_received(s, w.outsider.organisation_id) == []


def test_accepting_makes_a_member_and_is_audited_on_both_sides(hospitals: Hospitals) -> None:
    w = hospitals
    group_id = _group_with_member(w)
    with w.sessions.begin() as s:
        names = [m.name for m in groups.members_of(s, w.invitee.organisation_id, group_id)]
        assert names == ["Ospedale San Marco", "Klinikum Nordstadt"]
        assert [g.id for g in groups.groups_of(s, w.invitee.organisation_id)] == [group_id]
        assert groups.invitations_received(s, w.invitee.organisation_id) == []
        assert _actions(s, w.owner.organisation_id) == [
            "sharing.group_created",
            "sharing.group_invitation_sent",
            "sharing.group_member_added",
        ]
        assert _actions(s, w.invitee.organisation_id) == ["sharing.group_member_added"]
        added = s.execute(
            select(AuditEntry).where(
                AuditEntry.organisation_id == w.owner.organisation_id,
                AuditEntry.action == "sharing.group_member_added",
            )
        ).scalar_one()
        assert added.actor_user_id == w.invitee.principal.user_id
        assert added.details["member_organisation_id"] == w.invitee.organisation_id


def test_declining_leaves_no_membership(hospitals: Hospitals) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        group = groups.create_group(s, w.owner, name="Regional ISAC")
        invitation = groups.invite(s, w.owner, group.id, w.invitee.organisation_id)
    with w.sessions.begin() as s:
        with pytest.raises(NotFoundError):
            groups.accept_invitation(s, w.outsider, invitation.id)  # not the outsider's
        groups.decline_invitation(s, w.invitee, invitation.id)
    with w.sessions.begin() as s:
        assert groups.groups_of(s, w.invitee.organisation_id) == []
        assert "sharing.group_invitation_declined" in _actions(s, w.owner.organisation_id)
        with pytest.raises(NotFoundError):
            groups.accept_invitation(s, w.invitee, invitation.id)


def test_only_the_owner_invites_and_nobody_is_invited_twice(hospitals: Hospitals) -> None:
    w = hospitals
    group_id = _group_with_member(w)
    with w.sessions.begin() as s:
        with pytest.raises(PermissionDeniedError, match="only the owner"):
            groups.invite(s, w.invitee, group_id, w.outsider.organisation_id)
        with pytest.raises(NotFoundError):
            groups.invite(s, w.outsider, group_id, w.outsider.organisation_id)
        with pytest.raises(ConflictError, match="already a member"):
            groups.invite(s, w.owner, group_id, w.invitee.organisation_id)
        with pytest.raises(NotFoundError, match="no organisation 424242"):
            groups.invite(s, w.owner, group_id, 424242)
        groups.invite(s, w.owner, group_id, w.outsider.organisation_id)
    with w.sessions.begin() as s, pytest.raises(ConflictError, match="already invited"):
        groups.invite(s, w.owner, group_id, w.outsider.organisation_id)


def test_the_owner_revokes_a_pending_invitation(hospitals: Hospitals) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        group = groups.create_group(s, w.owner, name="Regional ISAC")
        invitation = groups.invite(s, w.owner, group.id, w.outsider.organisation_id)
        assert [i.id for i in groups.invitations_sent(s, w.owner.organisation_id, group.id)] == [
            invitation.id
        ]
        groups.revoke_invitation(s, w.owner, group.id, invitation.id)
    with w.sessions.begin() as s:
        assert groups.invitations_received(s, w.outsider.organisation_id) == []
        with pytest.raises(NotFoundError):
            groups.accept_invitation(s, w.outsider, invitation.id)


def test_members_leave_the_owner_removes_and_cannot_leave(hospitals: Hospitals) -> None:
    w = hospitals
    group_id = _group_with_member(w)
    owner, invitee = w.owner.organisation_id, w.invitee.organisation_id
    with w.sessions.begin() as s:
        with pytest.raises(PermissionDeniedError, match="only the owner"):
            groups.remove_member(s, w.invitee, group_id, owner)
        with pytest.raises(ConflictError, match="owner cannot leave"):
            groups.remove_member(s, w.owner, group_id, owner)
        groups.remove_member(s, w.invitee, group_id, invitee)  # leaves
    with w.sessions.begin() as s:
        with pytest.raises(NotFoundError):
            groups.members_of(s, invitee, group_id)
        assert "sharing.group_member_removed" in _actions(s, owner)
        assert "sharing.group_member_removed" in _actions(s, invitee)
        with pytest.raises(NotFoundError, match="is not a member"):
            groups.remove_member(s, w.owner, group_id, invitee)


def test_groups_for_share_feed_the_policy(hospitals: Hospitals) -> None:
    w = hospitals
    group_id = _group_with_member(w)
    with w.sessions.begin() as s:
        resolved = groups.groups_for_share(s, w.owner.organisation_id, [group_id, group_id])
    share = Share.plan(
        Tlp.GREEN, sender=w.owner.organisation_id, named_recipients=[], groups=resolved
    )
    assert share.recipients == {w.invitee.organisation_id}
    with w.sessions.begin() as s:
        lonely = groups.create_group(s, w.outsider, name="Alone")
        alone = groups.groups_for_share(s, w.outsider.organisation_id, [lonely.id])
    with pytest.raises(NoRecipientsError):
        Share.plan(Tlp.GREEN, sender=w.outsider.organisation_id, named_recipients=[], groups=alone)


def test_lists_page_by_id(hospitals: Hospitals) -> None:
    w = hospitals
    with w.sessions.begin() as s:
        ids = [groups.create_group(s, w.owner, name=f"Group {i}").id for i in range(5)]
    with w.sessions.begin() as s:
        first = groups.groups_of(s, w.owner.organisation_id, limit=2)
        rest = groups.groups_of(s, w.owner.organisation_id, after=first[-1].id, limit=10)
    assert [g.id for g in first + rest] == ids
