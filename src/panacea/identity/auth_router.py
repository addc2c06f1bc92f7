"""Routes of sign-in: password, second factor (TOTP, recovery code), TOTP enrolment, logout, me.

- ``POST /auth/login`` opens a *new* session of assurance "password" (a session cookie the
  browser already had is revoked, never reused) and says whether a second factor must follow.
  There is no session yet to carry a CSRF token, so login CSRF is refused differently: the
  body must be JSON (a cross-site form cannot send ``application/json`` without a CORS
  preflight, which fails) and an ``Origin`` header, when the browser sends one, must be the
  platform's own (``public_url``) or one of ``cors_origins``.
- Every other state-changing route is authenticated by the cookie, so ``current_principal``
  demands the ``X-CSRF-Token`` header.
- After a second factor the session is replaced (new cookie, new CSRF token): fixation-proof.

The cookie: ``HttpOnly`` (script cannot read it), ``SameSite=Lax`` (other sites' forms and
subresources do not carry it; a top-level link from an e-mail still lands signed in),
``Secure`` when ``public_url`` is https, ``Path=/``, no expiry (the server's idle and absolute
timeouts decide; closing the browser ends it too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from panacea.api.context import app_context, client_address
from panacea.api.deps import CurrentPrincipal, Db
from panacea.api.problems import PROBLEM_JSON, Problem, ProblemError
from panacea.identity import authentication
from panacea.identity.auth_schemas import (
    CodeIn,
    LoginIn,
    LoginOut,
    MeOut,
    SecondFactorDone,
    TotpConfirmedOut,
    TotpEnrolmentOut,
)
from panacea.identity.authentication import Attempt
from panacea.identity.principal import Principal
from panacea.identity.sessions import SESSION_COOKIE

router = APIRouter(prefix="/auth", tags=["authentication"])


def _problem_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "model": Problem,
    }


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def refuse_login_csrf(request: Request) -> None:
    """Dependency of /auth/login: JSON body only, and no foreign ``Origin``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise ProblemError(
            415,
            "POST /auth/login takes a JSON body (Content-Type: application/json); "
            "form posts are refused",
            slug="unsupported-media-type",
        )
    origin = request.headers.get("origin")
    if origin is None:
        return
    settings = app_context(request).settings
    allowed = {_origin_of(settings.public_url), *(_origin_of(o) for o in settings.cors_origins)}
    if origin.strip().lower() not in allowed:
        raise ProblemError(
            403,
            f"login from origin {origin[:100]!r} refused: only {sorted(allowed)} may sign in",
            slug="origin-refused",
        )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Put a session token in the cookie (HttpOnly, SameSite=Lax, Secure over https, Path=/)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=app_context(request).secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Tell the browser to drop the session cookie (same attributes, so it matches)."""
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        secure=app_context(request).secure_cookies,
        samesite="lax",
        path="/",
    )


def _attempt(request: Request) -> Attempt:
    return Attempt(
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent", "")[:300],
    )


@router.post(
    "/login",
    response_model=LoginOut,
    summary="Sign in with e-mail and password; a second factor may be required next",
    dependencies=[Depends(refuse_login_csrf)],
    responses={415: _problem_doc("The body is not JSON (login CSRF protection)")},
)
def login(body: LoginIn, request: Request, response: Response, db: Db) -> LoginOut:
    signed = authentication.login(
        db,
        app_context(request).sessions,
        email=body.email,
        password=body.password,
        attempt=_attempt(request),
        previous_token=request.cookies.get(SESSION_COOKIE),
    )
    set_session_cookie(request, response, signed.token)
    return LoginOut.of(
        signed.user,
        csrf_token=signed.session_row.csrf_token,
        assurance=signed.session_row.assurance,
        mfa=signed.mfa,
    )


@router.post(
    "/logout", status_code=204, summary="End the session and clear the cookie", response_model=None
)
def logout(principal: CurrentPrincipal, request: Request, response: Response, db: Db) -> None:
    authentication.logout(db, session_id=principal.session_id, attempt=_attempt(request))
    clear_session_cookie(request, response)


@router.get("/me", response_model=MeOut, summary="The caller's account, memberships and session")
def me(principal: CurrentPrincipal, db: Db) -> MeOut:
    overview = authentication.account_overview(db, principal.user_id)
    return MeOut.of(
        overview,
        via=principal.via,
        assurance=principal.assurance if principal.via == "session" else "token",
        csrf_token=authentication.csrf_token_of(db, principal.session_id),
    )


def _second_factor(
    request: Request,
    response: Response,
    db: Session,
    principal: Principal,
    method: authentication.SecondFactorMethod,
    code: str,
) -> SecondFactorDone:
    done = authentication.verify_second_factor(
        db,
        app_context(request).sessions,
        session_id=principal.session_id,
        method=method,
        code=code,
        attempt=_attempt(request),
    )
    set_session_cookie(request, response, done.token)
    return SecondFactorDone(
        csrf_token=done.session_row.csrf_token,
        assurance=done.session_row.assurance,
        recovery_codes_remaining=done.recovery_codes_remaining,
    )


@router.post(
    "/mfa/totp",
    response_model=SecondFactorDone,
    summary="Pass the second factor with a TOTP code; the session is replaced",
)
def second_factor_totp(
    body: CodeIn, principal: CurrentPrincipal, request: Request, response: Response, db: Db
) -> SecondFactorDone:
    return _second_factor(request, response, db, principal, "totp", body.code)


@router.post(
    "/mfa/recovery",
    response_model=SecondFactorDone,
    summary="Pass the second factor with a single-use recovery code; the session is replaced",
)
def second_factor_recovery(
    body: CodeIn, principal: CurrentPrincipal, request: Request, response: Response, db: Db
) -> SecondFactorDone:
    return _second_factor(request, response, db, principal, "recovery_code", body.code)


@router.post(
    "/mfa/totp/enrol",
    status_code=201,
    response_model=TotpEnrolmentOut,
    summary="Start enrolling a TOTP app: its secret and QR code, shown only now",
)
def enrol_totp(principal: CurrentPrincipal, request: Request, db: Db) -> TotpEnrolmentOut:
    enrolment = authentication.begin_totp_enrolment(
        db, session_id=principal.session_id, attempt=_attempt(request)
    )
    return TotpEnrolmentOut(
        otpauth_uri=enrolment.otpauth_uri, secret=enrolment.secret, qr_svg=enrolment.qr_svg
    )


@router.post(
    "/mfa/totp/confirm",
    response_model=TotpConfirmedOut,
    summary="Confirm the TOTP app with a first code; returns 10 recovery codes, shown only now",
)
def confirm_totp(
    body: CodeIn, principal: CurrentPrincipal, request: Request, response: Response, db: Db
) -> TotpConfirmedOut:
    confirmed = authentication.confirm_totp(
        db,
        app_context(request).sessions,
        session_id=principal.session_id,
        code=body.code,
        attempt=_attempt(request),
    )
    set_session_cookie(request, response, confirmed.token)
    return TotpConfirmedOut(
        csrf_token=confirmed.session_row.csrf_token,
        assurance=confirmed.session_row.assurance,
        recovery_codes=confirmed.recovery_codes,
    )
