"""Request and response bodies of the user-administration routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from panacea.identity.roles import Role
from panacea.identity.user_views import MemberView, MfaMethod

# Checked in full by panacea.identity.users.normalise_email; this documents the shape.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"


class MemberOut(BaseModel):
    """A member of the organisation."""

    user_id: int
    email: str
    display_name: str
    role: Role
    break_glass_eligible: bool
    from_sso: bool = Field(description="The role comes from the identity provider's groups")
    disabled: bool
    mfa_methods: list[MfaMethod]
    mfa_required: bool = Field(description="The organisation's policy asks this role for MFA")
    password_change_required: bool = Field(
        description="The password was issued by an administrator and must be replaced"
    )
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, view: MemberView) -> MemberOut:
        return cls(
            user_id=view.user_id,
            email=view.email,
            display_name=view.display_name,
            role=Role(view.role),
            break_glass_eligible=view.break_glass_eligible,
            from_sso=view.from_sso,
            disabled=view.disabled,
            mfa_methods=list(view.mfa_methods),
            mfa_required=view.mfa_required,
            password_change_required=view.password_change_required,
            created_at=view.created_at,
            last_login_at=view.last_login_at,
        )


class MemberCreate(BaseModel):
    """Add a member: an existing account by e-mail, or a new local account."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
    role: Role
    display_name: str = Field(default="", max_length=200)
    break_glass_eligible: bool = False


class MemberCreated(BaseModel):
    """The member added; ``initial_password`` only when a new account was created."""

    member: MemberOut
    initial_password: str | None = Field(
        description="Shown once, never again: hand it to the user, who must replace it at "
        "first sign-in. Null when an existing account was added."
    )


class MemberPatch(BaseModel):
    """Change a member's role and/or break-glass eligibility (absent fields stay)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    break_glass_eligible: bool | None = None


class MfaResetOut(BaseModel):
    """What an MFA reset removed."""

    totp: int
    recovery_codes: int
    passkeys: int
    sessions_revoked: int


class DisableRequest(BaseModel):
    """Why the account is disabled (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)
