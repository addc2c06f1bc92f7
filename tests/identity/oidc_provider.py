"""A small, real OpenID Connect provider for tests, served over HTTP on 127.0.0.1 in a thread.

It implements what PANACEA's relying party uses, and checks what a real provider checks:

- ``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0, section 4);
- ``/jwks`` with the provider's RSA signing key (generated per provider instance);
- ``/authorize``: authorization code flow; auto-approves the configured test user, insists on
  a registered ``redirect_uri``, ``response_type=code``, the ``openid`` scope and a PKCE
  ``S256`` challenge (RFC 7636 section 4.3), echoes ``state`` and keeps ``nonce``;
- ``/token``: client authentication ``client_secret_basic`` or ``client_secret_post``
  (RFC 6749 section 2.3.1), single-use codes bound to client and redirect URI, PKCE check
  ``BASE64URL(SHA256(code_verifier)) == code_challenge`` (RFC 7636 section 4.6), then a signed
  ID token;
- ``/userinfo`` for a bearer access token.

Tests spoil the next ID token through :attr:`OidcTestProvider.id_token_overrides` (a value of
``None`` removes the claim) or :attr:`OidcTestProvider.sign_with_foreign_key`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_LIFETIME_SECONDS = 60
ID_TOKEN_LIFETIME_SECONDS = 300
STARTUP_WAIT_SECONDS = 5.0
# Built once: loading the trust store for every request slows the tests down.
_BROWSER_TLS = ssl.create_default_context()


@dataclass
class TestUser:
    """The person the provider signs in (auto-approved)."""

    __test__ = False  # not a pytest test class

    sub: str = "f3b1c2d4-0001"
    email: str = "alice.martin@hospital.test"
    email_verified: bool = True
    name: str = "Alice Martin"
    groups: list[str] = field(default_factory=lambda: ["panacea-analysts"])
    amr: list[str] | None = None
    acr: str | None = None
    # False: the groups are only in the userinfo response (a Keycloak mapper without ID token).
    groups_in_id_token: bool = True


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: TestUser
    issued_at: float


@functools.lru_cache(maxsize=16)
def _signing_key(kid: str, *, foreign: bool = False) -> RSAKey:
    """A 2048-bit RSA key (generated once per test run for each kid: generation is slow)."""
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcTestProvider:
    """A running provider (use :func:`running_provider`); mutate its fields between logins."""

    def __init__(
        self,
        *,
        client_id: str = "panacea",
        client_secret: str = "provider-test-secret",  # noqa: S107
        redirect_uris: tuple[str, ...] = ("http://localhost:8000/api/v1/auth/oidc/callback",),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = redirect_uris
        self._lock = threading.Lock()
        self.issuer = ""  # set by start()
        self.reset()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- the protocol -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/userinfo", self._userinfo),
            ]
        )

    def reset(self) -> None:
        """Back to the initial user, keys and behaviour; forget codes, tokens and requests."""
        self.user = TestUser()
        self.id_token_overrides: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.userinfo_sub: str | None = None  # a different sub in userinfo, if set
        self.discovery_overrides: dict[str, Any] = {}
        self.kid = "test-1"
        self.key = _signing_key(self.kid)
        # Not published: its signatures (under the published kid) must not verify.
        self.foreign_key = _signing_key(self.kid, foreign=True)
        self.token_requests: list[dict[str, str]] = []
        self.paths: list[str] = []  # every path requested, in order
        with self._lock:
            self._grants: dict[str, _Grant] = {}
            self._access_tokens: dict[str, TestUser] = {}

    def rotate_key(self) -> None:
        """Replace the signing key by a new one under a new kid (the old one is withdrawn)."""
        self.kid = f"test-{int(self.kid.rsplit('-', 1)[1]) + 1}"
        self.key = _signing_key(self.kid)

    def discovery_document(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        }
        document.update(self.discovery_overrides)
        return document

    async def _discovery(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        return JSONResponse(self.discovery_document())

    async def _jwks(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return _error(400, "unauthorized_client", "unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            # Never redirect to an unregistered URI (RFC 6749 section 4.1.2.1).
            return _error(400, "invalid_request", "redirect_uri not registered")
        if q.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "only code")
        if "openid" not in q.get("scope", "").split():
            return _error(400, "invalid_scope", "openid scope missing")
        challenge = q.get("code_challenge", "")
        if q.get("code_challenge_method") != "S256" or not challenge:
            return _error(400, "invalid_request", "PKCE S256 code_challenge required")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                code_challenge=challenge,
                nonce=q.get("nonce"),
                user=self.user,
                issued_at=time.time(),
            )
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    def _client_of(self, request: Request, form: dict[str, str]) -> str | None:
        """The authenticated client id, or None (basic or post, RFC 6749 section 2.3.1)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode("utf-8")
            client_id, _, client_secret = raw.partition(":")
            client_id, client_secret = unquote(client_id), unquote(client_secret)
            self.token_requests[-1]["auth_method"] = "client_secret_basic"
        else:
            client_id = form.get("client_id", "")
            client_secret = form.get("client_secret", "")
            self.token_requests[-1]["auth_method"] = "client_secret_post"
        ok = client_id == self.client_id and secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )
        return client_id if ok else None

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(dict(form))
        client_id = self._client_of(request, form)
        if client_id is None:
            return _error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # single use
        if grant is None or time.time() - grant.issued_at > CODE_LIFETIME_SECONDS:
            return _error(400, "invalid_grant", "unknown, used or expired code")
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant", "code issued to another client or redirect_uri")
        verifier = form.get("code_verifier", "")
        if not secrets.compare_digest(_s256(verifier), grant.code_challenge):
            return _error(400, "invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = grant.user
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant.user, nonce=grant.nonce),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        with self._lock:
            user = self._access_tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if user is None:
            return _error(401, "invalid_token", "unknown access token")
        return JSONResponse(
            {
                "sub": self.userinfo_sub or user.sub,
                "email": user.email,
                "email_verified": user.email_verified,
                "groups": user.groups,
            }
        )

    def id_token(self, user: TestUser, *, nonce: str | None) -> str:
        """A signed ID token for ``user`` (with the configured overrides applied)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "azp": self.client_id,
            "exp": now + ID_TOKEN_LIFETIME_SECONDS,
            "iat": now,
            "auth_time": now,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if user.groups_in_id_token:
            claims["groups"] = user.groups
        if user.amr is not None:
            claims["amr"] = user.amr
        if user.acr is not None:
            claims["acr"] = user.acr
        for name, value in self.id_token_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.foreign_key if self.sign_with_foreign_key else self.key
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, key)

    # --- serving ------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in a daemon thread; wait until it accepts."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="oidc-test-provider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_WAIT_SECONDS
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the test OIDC provider did not start on {self.issuer}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_WAIT_SECONDS)


def browse(url: str) -> str:
    """The browser at the provider's authorization endpoint: where it redirects back to."""
    response = httpx.get(url, follow_redirects=False, timeout=5, verify=_BROWSER_TLS)
    assert response.status_code == 302, response.text
    return response.headers["location"]


@contextmanager
def running_provider(**kwargs: Any) -> Iterator[OidcTestProvider]:
    """A started provider, stopped on exit."""
    provider = OidcTestProvider(**kwargs)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
