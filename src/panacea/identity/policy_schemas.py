"""Request and response bodies of the security-policy routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from panacea.identity.roles import Role
from panacea.identity.security_policy import (
    MAX_BREAK_GLASS_HOURS,
    MIN_BREAK_GLASS_HOURS,
    PolicyView,
)
from panacea.identity.users_schemas import EMAIL_PATTERN


class SecurityPolicyIn(BaseModel):
    """The whole policy (PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    mfa_roles: list[Role] = Field(
        max_length=len(Role),
        description="Roles that must pass a second factor; must include admin",
    )
    break_glass_role: Role = Field(description="The role break-glass elevates to; not admin")
    break_glass_hours: float = Field(ge=MIN_BREAK_GLASS_HOURS, le=MAX_BREAK_GLASS_HOURS)
    alert_email: str | None = Field(
        default=None,
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="Who is told at once when someone breaks the glass",
    )


class SecurityPolicyOut(BaseModel):
    """The effective policy; ``stored`` is false while the organisation has the defaults."""

    mfa_roles: list[Role]
    break_glass_role: Role
    break_glass_hours: float
    alert_email: str | None
    stored: bool

    @classmethod
    def of(cls, view: PolicyView) -> SecurityPolicyOut:
        return cls(
            mfa_roles=list(view.mfa_roles),
            break_glass_role=view.break_glass_role,
            break_glass_hours=view.break_glass_hours,
            alert_email=view.alert_email,
            stored=view.stored,
        )
