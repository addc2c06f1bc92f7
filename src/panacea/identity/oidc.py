"""OpenID Connect relying party: discovery, authorization request, code exchange, ID token.

The authorization code flow with PKCE (OpenID Connect Core 1.0 section 3.1; RFC 7636 with
``S256``) against the hospital's identity provider (Keycloak, Entra ID, ...). What a login
proves comes from the ID token alone, after every check of OpenID Connect Core 1.0 section
3.1.3.7: signature with a key of the provider's JWKS and an asymmetric algorithm, ``iss``
equal to the configured issuer, ``aud`` exactly our client id (and ``azp`` if present),
``exp``, ``iat`` (at most :data:`MAX_ID_TOKEN_AGE_SECONDS` old), and the ``nonce`` we sent.
The userinfo endpoint is consulted only for the groups claim, only after the ID token
verified, and only if its ``sub`` equals the ID token's (section 5.3.2).

HTTP goes through authlib's httpx client with bounded timeouts and no redirects followed. A
new client is made per operation: authlib's client keeps the last token it fetched on itself,
so sharing one between concurrent logins could hand one person's token to another.
Discovery and JWKS documents are cached for :data:`METADATA_TTL_SECONDS`; an ID token signed
with an unknown ``kid`` triggers one JWKS refresh (key rotation, section 10.1.1), at most
once per :data:`JWKS_REFRESH_MIN_SECONDS`.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from panacea.config import Settings
from panacea.identity.oidc_errors import (
    OidcLoginError,
    OidcProviderError,
    SsoNotConfiguredError,
)
from panacea.identity.oidc_state import PendingLogin

# Asymmetric algorithms only: an HMAC-signed ID token (keyed with the client secret) is
# refused, as is "none"; "EdDSA" is deprecated by RFC 9864 in favour of "Ed25519".
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
)
# `amr` values (RFC 8176 section 2) that prove a factor beyond the password: "mfa" itself,
# one-time codes, proof of possession of a hardware or software key, smart card, biometrics.
# "sms" and "tel" are left out (restricted authenticators, NIST SP 800-63B section 5.1.3.3).
MFA_AMR_VALUES = frozenset(
    {"mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm"}
)
TOKEN_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "none"})
CLOCK_SKEW_SECONDS = 60
MAX_ID_TOKEN_AGE_SECONDS = 600
METADATA_TTL_SECONDS = 3600
JWKS_REFRESH_MIN_SECONDS = 60
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_GROUPS = 1000
MAX_SUBJECT_LENGTH = 255  # the OidcIdentity.subject column (OIDC Core section 2: 255 ASCII)
_USABLE_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


def is_secure_url(url: str) -> bool:
    """True for an ``https`` URL, or ``http`` to a loopback address (a provider on this host).

    OpenID Connect Discovery 1.0 section 4 and RFC 6749 section 3.1 require TLS; plain HTTP to
    127.0.0.1/::1/localhost never leaves the machine.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class OidcConfig:
    """The relying party's settings (``PANACEA_OIDC_*``), checked once."""

    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    organisation: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    token_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name
    groups_claim: str = "groups"
    mfa_acr_values: frozenset[str] = frozenset()
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings, *, redirect_uri: str) -> OidcConfig:
        """The configuration in ``settings``. Raises SsoNotConfiguredError naming the setting."""
        missing = [
            f"PANACEA_{name.upper()}"
            for name in ("oidc_issuer", "oidc_client_id", "oidc_organisation")
            if not getattr(settings, name)
        ]
        if missing:
            raise SsoNotConfiguredError(
                f"single sign-on is not configured: set {', '.join(missing)}"
            )
        assert settings.oidc_issuer is not None
        assert settings.oidc_client_id is not None
        assert settings.oidc_organisation is not None
        secret = (
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        )
        config = cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=secret or None,
            redirect_uri=redirect_uri,
            organisation=settings.oidc_organisation,
            scopes=tuple(settings.oidc_scopes),
            token_auth_method=settings.oidc_token_auth_method,
            groups_claim=settings.oidc_groups_claim,
            mfa_acr_values=frozenset(settings.oidc_mfa_acr_values),
            timeout_seconds=settings.oidc_timeout_seconds,
        )
        config.check()
        return config

    def check(self) -> None:
        """Raise SsoNotConfiguredError for an unusable combination of settings."""
        if not is_secure_url(self.issuer):
            raise SsoNotConfiguredError(
                f"PANACEA_OIDC_ISSUER {self.issuer!r} must be an https URL "
                "(plain http only to a loopback address)"
            )
        if "openid" not in self.scopes:
            raise SsoNotConfiguredError("PANACEA_OIDC_SCOPES must include 'openid'")
        if self.token_auth_method not in TOKEN_AUTH_METHODS:
            raise SsoNotConfiguredError(
                f"PANACEA_OIDC_TOKEN_AUTH_METHOD {self.token_auth_method!r} is not one of "
                f"{', '.join(sorted(TOKEN_AUTH_METHODS))}"
            )
        if self.token_auth_method != "none" and not self.client_secret:  # noqa: S105
            raise SsoNotConfiguredError(
                f"PANACEA_OIDC_CLIENT_SECRET is required with {self.token_auth_method}"
            )
        if not 0 < self.timeout_seconds <= 120:
            raise SsoNotConfiguredError("PANACEA_OIDC_TIMEOUT_SECONDS must be in (0, 120]")
        if not self.groups_claim:
            raise SsoNotConfiguredError("PANACEA_OIDC_GROUPS_CLAIM must not be empty")


