"""A software WebAuthn authenticator (and its client) for tests: real bytes, real signatures.

It plays the browser and the authenticator together: takes the options JSON a relying party
sends, and answers with the ``PublicKeyCredential.toJSON()`` form a browser would post back.

- Registration (WebAuthn L3 section 6.3.2, 6.5): an EC P-256 key pair, authenticatorData =
  rpIdHash (SHA-256 of the RP ID) | flags | signCount (big-endian u32) | attestedCredentialData
  (AAGUID | credential ID length (u16) | credential ID | COSE_Key in CBOR), wrapped in a "none"
  attestation object ``{"fmt": "none", "attStmt": {}, "authData": ...}`` (section 8.7).
- Authentication (section 6.3.3): authenticatorData without attested data, signed with
  ECDSA P-256 / SHA-256 (DER) over ``authenticatorData || SHA-256(clientDataJSON)``.

Every part a relying party checks can be bent for a test (origin, RP ID, flags, counter,
challenge, allow/exclude lists), so each refusal is provoked by exactly one wrong thing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_AT = 0x40  # attested credential data included
# COSE (RFC 9052/9053): kty 2 = EC2, alg -7 = ES256, crv 1 = P-256.
COSE_KTY, COSE_ALG, COSE_CRV, COSE_X, COSE_Y = 1, 3, -1, -2, -3
SOFTWARE_AAGUID = b"PANACEA-test-key"  # 16 bytes, as an AAGUID is


class AuthenticatorRefusedError(Exception):
    """What a real client would answer with InvalidStateError / NotAllowedError."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as toJSON() encodes binary members."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cose_public_key(key: ec.EllipticCurvePublicKey) -> bytes:
    """The COSE_Key (CBOR map) of a P-256 public key, as an authenticator encodes it."""
    numbers = key.public_numbers()
    return cbor2.dumps(
        {
            COSE_KTY: 2,
            COSE_ALG: -7,
            COSE_CRV: 1,
            COSE_X: numbers.x.to_bytes(32, "big"),
            COSE_Y: numbers.y.to_bytes(32, "big"),
        }
    )


@dataclass
class SoftwareAuthenticator:
    """One authenticator holding (after ``create``) one credential for one relying party.

    ``origin`` is where the simulated browser is; ``sign_count`` the counter it keeps (each
    assertion adds one before signing, section 6.1.1).
    """

    origin: str
    sign_count: int = 0
    transports: list[str] = field(default_factory=lambda: ["internal", "hybrid"])
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes | None = None
    rp_id: str | None = None

    # --- registration -------------------------------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        flags: int = FLAG_UP | FLAG_UV | FLAG_AT,
        challenge: bytes | None = None,
        public_key: bytes | None = None,
        honour_exclude: bool = True,
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialCreationOptions (JSON) as navigator.credentials.create().

        Overrides stand for an attacker or a faulty device: another ``origin`` in clientData,
        another ``rp_id`` hashed in authData, other ``flags``, another ``challenge``, another
        COSE ``public_key``.
        """
        excluded = {c["id"] for c in options.get("excludeCredentials", [])}
        if honour_exclude and b64url(self.credential_id) in excluded:
            raise AuthenticatorRefusedError("InvalidStateError: credential already registered")
        self.rp_id = options["rp"]["id"]
        self.user_handle = from_b64url(options["user"]["id"])
        client_data = self._client_data(
            "webauthn.create", challenge or from_b64url(options["challenge"]), origin
        )
        attested = (
            SOFTWARE_AAGUID
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + (public_key or cose_public_key(self.private_key.public_key()))
        )
        auth_data = self._auth_data(rp_id or self.rp_id, flags, self.sign_count) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": list(self.transports),
            },
        }

    # --- authentication -----------------------------------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        challenge: bytes | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        honour_allow: bool = True,
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialRequestOptions (JSON) as navigator.credentials.get().

        ``sign_count`` forces the counter (a clone replaying an old state); ``honour_allow=False``
        answers even when the credential is not in allowCredentials (a tampered client).
        """
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        if honour_allow and allowed and b64url(self.credential_id) not in allowed:
            raise AuthenticatorRefusedError("NotAllowedError: no allowed credential here")
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        client_data = self._client_data(
            "webauthn.get", challenge or from_b64url(options["challenge"]), origin
        )
        auth_data = self._auth_data(rp_id or options["rpId"], flags, sign_count)
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        handle = user_handle if user_handle is not None else self.user_handle
        if handle is not None:
            response["userHandle"] = b64url(handle)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }

    # --- bytes ---------------------------------------------------------------------------------

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        # Section 5.8.1.2: type, challenge, origin first, in this order, then crossOrigin.
        return json.dumps(
            {
                "type": kind,
                "challenge": b64url(challenge),
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode("utf-8")

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return (
            hashlib.sha256(rp_id.encode("utf-8")).digest()
            + bytes([flags])
            + struct.pack(">I", sign_count)
        )
