"""Bodies of the authentication routes (pydantic at the API boundary only).

Input limits are generous bounds against abuse, not the policy: a password of any length up
to 1024 is *verified* (the policy that sets passwords allows 12 to 128 characters), so a login
form never tells an attacker anything about the stored password.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from panacea.identity.authentication import AccountOverview, MfaStatus
from panacea.identity.models import User

MAX_LOGIN_PASSWORD = 1024
MAX_CODE = 64


class LoginIn(BaseModel):
    """E-mail and password (JSON only: a form post is refused, against login CSRF)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_LOGIN_PASSWORD)


class CodeIn(BaseModel):
    """A one-time code: 6 TOTP digits, or a recovery code ``xxxx-xxxx-xxxx-xxxx``."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=MAX_CODE)


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, display_name=user.display_name)


class LoginOut(BaseModel):
    """The new session (its token is only in the cookie) and what must follow the password."""

    user: UserOut
    csrf_token: str
    assurance: str
    mfa_required: bool
    mfa_methods: list[str]
    enrolment_required: bool

    @classmethod
    def of(cls, user: User, *, csrf_token: str, assurance: str, mfa: MfaStatus) -> LoginOut:
        return cls(
            user=UserOut.of(user),
            csrf_token=csrf_token,
            assurance=assurance,
            mfa_required=mfa.required,
            mfa_methods=list(mfa.methods),
            enrolment_required=mfa.enrolment_required,
        )


class SecondFactorDone(BaseModel):
    """The session passed its second factor; it was replaced (new cookie, new CSRF token)."""

    csrf_token: str
    assurance: str
    recovery_codes_remaining: int


class TotpEnrolmentOut(BaseModel):
    """What the authenticator app needs. Shown only now: the secret is never returned again."""

    otpauth_uri: str
    secret: str
    qr_svg: str


class TotpConfirmedOut(BaseModel):
    """The TOTP app is confirmed; the session passed it. Recovery codes are shown only now."""

    csrf_token: str
    assurance: str
    recovery_codes: list[str]


class MembershipOut(BaseModel):
    organisation_id: int
    organisation_name: str
    role: str


class MeOut(BaseModel):
    """The caller: account, memberships, how it authenticated, its session's CSRF token."""

    user: UserOut
    memberships: list[MembershipOut]
    via: str
    assurance: str
    # None for an API token (no cookie, nothing to echo).
    csrf_token: str | None
    mfa_required: bool
    mfa_methods: list[str]
    enrolment_required: bool

    @classmethod
    def of(
        cls, overview: AccountOverview, *, via: str, assurance: str, csrf_token: str | None
    ) -> MeOut:
        return cls(
            user=UserOut.of(overview.user),
            memberships=[
                MembershipOut(
                    organisation_id=m.organisation_id,
                    organisation_name=m.organisation_name,
                    role=m.role,
                )
                for m in overview.memberships
            ],
            via=via,
            assurance=assurance,
            csrf_token=csrf_token,
            mfa_required=overview.mfa.required,
            mfa_methods=list(overview.mfa.methods),
            enrolment_required=overview.mfa.enrolment_required,
        )