@dataclass(frozen=True)
class ProviderMetadata:
    """What discovery told us about the provider (OpenID Connect Discovery 1.0 section 3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    signing_algorithms: tuple[str, ...]

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, issuer: str) -> ProviderMetadata:
        """Check a discovery document for ``issuer``. Raises OidcProviderError."""
        # Section 4.3: the issuer in the document MUST be identical to the one configured
        # (a mix-up attack otherwise sends us another provider's endpoints).
        found = document.get("issuer")
        if not isinstance(found, str) or found.rstrip("/") != issuer:
            raise OidcProviderError(
                f"discovery document of {issuer} names issuer {found!r}: they must be identical"
            )
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not is_secure_url(value):
                raise OidcProviderError(
                    f"discovery document of {issuer}: {name} {value!r} is missing or not https"
                )
            endpoints[name] = value
        userinfo = document.get("userinfo_endpoint")
        if userinfo is not None and (not isinstance(userinfo, str) or not is_secure_url(userinfo)):
            raise OidcProviderError(
                f"discovery document of {issuer}: userinfo_endpoint {userinfo!r} is not https"
            )
        if "code" not in _strings(document.get("response_types_supported"), default=["code"]):
            raise OidcProviderError(f"{issuer} does not support the authorization code flow")
        # Absent means unknown (Entra ID does not list it) and PKCE is sent anyway; listed
        # without S256 means the provider would ignore our challenge.
        challenge_methods = document.get("code_challenge_methods_supported")
        if challenge_methods is not None and "S256" not in _strings(challenge_methods):
            raise OidcProviderError(f"{issuer} does not support PKCE with S256 (RFC 7636)")
        # Discovery section 3: RS256 MUST be supported, so it is the default when not listed.
        advertised = _strings(
            document.get("id_token_signing_alg_values_supported"), default=["RS256"]
        )
        algorithms = tuple(a for a in SIGNING_ALGORITHMS if a in advertised)
        if not algorithms:
            raise OidcProviderError(
                f"{issuer} signs ID tokens only with {advertised}; PANACEA accepts "
                f"{', '.join(SIGNING_ALGORITHMS)}"
            )
        return cls(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            userinfo_endpoint=userinfo,
            signing_algorithms=algorithms,
        )


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed in, from a verified ID token (groups possibly from the userinfo endpoint)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str
    groups: tuple[str, ...]
    amr: tuple[str, ...] = ()
    acr: str | None = None

    def assurance(self, mfa_acr_values: frozenset[str]) -> str:
        """``"mfa"`` if the provider says a second factor was used, else ``"sso"``.

        A second factor is an ``amr`` value in :data:`MFA_AMR_VALUES` or an ``acr`` value the
        hospital lists in ``PANACEA_OIDC_MFA_ACR_VALUES`` (OpenID Connect Core 1.0 section 2).
        """
        if MFA_AMR_VALUES.intersection(self.amr):
            return "mfa"
        if self.acr is not None and self.acr in mfa_acr_values:
            return "mfa"
        return "sso"


def _strings(value: object, *, default: list[str] | None = None) -> list[str]:
    if value is None and default is not None:
        return default
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The claim named ``path``, else the nested claim it names with dots (Keycloak's
    ``resource_access.panacea.roles``), else None."""
    if path in claims:
        return claims[path]
    node: object = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def groups_from(value: object, *, claim: str) -> tuple[str, ...]:
    """The group names of a claim value (a string or an array of strings; absent: none).

    Raises OidcLoginError for anything else or more than :data:`MAX_GROUPS` entries.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) > MAX_GROUPS:
            raise OidcLoginError(f"the {claim!r} claim lists more than {MAX_GROUPS} groups")
        return tuple(value)
    raise OidcLoginError(f"the {claim!r} claim is not a string or an array of strings")


class OidcClient:
    """The relying party of one provider. Thread-safe; one per application.

    ``transport`` replaces the HTTP transport (httpx2), ``clock`` the Unix time used for
    ID token checks.
    """

    def __init__(
        self,
        config: OidcConfig,
        *,
        transport: httpx2.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._transport = transport
        self._clock = clock
        self._lock = threading.RLock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        # Built once: loading the trust store costs tens of milliseconds per client.
        self._tls = httpx2.create_ssl_context()

    # --- HTTP -------------------------------------------------------------------------------

    def _oauth_client(self) -> Any:
        # authlib ships no type information: the client is Any to mypy.
        return OAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method=self.config.token_auth_method,
            scope=" ".join(self.config.scopes),
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
            timeout=httpx2.Timeout(self.config.timeout_seconds),
            follow_redirects=False,
            verify=self._tls,
            transport=self._transport,
        )

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET a JSON object. Raises OidcProviderError naming ``what`` and ``url``."""
        try:
            with self._oauth_client() as client:
                response = client.request("GET", url, withhold_token=True)
        except httpx2.HTTPError as e:
            raise OidcProviderError(f"{what} at {url} could not be fetched: {e}") from e
        return _json_object(response, what=what, url=url)

    # --- discovery and keys -------------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The provider's metadata, discovered at ``{issuer}/.well-known/openid-configuration``.

        Raises OidcProviderError if unreachable or not a valid document for our issuer.
        """
        with self._lock:
            now = self._clock()
            if self._metadata is None or now - self._metadata_at > METADATA_TTL_SECONDS:
                url = f"{self.config.issuer}/.well-known/openid-configuration"
                document = self._get_json(url, "the discovery document")
                self._metadata = ProviderMetadata.from_document(document, issuer=self.config.issuer)
                self._metadata_at = now
            return self._metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        metadata = self.metadata()
        with self._lock:
            now = self._clock()
            stale = self._keys is None or now - self._keys_at > METADATA_TTL_SECONDS
            if stale or (refresh and now - self._keys_at >= JWKS_REFRESH_MIN_SECONDS):
                document = self._get_json(metadata.jwks_uri, "the provider's JWKS")
                self._keys = _import_keys(document, url=metadata.jwks_uri)
                self._keys_at = now
            assert self._keys is not None
            return self._keys

    # --- the flow ----------------------------------------------------------------------------

    def authorization_request(self) -> tuple[str, PendingLogin]:
        """The provider URL to send the browser to, and what the callback must check.

        ``state`` and ``nonce`` carry 256 bits, the PKCE verifier 512 bits (86 characters of
        the unreserved set, RFC 7636 section 4.1). Raises OidcProviderError if discovery fails.
        """
        metadata = self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            issued_at=datetime.fromtimestamp(self._clock(), UTC),
        )
        with self._oauth_client() as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=pending.state,
                code_verifier=pending.code_verifier,
                nonce=pending.nonce,
            )
        return str(url), pending

    def redeem(self, pending: PendingLogin, *, state: str, code: str) -> VerifiedIdentity:
        """Check ``state``, exchange ``code`` (with the PKCE verifier), verify the ID token.

        Raises OidcLoginError if the state differs, the provider refuses the code or the ID
        token fails a check; OidcProviderError if the provider cannot be reached.
        """
        # RFC 6749 section 10.12: the state binds the callback to this browser's request.
        if not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise OidcLoginError("the callback's state does not match this browser's login")
        metadata = self.metadata()
        with self._oauth_client() as client:
            try:
                token = client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            except AuthlibBaseError as e:
                raise OidcLoginError(
                    f"the token endpoint refused the code: {e.error}: {e.description}"
                ) from e
            except httpx2.HTTPStatusError as e:
                raise OidcProviderError(
                    f"the token endpoint {metadata.token_endpoint} answered "
                    f"{e.response.status_code}"
                ) from e
            except httpx2.HTTPError as e:
                raise OidcProviderError(
                    f"the token endpoint {metadata.token_endpoint} could not be reached: {e}"
                ) from e
            except (ValueError, TypeError, KeyError) as e:
                raise OidcProviderError(
                    f"the token endpoint {metadata.token_endpoint} sent a malformed response: {e}"
                ) from e
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise OidcLoginError("the token response has no ID token (is 'openid' a scope?)")
            claims = self.validate_id_token(id_token, nonce=pending.nonce)
            groups_value = self._groups_value(client, metadata, claims)
        return _identity_of(claims, groups_value, groups_claim=self.config.groups_claim)

    def _groups_value(
        self, client: Any, metadata: ProviderMetadata, claims: Mapping[str, Any]
    ) -> object:
        """The groups claim: from the ID token, else (if the provider has one) userinfo."""
        name = self.config.groups_claim
        value = claim_at(claims, name)
        if value is not None:
            return value
        names = claims.get("_claim_names")
        if isinstance(names, Mapping) and name in names:
            # Entra ID's "groups overage" (more than 200 groups): the claim points to Graph,
            # which needs another API permission; we fail closed rather than guess.
            raise OidcLoginError(
                f"the provider sent the {name!r} claim by reference (groups overage): "
                "emit only the groups assigned to the application"
            )
        if metadata.userinfo_endpoint is None:
            return None
        try:
            response = client.get(metadata.userinfo_endpoint)
        except AuthlibBaseError as e:  # e.g. a token type other than Bearer
            raise OidcLoginError(
                f"the access token cannot be used at the userinfo endpoint: {e.error}"
            ) from e
        except httpx2.HTTPError as e:
            raise OidcProviderError(
                f"the userinfo endpoint {metadata.userinfo_endpoint} could not be reached: {e}"
            ) from e
        info = _json_object(response, what="the userinfo response", url=metadata.userinfo_endpoint)
        # OIDC Core section 5.3.2: a userinfo response for another subject MUST NOT be used.
        if info.get("sub") != claims["sub"]:
            raise OidcLoginError("the userinfo response is about another subject than the ID token")
        return claim_at(info, name)

    def validate_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` after every check of OIDC Core section 3.1.3.7.

        Raises OidcLoginError naming the check that failed.
        """
        if id_token.count(".") != 2:
            raise OidcLoginError(
                "the ID token is not a signed JWT (encrypted ID tokens unsupported)"
            )
        claims = self._verified_claims(id_token)
        now = int(self._clock())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": self.config.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as e:
            raise OidcLoginError("the ID token has expired") from e
        except MissingClaimError as e:
            raise OidcLoginError(f"the ID token lacks the {e.claim} claim") from e
        except ClaimError as e:
            raise OidcLoginError(f"the ID token's {e.claim} claim is wrong: {e.description}") from e
        # Section 3.1.3.7 items 3-5: no audience we do not trust; azp, if present, is us.
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if audiences != [self.config.client_id]:
            raise OidcLoginError("the ID token is also meant for other audiences")
        if "azp" in claims and claims["azp"] != self.config.client_id:
            raise OidcLoginError("the ID token's azp claim is another client")
        # Item 10: iat bounds how old a token we accept (a fresh code yields a fresh token),
        # and a token is never issued in the future beyond the allowed clock skew.
        if claims["iat"] > now + CLOCK_SKEW_SECONDS:
            raise OidcLoginError("the ID token's iat claim is wrong: issued in the future")
        if now - claims["iat"] > MAX_ID_TOKEN_AGE_SECONDS + CLOCK_SKEW_SECONDS:
            raise OidcLoginError("the ID token was issued too long ago")
        if len(claims["sub"]) > MAX_SUBJECT_LENGTH:
            raise OidcLoginError(f"the ID token's sub is longer than {MAX_SUBJECT_LENGTH}")
        return claims

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        algorithms = self.metadata().signing_algorithms
        unknown_key: InvalidKeyIdError | None = None
        for refresh in (False, True):  # second pass: the provider rotated its keys
            try:
                token = jwt.decode(id_token, self._key_set(refresh=refresh), algorithms=algorithms)
            except InvalidKeyIdError as e:
                unknown_key = e
                continue
            except BadSignatureError as e:
                raise OidcLoginError(
                    "the ID token's signature does not verify with the provider's keys"
                ) from e
            except JoseError as e:
                raise OidcLoginError(f"the ID token could not be verified: {e}") from e
            return dict(token.claims)
        raise OidcLoginError(
            "the ID token is signed with a key the provider does not publish"
        ) from (unknown_key)


