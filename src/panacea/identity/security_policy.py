"""An organisation's authentication policy: who needs a second factor, how break-glass works.

An organisation without a stored policy has the defaults: a second factor for ``admin``,
``security_lead`` and ``auditor`` (:data:`panacea.identity.rbac.DEFAULT_MFA_ROLES`),
break-glass elevation to ``security_lead`` for 4 hours, alerts to nobody but the audit log.

Secure by default, a policy cannot be weakened below two floors:

- ``admin`` always needs a second factor: an administrator manages every account, token and
  this policy, so a password alone must never be enough (NIST SP 800-63B section 4.2.1:
  authenticator assurance level 2 requires two distinct authentication factors).
- Break-glass never elevates to ``admin``: an elevation is time-limited, but what an
  administrator creates (accounts, tokens, policy) would outlast it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.actors import Actor
from panacea.identity.audit import append
from panacea.identity.breakglass import MAX_GRANT_HOURS
from panacea.identity.errors import IdentityError
from panacea.identity.models import SecurityPolicy
from panacea.identity.rbac import DEFAULT_MFA_ROLES
from panacea.identity.roles import Role
from panacea.identity.users import normalise_email

DEFAULT_BREAK_GLASS_ROLE = Role.SECURITY_LEAD
DEFAULT_BREAK_GLASS_HOURS = 4.0
# A break-glass elevation covers an incident, not a rota: the grant's own ceiling (one day).
MAX_BREAK_GLASS_HOURS = MAX_GRANT_HOURS
# Below a quarter of an hour an elevation ends before anyone can use it.
MIN_BREAK_GLASS_HOURS = 0.25


@dataclass(frozen=True)
class PolicyView:
    """The effective policy of an organisation (``stored`` is False for the defaults)."""

    mfa_roles: tuple[Role, ...]
    break_glass_role: Role
    break_glass_hours: float
    alert_email: str | None
    stored: bool


def policy_of(session: Session, organisation_id: int) -> PolicyView:
    """The organisation's policy, or the defaults if it has none stored."""
    row = _row(session, organisation_id)
    if row is None:
        return PolicyView(
            mfa_roles=_ordered(DEFAULT_MFA_ROLES),
            break_glass_role=DEFAULT_BREAK_GLASS_ROLE,
            break_glass_hours=DEFAULT_BREAK_GLASS_HOURS,
            alert_email=None,
            stored=False,
        )
    return PolicyView(
        mfa_roles=_ordered(Role(r) for r in row.mfa_roles),
        break_glass_role=Role(row.break_glass_role),
        break_glass_hours=row.break_glass_hours,
        alert_email=row.alert_email,
        stored=True,
    )


def set_policy(
    session: Session,
    organisation_id: int,
    *,
    mfa_roles: Iterable[Role],
    break_glass_role: Role,
    break_glass_hours: float,
    alert_email: str | None,
    actor: Actor,
) -> PolicyView:
    """Replace the organisation's policy. Audited (``security_policy.changed``, old and new).

    Raises IdentityError if ``admin`` is left out of ``mfa_roles``, if break-glass would
    elevate to ``admin``, if the hours are outside [0.25, 24], or if the alert address is
    not an e-mail address.
    """
    roles = _ordered(Role(r) for r in mfa_roles)
    if Role.ADMIN not in roles:
        raise IdentityError("mfa_roles must include admin: administrators always need MFA")
    if Role(break_glass_role) is Role.ADMIN:
        raise IdentityError("break_glass_role cannot be admin: elevation must not outlast itself")
    if not MIN_BREAK_GLASS_HOURS <= break_glass_hours <= MAX_BREAK_GLASS_HOURS:
        raise IdentityError(
            f"break_glass_hours must be between {MIN_BREAK_GLASS_HOURS} and "
            f"{MAX_BREAK_GLASS_HOURS}, not {break_glass_hours}"
        )
    address = normalise_email(alert_email) if alert_email else None
    before = policy_of(session, organisation_id)
    row = _row(session, organisation_id)
    if row is None:
        row = SecurityPolicy(organisation_id=organisation_id, mfa_roles=[])
        session.add(row)
    row.mfa_roles = [r.value for r in roles]
    row.break_glass_role = Role(break_glass_role).value
    row.break_glass_hours = float(break_glass_hours)
    row.alert_email = address
    session.flush()
    after = policy_of(session, organisation_id)
    append(
        session,
        actor.event(
            "security_policy.changed",
            organisation_id=organisation_id,
            target=f"organisation:{organisation_id}",
            old=_audited(before),
            new=_audited(after),
        ),
    )
    return after


def _row(session: Session, organisation_id: int) -> SecurityPolicy | None:
    return session.execute(
        select(SecurityPolicy).where(SecurityPolicy.organisation_id == organisation_id)
    ).scalar_one_or_none()


def _ordered(roles: Iterable[Role]) -> tuple[Role, ...]:
    """Roles without duplicates, in the order of the Role enumeration (stable output)."""
    wanted = set(roles)
    return tuple(r for r in Role if r in wanted)


def _audited(policy: PolicyView) -> dict[str, object]:
    return {
        "mfa_roles": [r.value for r in policy.mfa_roles],
        "break_glass_role": policy.break_glass_role.value,
        "break_glass_hours": policy.break_glass_hours,
        "alert_email": policy.alert_email,
    }
