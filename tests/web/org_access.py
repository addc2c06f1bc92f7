"""Building what a page's caller hands the services: an OrgAccess of a real member."""

from __future__ import annotations

from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld


def member_access(world: ApiWorld, email: str, organisation_id: int, role: Role) -> OrgAccess:
    """Create member ``email`` with ``role`` and return their access (a browser session's)."""
    user_id = world.user(email, {organisation_id: role})
    return OrgAccess(
        principal=Principal(user_id=user_id, email=email, via="session", session_id=None),
        organisation_id=organisation_id,
        role=role,
        base_role=role,
    )
