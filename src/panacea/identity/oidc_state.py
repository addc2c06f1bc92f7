"""The pending OpenID Connect login, kept in the browser as a sealed, short-lived cookie.

Between the redirect to the identity provider and its callback, the relying party must
remember ``state`` (CSRF protection of the redirect, RFC 6749 section 10.12), ``nonce``
(replay protection of the ID token, OpenID Connect Core 1.0 section 15.5.2) and the PKCE
``code_verifier`` (RFC 7636 section 4.1). Instead of a server-side table they travel in a
cookie sealed with AES-256-GCM under a key derived (HKDF-SHA256, RFC 5869) from
``settings.secret_key``: the browser can neither read the verifier nor forge or alter any of
the three, and the seal carries its own issue time so a stale one is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from panacea.db.base import utcnow
from panacea.identity.oidc_errors import PendingLoginError

PENDING_LOGIN_LIFETIME = timedelta(minutes=10)
# A sealed value is ~250 characters; anything far longer is not ours.
MAX_SEALED_LENGTH = 2048
_AAD = b"panacea/oidc-pending-login/v1"
_NONCE_BYTES = 12  # the 96-bit IV AES-GCM is defined for (NIST SP 800-38D section 8.2)


@dataclass(frozen=True)
class PendingLogin:
    """What the callback must check the provider's answer against."""

    state: str
    nonce: str
    code_verifier: str
    issued_at: datetime


def sealing_key(secret: bytes) -> bytes:
    """The AES-256 key for pending logins, derived from the platform secret (HKDF-SHA256)."""
    if len(secret) < 16:
        raise ValueError("the secret key must be at least 16 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AAD).derive(secret)


def seal(pending: PendingLogin, key: bytes) -> str:
    """The cookie value for ``pending`` (base64url of IV and AES-GCM ciphertext)."""
    plaintext = json.dumps(
        {
            "s": pending.state,
            "n": pending.nonce,
            "v": pending.code_verifier,
            "t": pending.issued_at.timestamp(),
        },
        separators=(",", ":"),
    ).encode("utf-8")
    iv = os.urandom(_NONCE_BYTES)
    sealed = iv + AESGCM(key).encrypt(iv, plaintext, _AAD)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def unseal(
    value: str,
    key: bytes,
    *,
    max_age: timedelta = PENDING_LOGIN_LIFETIME,
    now: datetime | None = None,
) -> PendingLogin:
    """Open a cookie value sealed by :func:`seal`.

    Raises PendingLoginError if it is too long, not base64url, does not authenticate under
    ``key``, or was issued more than ``max_age`` ago (or in the future).
    """
    if not value or len(value) > MAX_SEALED_LENGTH:
        raise PendingLoginError("no pending single sign-on login (cookie missing or too long)")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        plaintext = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        fields = json.loads(plaintext)
        pending = PendingLogin(
            state=str(fields["s"]),
            nonce=str(fields["n"]),
            code_verifier=str(fields["v"]),
            issued_at=datetime.fromtimestamp(float(fields["t"]), tz=utcnow().tzinfo),
        )
    except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError) as e:
        raise PendingLoginError("the pending single sign-on login cookie is not valid") from e
    age = (now or utcnow()) - pending.issued_at
    if age > max_age or age < -timedelta(seconds=60):
        raise PendingLoginError("the pending single sign-on login has expired; start again")
    return pending
