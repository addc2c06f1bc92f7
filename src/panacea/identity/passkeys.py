"""Passkeys (WebAuthn Level 2/3) as a second factor, verified with ``py_webauthn``.

Ceremonies, each in two steps bound to the caller's browser session:

- registration: :func:`registration_options` then :func:`register`;
- authentication (the second factor of a session that passed the password):
  :func:`authentication_options` then :func:`authenticate`, which rotates the session.

Contract of the checks (W3C WebAuthn L3 section 7.1 "Registering a New Credential" and 7.2
"Verifying an Authentication Assertion"):

- the challenge is 32 random bytes, kept on the session row (``webauthn_challenge``) with its
  purpose and issue time, spent atomically by the first answer (right or wrong) and refused
  after :data:`CEREMONY_TIMEOUT`;
- ``clientDataJSON`` must name the expected type, challenge and origin (the origin of
  ``settings.public_url``); ``rpIdHash`` must be SHA-256 of its host;
- user presence *and user verification* are required in both ceremonies;
- only "none" attestation is asked for, and the credential public key is loaded (point on the
  curve, RSA at least 2048 bits) before it is stored;
- an assertion must come from a credential of the session's own user, and its signature
  counter must be greater than the stored one whenever either is non-zero (section 6.1.1: a
  counter that does not increase signals a cloned authenticator). The counter is compared
  only after the signature verified, so a forged assertion cannot raise a clone alarm.

Refusals raise :class:`PasskeyRegistrationError` (HTTP 422) or
:class:`PasskeyAuthenticationError` (HTTP 401) *after* recording what must survive them in the
caller's transaction (spent challenge, audit entry, failure count): the caller commits before
answering. Registration, authentication (success and failure) and deletion are audited on the
platform chain (``organisation_id=None``): a passkey belongs to a person, not an organisation.
A successful authentication completes a sign-in, so it is also copied to the chains of the
user's organisations (``authentication.audit_sign_in``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
)
from webauthn.helpers.base64url_to_bytes import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from panacea.db.base import utcnow
from panacea.identity import throttle
from panacea.identity.audit import AuditEvent, append
from panacea.identity.authentication import audit_sign_in
from panacea.identity.errors import (
    AuthenticationError,
    ConflictError,
    IdentityError,
    MfaRequiredError,
    NotFoundError,
    PermissionDeniedError,
)
from panacea.identity.models import PasskeyCredential, TotpCredential, User, UserSession
from panacea.identity.principal import Principal
from panacea.identity.sessions import mark_second_factor, rotate_session
from panacea.identity.throttle import account_key

RP_NAME = "PANACEA"
# WebAuthn L3 section 15.1 recommends 300 000 to 600 000 ms when user verification is
# required (time to type a PIN); the server refuses an answer after the same delay.
CEREMONY_TIMEOUT = timedelta(minutes=5)
# Section 13.4.3: challenges of at least 16 random bytes; 32 leave no doubt.
CHALLENGE_BYTES = 32
# Section 7.1 step 25: a credential ID longer than 1023 bytes is refused.
MAX_CREDENTIAL_ID_BYTES = 1023
MIN_RSA_BITS = 2048
PASSKEY_NAME_MAX = 100

REGISTER = "register"
AUTHENTICATE = "authenticate"
# Sessions that may pass the passkey as second factor (an SSO session may step up too).
STEP_UP_FROM = frozenset({"password", "sso"})

# py_webauthn decodes attacker-controlled CBOR and COSE without catching everything itself:
# a malformed key surfaces as KeyError/TypeError/IndexError, bad base64 or an off-curve point
# as ValueError. All of them mean "this response is malformed", never a server fault.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError)


class PasskeyError(IdentityError):
    """A passkey operation that cannot be done (configuration or state)."""


class PasskeyRegistrationError(PasskeyError):
    """The authenticator's registration response was refused (says which check failed)."""


