"""Routes of single sign-on: ``GET /auth/oidc/login`` and ``GET /auth/oidc/callback``.

``/login`` sends the browser to the identity provider (302) with a sealed, HttpOnly,
SameSite=Lax cookie holding state, nonce and PKCE verifier, scoped to these two paths and
valid ten minutes. The provider sends the browser back to ``/callback`` (a top-level GET, which
SameSite=Lax lets the cookie follow); on success the session cookie is set and the browser is
sent to ``/`` (303); a refusal answers a problem document (401 login failed, 403 refused,
502 provider unavailable), audited either way. The redirect URI registered at the provider
is ``{PANACEA_PUBLIC_URL}/api/v1/auth/oidc/callback``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from panacea.api.context import app_context, client_address
from panacea.api.deps import Db
from panacea.api.problems import ProblemError, problem_response
from panacea.identity.auth_router import set_session_cookie
from panacea.identity.oidc import OidcClient, OidcConfig
from panacea.identity.oidc_errors import OidcProviderError, SsoNotConfiguredError
from panacea.identity.oidc_provisioning import SsoRefusal, complete_login
from panacea.identity.oidc_state import PENDING_LOGIN_LIFETIME, seal, sealing_key
from panacea.identity.sessions import SESSION_COOKIE

router = APIRouter(prefix="/auth/oidc", tags=["authentication"])

PENDING_LOGIN_COOKIE = "panacea_oidc_login"
CALLBACK_ROUTE = "oidc_callback"
AFTER_LOGIN = "/"
_runtime_lock = threading.Lock()


@dataclass(frozen=True)
class SsoRuntime:
    """The application's relying party and the key that seals pending logins."""

    client: OidcClient
    sealing_key: bytes
    # Path the pending-login cookie is limited to (the /auth/oidc routes).
    cookie_path: str
    secure_cookies: bool


def sso_runtime(request: Request) -> SsoRuntime:
    """Dependency: the app's single sign-on runtime, built at first use.

    404 problem if single sign-on is not configured; 503 if it is configured wrongly (the
    detail names the setting).
    """
    state = request.app.state
    with _runtime_lock:
        runtime: SsoRuntime | None = getattr(state, "panacea_sso", None)
        if runtime is None:
            context = app_context(request)
            settings = context.settings
            callback_path = request.app.url_path_for(CALLBACK_ROUTE)
            try:
                if not settings.oidc_issuer:
                    raise SsoNotConfiguredError("single sign-on is not configured")
                config = OidcConfig.from_settings(
                    settings, redirect_uri=settings.public_url.rstrip("/") + callback_path
                )
                if settings.secret_key is not None:
                    secret = settings.secret_key.get_secret_value().encode("utf-8")
                elif settings.demo_mode:
                    # Pending logins of a demo do not survive a restart: acceptable.
                    secret = os.urandom(32)
                else:
                    raise SsoNotConfiguredError(
                        "single sign-on needs PANACEA_SECRET_KEY (it seals the pending login)"
                    )
                key = sealing_key(secret)
            except SsoNotConfiguredError as e:
                status = 404 if not settings.oidc_issuer else 503
                raise ProblemError(status, str(e), slug="sso-not-configured") from e
            except ValueError as e:
                raise ProblemError(
                    503, f"PANACEA_SECRET_KEY is unusable: {e}", slug="sso-not-configured"
                ) from e
            runtime = SsoRuntime(
                client=OidcClient(config),
                sealing_key=key,
                cookie_path=callback_path.rsplit("/", 1)[0],
                secure_cookies=context.secure_cookies,
            )
            state.panacea_sso = runtime
    return runtime


Sso = Annotated[SsoRuntime, Depends(sso_runtime)]


@router.get(
    "/login",
    summary="Sign in with the identity provider (redirects to it)",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the identity provider's authorization endpoint"},
        404: {"description": "Single sign-on is not configured"},
        502: {"description": "The identity provider is unreachable"},
    },
)
def oidc_login(sso: Sso) -> Response:
    try:
        url, pending = sso.client.authorization_request()
    except OidcProviderError as e:
        raise ProblemError(502, str(e), slug="sso-provider-unavailable") from e
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        PENDING_LOGIN_COOKIE,
        seal(pending, sso.sealing_key),
        max_age=int(PENDING_LOGIN_LIFETIME.total_seconds()),
        path=sso.cookie_path,
        secure=sso.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(
    "/callback",
    name=CALLBACK_ROUTE,
    summary="The identity provider's redirect back (sets the session cookie)",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Signed in: the session cookie is set"},
        401: {"description": "The login did not verify (state, code or ID token)"},
        403: {"description": "Refused: disabled account, no mapped group, unverified e-mail"},
        502: {"description": "The identity provider is unreachable"},
    },
)
def oidc_callback(
    request: Request,
    db: Db,
    sso: Sso,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    outcome = complete_login(
        db,
        sso.client,
        sealing_key=sso.sealing_key,
        sealed=request.cookies.get(PENDING_LOGIN_COOKIE),
        state=state,
        code=code,
        error=error,
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
        previous_token=request.cookies.get(SESSION_COOKIE),
    )
    response: Response
    if isinstance(outcome, SsoRefusal):
        # Returned, not raised: the refusal's audit entry must commit with the request.
        response = problem_response(
            outcome.status, outcome.reason, slug=outcome.slug, instance=request.url.path
        )
    else:
        # The web client reads its CSRF token from GET /auth/me, as after a password login.
        response = RedirectResponse(AFTER_LOGIN, status_code=303)
        set_session_cookie(request, response, outcome.session_token)
    # Single use, whatever the outcome.
    response.delete_cookie(
        PENDING_LOGIN_COOKIE,
        path=sso.cookie_path,
        secure=sso.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response
