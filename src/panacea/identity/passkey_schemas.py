"""Bodies of the passkey routes (pydantic at the API boundary only).

The credential bodies are the JSON forms a browser produces with ``PublicKeyCredential.toJSON()``
(WebAuthn L3 section 5.1: RegistrationResponseJSON, AuthenticationResponseJSON): binary fields
as unpadded base64url. They are checked for shape and size here; everything that matters for
security is verified by :mod:`panacea.identity.passkeys`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from panacea.identity.models import PasskeyCredential
from panacea.identity.passkeys import PASSKEY_NAME_MAX

# Unpadded base64url (RFC 4648 section 5), as toJSON() encodes binary members.
B64URL = r"^[A-Za-z0-9_-]+$"
# A credential ID is at most 1023 bytes (1364 characters of base64url).
CredentialId = Annotated[str, StringConstraints(pattern=B64URL, min_length=1, max_length=1400)]
ClientDataJson = Annotated[str, StringConstraints(pattern=B64URL, min_length=1, max_length=8192)]
AuthenticatorData = Annotated[str, StringConstraints(pattern=B64URL, min_length=1, max_length=8192)]
# Attestation objects of "none" are small; other formats carry certificates.
AttestationObject = Annotated[
    str, StringConstraints(pattern=B64URL, min_length=1, max_length=65536)
]
Signature = Annotated[str, StringConstraints(pattern=B64URL, min_length=1, max_length=2048)]
UserHandle = Annotated[str, StringConstraints(pattern=B64URL, min_length=1, max_length=128)]


class _CredentialJson(BaseModel):
    # Browsers may add members in later levels of the standard: ignore, do not refuse.
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: CredentialId
    raw_id: CredentialId = Field(alias="rawId")
    type: Literal["public-key"]
    authenticator_attachment: Literal["platform", "cross-platform"] | None = Field(
        default=None, alias="authenticatorAttachment"
    )
    client_extension_results: dict[str, Any] = Field(
        default_factory=dict, alias="clientExtensionResults"
    )

    def as_json(self) -> dict[str, Any]:
        """The camelCase dict py_webauthn parses."""
        return self.model_dump(by_alias=True, exclude_none=True)


class AttestationResponseJson(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    client_data_json: ClientDataJson = Field(alias="clientDataJSON")
    attestation_object: AttestationObject = Field(alias="attestationObject")
    transports: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default_factory=list, max_length=16
    )


class AssertionResponseJson(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    client_data_json: ClientDataJson = Field(alias="clientDataJSON")
    authenticator_data: AuthenticatorData = Field(alias="authenticatorData")
    signature: Signature
    user_handle: UserHandle | None = Field(default=None, alias="userHandle")


class RegistrationCredentialJson(_CredentialJson):
    """RegistrationResponseJSON: what ``navigator.credentials.create()`` returned."""

    response: AttestationResponseJson


class AuthenticationCredentialJson(_CredentialJson):
    """AuthenticationResponseJSON: what ``navigator.credentials.get()`` returned."""

    response: AssertionResponseJson


class RegisterIn(BaseModel):
    """The authenticator's answer to the registration options, and a name for the passkey."""

    name: str = Field(default="passkey", min_length=1, max_length=PASSKEY_NAME_MAX)
    credential: RegistrationCredentialJson


class AuthenticateIn(BaseModel):
    """The authenticator's answer to the authentication options."""

    credential: AuthenticationCredentialJson


class SecondFactorOut(BaseModel):
    """The session passed its second factor; its cookie was replaced (Set-Cookie).

    The new session has its own CSRF token: send it as ``X-CSRF-Token`` from now on.
    """

    assurance: str
    csrf_token: str


class PasskeyOut(BaseModel):
    """One of the caller's passkeys (the key itself is never shown)."""

    id: int
    name: str
    transports: list[str]
    sign_count: int
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, passkey: PasskeyCredential) -> PasskeyOut:
        return cls(
            id=passkey.id,
            name=passkey.name,
            transports=list(passkey.transports),
            sign_count=passkey.sign_count,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
        )