class PasskeyAuthenticationError(AuthenticationError):
    """The assertion was refused as a second factor (says which check failed)."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are bound to: RP ID (a host name), display name, expected origin."""

    id: str
    name: str
    origin: str

    @classmethod
    def from_public_url(cls, public_url: str, *, name: str = RP_NAME) -> RelyingParty:
        """The relying party of ``settings.public_url`` (e.g. http://localhost:8000).

        Raises PasskeyError when the URL has no host, is not http(s), or names an IP address
        (an RP ID must be a valid domain string, WebAuthn L3 section 5.1.3 / 5.4).
        """
        parts = urlsplit(public_url)
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise PasskeyError(f"settings.public_url {public_url!r} is not an http(s) URL")
        try:
            ip_address(host)
        except ValueError:
            pass
        else:
            raise PasskeyError(
                f"settings.public_url {public_url!r}: passkeys need a host name, not an IP address"
            )
        try:
            port = parts.port
        except ValueError as e:
            raise PasskeyError(f"settings.public_url {public_url!r} has a bad port") from e
        default_port = 443 if parts.scheme == "https" else 80
        # The serialised origin (RFC 6454 section 6.1) omits the scheme's default port.
        origin = f"{parts.scheme}://{host}"
        if port is not None and port != default_port:
            origin += f":{port}"
        return cls(id=host, name=name, origin=origin)


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle of ``user``: stable and free of personal data.

    Stable, so an authenticator asked to create a second discoverable credential for the same
    account replaces the first instead of piling up (section 6.3.2 step 7); the database id
    only, never the e-mail (section 14.6.1 forbids personal data in the handle).
    """
    return user.id.to_bytes(8, "big")


# --- registration ------------------------------------------------------------------------------


def registration_options(
    db: Session, principal: Principal, rp: RelyingParty, *, now: datetime | None = None
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions (JSON form) for the caller to create a passkey.

    User verification required, discoverable credential preferred, "none" attestation, the
    user's existing passkeys excluded. The challenge replaces any pending one of the session.
    Raises PermissionDeniedError for an API token, MfaRequiredError when the account already
    has a second factor the session has not passed.
    """
    row, user = _session_and_user(db, principal)
    _require_second_factor_if_enrolled(db, row)
    existing = _passkeys_of(db, user.id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(user),
        user_name=user.email,
        user_display_name=user.display_name or user.email,
        challenge=_issue_challenge(row, REGISTER, now or utcnow()),
        timeout=int(CEREMONY_TIMEOUT.total_seconds() * 1000),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
    )
    return options_to_json_dict(options)


def register(
    db: Session,
    principal: Principal,
    rp: RelyingParty,
    credential: dict[str, Any],
    *,
    name: str,
    now: datetime | None = None,
) -> PasskeyCredential:
    """Verify a registration response (RegistrationResponseJSON) and store the passkey.

    Raises PasskeyRegistrationError (challenge missing, spent or expired; response refused by
    the WebAuthn checks; unusable key; credential already registered) after auditing it and
    spending the challenge, so the caller must commit before answering.
    """
    row, user = _session_and_user(db, principal)
    _require_second_factor_if_enrolled(db, row)
    label = name.strip()[:PASSKEY_NAME_MAX] or "passkey"
    challenge = _spend_challenge(db, row, REGISTER, now or utcnow())
    if challenge is None:
        raise _registration_refused(db, principal, "no pending registration challenge")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_presence=True,
            require_user_verification=True,
        )
    except _MALFORMED as e:
        raise _registration_refused(db, principal, "response did not verify", error=str(e)) from e
    try:
        _check_public_key(verified.credential_public_key)
    except _MALFORMED as e:
        raise _registration_refused(db, principal, "unusable public key", error=str(e)) from e
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise _registration_refused(db, principal, "credential ID longer than 1023 bytes")
    passkey = PasskeyCredential(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=label,
        transports=_transports(credential),
    )
    try:
        # Section 7.1 step 26: a credential ID already registered (to anyone) is refused. The
        # unique index decides, so two concurrent registrations of one ID cannot both pass.
        with db.begin_nested():
            db.add(passkey)
    except IntegrityError as e:
        raise _registration_refused(db, principal, "credential already registered") from e
    append(
        db,
        _event(
            principal,
            "passkey.registered",
            target=f"passkey:{passkey.id}",
            name=label,
            aaguid=verified.aaguid,
            transports=passkey.transports,
            backed_up=verified.credential_backed_up,
        ),
    )
    return passkey


# --- authentication (second factor) -----------------------------------------------------------