def _json_object(response: Any, *, what: str, url: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise OidcProviderError(f"{what} at {url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise OidcProviderError(f"{what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = response.json()
    except ValueError as e:
        raise OidcProviderError(f"{what} at {url} is not JSON") from e
    if not isinstance(document, dict):
        raise OidcProviderError(f"{what} at {url} is not a JSON object")
    return document


def _import_keys(document: Mapping[str, Any], *, url: str) -> KeySet:
    """The signing keys of a JWKS (encryption keys and unknown key types left out)."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise OidcProviderError(f"the JWKS at {url} has no 'keys' array")
    usable = [
        k
        for k in keys
        if isinstance(k, dict)
        and k.get("kty") in _USABLE_KEY_TYPES
        and k.get("use", "sig") == "sig"
    ]
    if not usable:
        raise OidcProviderError(f"the JWKS at {url} has no signing key")
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as e:
        raise OidcProviderError(f"the JWKS at {url} holds an invalid key: {e}") from e


def _identity_of(
    claims: Mapping[str, Any], groups_value: object, *, groups_claim: str
) -> VerifiedIdentity:
    email = claims.get("email")
    verified = claims.get("email_verified")
    name = claims.get("name") or claims.get("preferred_username") or email or ""
    amr = claims.get("amr")
    acr = claims.get("acr")
    return VerifiedIdentity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        # Some providers send the boolean as a string.
        email_verified=verified is True or verified == "true",
        name=str(name)[:200],
        groups=groups_from(groups_value, claim=groups_claim),
        amr=tuple(v for v in amr if isinstance(v, str)) if isinstance(amr, list) else (),
        acr=acr if isinstance(acr, str) else None,
    )
