"""Who is calling: the authenticated principal and its access to one organisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from panacea.identity.audit import AuditEvent
from panacea.identity.roles import Permission, Role


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated caller: a browser session or an API token of a user."""

    user_id: int
    email: str
    via: Literal["session", "token"]
    session_id: int | None = None
    token_id: int | None = None
    token_prefix: str | None = None
    # A token is bound to one organisation and limited to its scopes.
    token_organisation_id: int | None = None
    scopes: frozenset[Permission] | None = None
    # Assurance of a session: "password", "mfa" or "sso".
    assurance: str = "password"
    client_address: str = ""

    @property
    def actor(self) -> str:
        """How the caller appears in the audit log (never the token itself)."""
        if self.via == "token":
            return f"{self.email} (token {self.token_prefix})"
        return self.email


@dataclass(frozen=True, kw_only=True)
class OrgAccess:
    """A principal's effective access to one organisation, as a route sees it."""

    principal: Principal
    organisation_id: int
    role: Role
    # The role held without elevation; differs from ``role`` under break-glass.
    base_role: Role
    break_glass_grant_id: int | None = None

    def event(
        self, action: str, *, target: str = "", outcome: str = "success", **details: Any
    ) -> AuditEvent:
        """An audit event by this caller in this organisation (break-glass marked)."""
        return AuditEvent(
            action=action,
            organisation_id=self.organisation_id,
            actor_user_id=self.principal.user_id,
            actor=self.principal.actor,
            via=self.principal.via,
            outcome=outcome,
            target=target,
            client_address=self.principal.client_address,
            break_glass_grant_id=self.break_glass_grant_id,
            details=details,
        )