def authentication_options(
    db: Session, principal: Principal, rp: RelyingParty, *, now: datetime | None = None
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions (JSON form) for the session's second factor.

    Lists the user's passkeys as allowCredentials and requires user verification. Raises
    ConflictError when the session already passed a second factor or the user has no passkey.
    """
    row, user = _session_and_user(db, principal)
    _require_step_up_session(row)
    existing = _passkeys_of(db, user.id)
    if not existing:
        raise ConflictError(f"user {user.id} has no passkey registered")
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=_issue_challenge(row, AUTHENTICATE, now or utcnow()),
        timeout=int(CEREMONY_TIMEOUT.total_seconds() * 1000),
        allow_credentials=[_descriptor(p) for p in existing],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def authenticate(
    db: Session,
    principal: Principal,
    rp: RelyingParty,
    credential: dict[str, Any],
    *,
    now: datetime | None = None,
) -> tuple[UserSession, str]:
    """Verify an assertion (AuthenticationResponseJSON) as the session's second factor.

    On success the passkey's counter and last use are updated and the session is rotated: a
    new session of assurance "mfa" replaces (and revokes) the caller's; returns the new row
    and its cookie value. Raises PasskeyAuthenticationError after auditing the failure and
    spending the challenge (the caller must commit before answering).
    """
    now = now or utcnow()
    row, user = _session_and_user(db, principal)
    _require_step_up_session(row)
    # A failed assertion is a failed login attempt (NIST SP 800-63B section 5.2.2): the
    # account's and the address's throttles apply before anything is verified.
    throttle.check(db, key=account_key(user.email), address=principal.client_address, now=now)

    def refused(reason: str, **details: Any) -> PasskeyAuthenticationError:
        return _authentication_refused(db, principal, reason, now=now, **details)

    challenge = _spend_challenge(db, row, AUTHENTICATE, now)
    if challenge is None:
        raise refused("no pending authentication challenge")
    raw_id = _raw_id(credential)
    passkey = None
    if raw_id is not None:
        # Only the session user's own passkeys: another user's credential is "unknown".
        # Locked, so two assertions of one credential cannot both pass the counter check.
        passkey = db.execute(
            select(PasskeyCredential)
            .where(
                PasskeyCredential.user_id == user.id,
                PasskeyCredential.credential_id == raw_id,
            )
            .with_for_update()
        ).scalar_one_or_none()
    if passkey is None:
        raise refused("unknown credential")
    target = f"passkey:{passkey.id}"
    handle = _user_handle_of(credential)
    if handle is not None and handle != user_handle(user):
        raise refused("user handle mismatch", target=target)
    try:
        # The counter is checked below, after the signature: 0 turns the library's check off.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except _MALFORMED as e:
        raise refused("assertion did not verify", target=target, error=str(e)) from e
    received = verified.new_sign_count
    if (received > 0 or passkey.sign_count > 0) and received <= passkey.sign_count:
        raise refused(
            "signature counter did not increase (possible cloned authenticator)",
            target=target,
            stored_sign_count=passkey.sign_count,
            received_sign_count=received,
        )
    passkey.sign_count = received
    passkey.last_used_at = now
    user.last_login_at = now  # the sign-in is complete with its second factor
    throttle.reset(db, key=account_key(user.email))
    new_row, token = rotate_session(db, row, user=user)
    mark_second_factor(new_row)
    audit_sign_in(  # the sign-in's second step: its organisations see it too
        db,
        _event(
            principal,
            "passkey.authenticated",
            target=target,
            sign_count=received,
            new_session_id=new_row.id,
        ),
    )
    return new_row, token


# --- management --------------------------------------------------------------------------------


def list_passkeys(db: Session, principal: Principal) -> list[PasskeyCredential]:
    """The caller's own passkeys, oldest first."""
    _, user = _session_and_user(db, principal)
    return _passkeys_of(db, user.id)


def delete_passkey(db: Session, principal: Principal, passkey_id: int) -> None:
    """Delete one of the caller's passkeys; NotFoundError for anyone else's (or none).

    Needs a session that passed its second factor: otherwise a stolen password would suffice
    to strip the account of its passkeys and then enrol the attacker's own.
    """
    row, user = _session_and_user(db, principal)
    passkey = db.execute(
        select(PasskeyCredential).where(
            PasskeyCredential.id == passkey_id, PasskeyCredential.user_id == user.id
        )
    ).scalar_one_or_none()
    if passkey is None:
        raise NotFoundError(f"no passkey {passkey_id}")
    if row.assurance != "mfa":
        raise MfaRequiredError("verify a second factor before deleting a passkey")
    append(
        db, _event(principal, "passkey.deleted", target=f"passkey:{passkey.id}", name=passkey.name)
    )
    db.delete(passkey)
    db.flush()


# --- helpers -----------------------------------------------------------------------------------


def _session_and_user(db: Session, principal: Principal) -> tuple[UserSession, User]:
    if principal.via != "session" or principal.session_id is None:
        raise PermissionDeniedError(
            "passkeys are managed from a signed-in browser session, not with an API token"
        )
    row = db.get(UserSession, principal.session_id)
    user = db.get(User, principal.user_id)
    if row is None or user is None or row.revoked_at is not None or row.user_id != user.id:
        raise AuthenticationError("the session has ended")
    return row, user


def _has_second_factor(db: Session, user_id: int) -> bool:
    totp = select(TotpCredential.id).where(
        TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
    )
    passkey = select(PasskeyCredential.id).where(PasskeyCredential.user_id == user_id)
    return (
        db.execute(totp.limit(1)).first() is not None
        or db.execute(passkey.limit(1)).first() is not None
    )


def _require_second_factor_if_enrolled(db: Session, row: UserSession) -> None:
    # NIST SP 800-63B section 6.1.2.1: binding an additional authenticator requires
    # authenticating at the assurance level of the new one. The very first second factor can
    # only be bound by a password session (bootstrap); any later one needs "mfa".
    if row.assurance != "mfa" and _has_second_factor(db, row.user_id):
        raise MfaRequiredError(
            "this account already has a second factor: verify it before adding a passkey"
        )


def _require_step_up_session(row: UserSession) -> None:
    if row.assurance not in STEP_UP_FROM:
        raise ConflictError(f"session {row.id} has already passed a second factor")


def _passkeys_of(db: Session, user_id: int) -> list[PasskeyCredential]:
    return list(
        db.execute(
            select(PasskeyCredential)
            .where(PasskeyCredential.user_id == user_id)
            .order_by(PasskeyCredential.id)
        ).scalars()
    )


def _descriptor(passkey: PasskeyCredential) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=passkey.credential_id,
        transports=[AuthenticatorTransport(t) for t in passkey.transports] or None,
    )


