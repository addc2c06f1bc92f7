"""Tables of the identity layer: users, memberships, credentials, sessions, tokens, grants.

Secrets are never stored in clear: passwords as argon2id hashes, session and API tokens as
SHA-256 digests of high-entropy random values, TOTP secrets envelope-encrypted
(:mod:`panacea.identity.encryption`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class User(Base):
    """A person (or a service account) who signs in. Not owned by one organisation."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # None for users who sign in only through single sign-on.
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class Membership(OrgOwned, Base):
    """A user's role in one organisation."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    # Designated in advance: may request break-glass elevation in this organisation.
    break_glass_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the role comes from an identity provider's group claim (refreshed at each login).
    from_sso: Mapped[bool] = mapped_column(Boolean, default=False)


class SecurityPolicy(OrgOwned, Base):
    """An organisation's authentication policy (absent row = the defaults)."""

    __tablename__ = "security_policy"
    __table_args__ = (UniqueConstraint("organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mfa_roles: Mapped[list[str]] = mapped_column(JSON)
    break_glass_role: Mapped[str] = mapped_column(String(40), default="security_lead")
    break_glass_hours: Mapped[float] = mapped_column(default=4.0)
    alert_email: Mapped[str | None] = mapped_column(String(320), default=None)


class UserSession(Base):
    """A browser session, server-side; the cookie holds a random token, the row its digest."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "password", "mfa" (second factor passed), "sso" (identity provider authenticated).
    assurance: Mapped[str] = mapped_column(String(20), default="password")
    mfa_at: Mapped[datetime | None] = mapped_column(default=None)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Pending WebAuthn challenge (registration or authentication), base64url.
    webauthn_challenge: Mapped[str | None] = mapped_column(String(200), default=None)


class ApiToken(OrgOwned, Base):
    """A named machine credential of one user in one organisation, with scopes and expiry."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Public, shown in lists and logs: identifies the token without revealing it.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class TotpCredential(Base):
    """A user's TOTP secret (envelope-encrypted), confirmed once a first code verified."""

    __tablename__ = "totp_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The time step of the last accepted code: a code is never accepted twice.
    last_used_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code, stored as an argon2id hash."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PasskeyCredential(Base):
    """A WebAuthn credential (passkey) registered by a user."""

    __tablename__ = "passkey_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100), default="passkey")
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(Base):
    """Consecutive failures of one account (key ``account:<email>``) or address totals."""

    __tablename__ = "login_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)


class AddressFailure(Base):
    """One failed attempt from a client address (for the per-hour cap)."""

    __tablename__ = "address_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OidcIdentity(Base):
    """Links an identity provider's subject to a user."""

    __tablename__ = "oidc_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )


class GroupRoleMapping(OrgOwned, Base):
    """Maps an identity provider's group claim value to a role in the organisation."""

    __tablename__ = "group_role_mapping"
    __table_args__ = (UniqueConstraint("organisation_id", "group_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40))


class BreakGlassGrant(OrgOwned, Base):
    """An emergency elevation: granted at once, time-limited, reviewed afterwards."""

    __tablename__ = "break_glass_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    # "justified" | "unjustified" once reviewed.
    review_outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    review_notes: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
