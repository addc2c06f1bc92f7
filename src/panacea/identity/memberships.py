"""Memberships, policies and active elevations: what a user may do in an organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.models import BreakGlassGrant, Membership, SecurityPolicy
from panacea.identity.rbac import DEFAULT_MFA_ROLES
from panacea.identity.roles import Role


def membership_of(session: Session, *, user_id: int, organisation_id: int) -> Membership | None:
    """The user's membership in the organisation, or None."""
    return session.execute(
        select(Membership).where(
            Membership.user_id == user_id, Membership.organisation_id == organisation_id
        )
    ).scalar_one_or_none()


def member_organisation_ids(session: Session, user_id: int) -> list[int]:
    """The organisations the user is a member of, by id (ascending)."""
    return list(
        session.scalars(
            select(Membership.organisation_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.organisation_id)
        )
    )


def mfa_roles(session: Session, organisation_id: int) -> frozenset[Role]:
    """Roles that must pass a second factor in this organisation."""
    policy = session.execute(
        select(SecurityPolicy).where(SecurityPolicy.organisation_id == organisation_id)
    ).scalar_one_or_none()
    if policy is None:
        return DEFAULT_MFA_ROLES
    return frozenset(Role(r) for r in policy.mfa_roles)


def active_grant(
    session: Session, *, user_id: int, organisation_id: int, now: datetime | None = None
) -> BreakGlassGrant | None:
    """The user's live break-glass grant in the organisation at ``now``, if any."""
    now = now or utcnow()
    return (
        session.execute(
            select(BreakGlassGrant)
            .where(
                BreakGlassGrant.user_id == user_id,
                BreakGlassGrant.organisation_id == organisation_id,
                BreakGlassGrant.ended_at.is_(None),
                BreakGlassGrant.expires_at > now,
            )
            .order_by(BreakGlassGrant.id.desc())
        )
        .scalars()
        .first()
    )