def _issue_challenge(row: UserSession, purpose: str, now: datetime) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    # "<purpose>:<issued unix seconds>:<base64url>" (about 60 characters of the 200).
    row.webauthn_challenge = f"{purpose}:{int(now.timestamp())}:{bytes_to_base64url(challenge)}"
    return challenge


def _spend_challenge(db: Session, row: UserSession, purpose: str, now: datetime) -> bytes | None:
    """Take the session's pending challenge (whatever its purpose) and clear it, atomically.

    Compare-and-clear in one UPDATE: of two concurrent answers to one challenge, the second
    finds it gone (PostgreSQL re-checks the WHERE after the first commits; SQLite serialises
    writers). None when there is none, it was for another ceremony, or it expired.
    """
    stored = row.webauthn_challenge
    if stored is None:
        return None
    result = db.execute(
        update(UserSession)
        .where(UserSession.id == row.id, UserSession.webauthn_challenge == stored)
        .values(webauthn_challenge=None)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        return None
    stored_purpose, _, rest = stored.partition(":")
    issued, _, encoded = rest.partition(":")
    if stored_purpose != purpose or not issued.isdigit():
        return None
    if now.timestamp() - int(issued) > CEREMONY_TIMEOUT.total_seconds():
        return None
    return base64url_to_bytes(encoded)


def _check_public_key(cose_key: bytes) -> None:
    # The "none" attestation path of the library decodes the COSE key but never loads it: a
    # point off the curve or a weak RSA modulus would only show at the first sign-in.
    key = decoded_public_key_to_cryptography(decode_credential_public_key(cose_key))
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits, below {MIN_RSA_BITS}")


def _transports(credential: dict[str, Any]) -> list[str]:
    response = credential.get("response")
    values = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(values, list):
        return []
    known = {t.value for t in AuthenticatorTransport}
    return sorted({v for v in values if isinstance(v, str) and v in known})


def _raw_id(credential: dict[str, Any]) -> bytes | None:
    raw = credential.get("rawId")
    if not isinstance(raw, str):
        return None
    try:
        return base64url_to_bytes(raw)
    except ValueError:
        return None


def _user_handle_of(credential: dict[str, Any]) -> bytes | None:
    response = credential.get("response")
    value = response.get("userHandle") if isinstance(response, dict) else None
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64url_to_bytes(value)
    except ValueError:
        return b""


def _event(
    principal: Principal, action: str, *, target: str = "", outcome: str = "success", **details: Any
) -> AuditEvent:
    return AuditEvent(
        action=action,
        organisation_id=None,
        actor_user_id=principal.user_id,
        actor=principal.actor,
        via=principal.via,
        outcome=outcome,
        target=target,
        client_address=principal.client_address,
        details=details,
    )


def _registration_refused(
    db: Session, principal: Principal, reason: str, **details: Any
) -> PasskeyRegistrationError:
    append(db, _event(principal, "passkey.registered", outcome="failure", reason=reason, **details))
    return PasskeyRegistrationError(f"passkey registration refused: {reason}")


def _authentication_refused(
    db: Session, principal: Principal, reason: str, *, now: datetime, **details: Any
) -> PasskeyAuthenticationError:
    target = str(details.pop("target", ""))
    failures = throttle.record_failure(
        db, key=account_key(principal.email), address=principal.client_address, now=now
    )
    append(
        db,
        _event(
            principal,
            "passkey.authenticated",
            target=target,
            outcome="failure",
            reason=reason,
            consecutive_failures=failures,
            **details,
        ),
    )
    return PasskeyAuthenticationError(f"passkey verification failed: {reason}")
