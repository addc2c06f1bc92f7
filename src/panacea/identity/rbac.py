"""The permission matrix: which role may do what, in one declarative table.

Routes never test roles by hand: they declare the permission they need and the API's
``require`` dependency consults :data:`MATRIX`. ``docs/security.md`` is rendered from it
(:func:`matrix_markdown`; a test keeps the two identical).
"""

from __future__ import annotations

from collections.abc import Mapping

from panacea.identity.roles import Permission, Role

A, S, N, OP, B, U, V = (
    Role.ADMIN,
    Role.SECURITY_LEAD,
    Role.ANALYST,
    Role.IT_OPERATOR,
    Role.BIOMED_ENGINEER,
    Role.AUDITOR,
    Role.VIEWER,
)
EVERYONE = frozenset(Role)

MATRIX: Mapping[Permission, frozenset[Role]] = {
    Permission.ORGANISATION_READ: EVERYONE,
    Permission.ORGANISATION_MANAGE: frozenset({A}),
    Permission.USERS_READ: frozenset({A, S, U}),
    Permission.USERS_MANAGE: frozenset({A}),
    Permission.INVENTORY_READ: EVERYONE,
    Permission.INVENTORY_WRITE: frozenset({A, S, OP, B}),
    Permission.IMPORTS_RUN: frozenset({A, S, N, OP, B}),
    Permission.FINDINGS_READ: frozenset({A, S, N, OP, B, U}),
    Permission.FINDINGS_TRIAGE: frozenset({S, N, OP, B}),
    Permission.RISK_ACCEPT: frozenset({S}),
    Permission.FEEDS_READ: frozenset({A, S, N, OP, B, U}),
    Permission.FEEDS_UPDATE: frozenset({A, S, N}),
    Permission.RISK_READ: EVERYONE,
    Permission.RISK_ASSESS: frozenset({A, S, N}),
    Permission.PLANS_READ: EVERYONE,
    Permission.PLANS_CREATE: frozenset({S, N}),
    Permission.REPORTS_EXPORT: frozenset({A, S, N, U}),
    Permission.TOKENS_MANAGE: frozenset({A, S, N, OP, B}),
    Permission.AUDIT_READ: frozenset({A, S, U}),
    Permission.BREAK_GLASS_REVIEW: frozenset({S, U}),
    Permission.SHARING_READ: frozenset({A, S, N, U}),
    Permission.SHARING_PUBLISH: frozenset({S, N}),
}

# Roles whose members must pass a second factor unless the organisation's policy says otherwise.
DEFAULT_MFA_ROLES: frozenset[Role] = frozenset({A, S, U})


def allows(role: Role, permission: Permission) -> bool:
    """True if ``role`` holds ``permission``."""
    return role in MATRIX[permission]


def permissions_of(role: Role) -> frozenset[Permission]:
    """Every permission ``role`` holds."""
    return frozenset(p for p, roles in MATRIX.items() if role in roles)


def matrix_markdown() -> str:
    """The matrix as a Markdown table (one row per permission, one column per role)."""
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        cells = ("yes" if r in MATRIX[permission] else "" for r in roles)
        lines.append(f"| `{permission.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _check_complete() -> None:
    missing = set(Permission) - set(MATRIX)
    if missing:  # pragma: no cover - guarded by import
        raise RuntimeError(f"permission matrix lacks {sorted(missing)}")


_check_complete()
