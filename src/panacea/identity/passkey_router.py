"""Routes of passkeys: register one, pass one as the session's second factor, list, delete.

All routes act on the caller's own account from a browser session (an API token is refused
with 403): cookie-authenticated POSTs and DELETEs carry ``X-CSRF-Token``, which
``current_principal`` checks. Each ceremony is two calls: ``.../options`` returns the options
for ``navigator.credentials.create()`` / ``.get()`` (the challenge is kept on the session),
``.../verify`` takes what the browser returned (``PublicKeyCredential.toJSON()``).

A refused ceremony answers 422 (registration) or 401 (authentication) and still commits its
record: the challenge is spent, the refusal audited, a failed assertion counted against the
account's login throttle.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from panacea.api.context import app_context
from panacea.api.deps import CurrentPrincipal, Db
from panacea.api.pagination import DEFAULT_LIMIT, Page, page_of_list
from panacea.api.problems import Problem, ProblemError
from panacea.identity.auth_router import set_session_cookie
from panacea.identity.passkey_schemas import (
    AuthenticateIn,
    PasskeyOut,
    RegisterIn,
    SecondFactorOut,
)
from panacea.identity.passkeys import (
    PasskeyAuthenticationError,
    PasskeyError,
    PasskeyRegistrationError,
    RelyingParty,
    authenticate,
    authentication_options,
    delete_passkey,
    list_passkeys,
    register,
    registration_options,
)

router = APIRouter(
    prefix="/auth/passkeys",
    tags=["passkeys"],
    responses={
        503: {"description": "Passkeys unavailable: public_url has no host name", "model": Problem}
    },
)

PasskeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Passkey id")]


def relying_party(request: Request) -> RelyingParty:
    """The relying party of ``settings.public_url``; 503 when it cannot carry passkeys."""
    try:
        return RelyingParty.from_public_url(app_context(request).settings.public_url)
    except PasskeyError as e:
        raise ProblemError(503, str(e), slug="passkeys-unavailable") from e


Rp = Annotated[RelyingParty, Depends(relying_party)]


@router.post(
    "/register/options",
    response_model=dict[str, Any],
    summary="Options for navigator.credentials.create() (user verification required)",
)
def start_registration(principal: CurrentPrincipal, db: Db, rp: Rp) -> dict[str, Any]:
    return registration_options(db, principal, rp)


@router.post(
    "/register/verify",
    status_code=201,
    response_model=PasskeyOut,
    summary="Verify the authenticator's registration response and store the passkey",
)
def finish_registration(
    body: RegisterIn, principal: CurrentPrincipal, db: Db, rp: Rp
) -> PasskeyOut:
    try:
        passkey = register(db, principal, rp, body.credential.as_json(), name=body.name)
    except PasskeyRegistrationError as e:
        # The request's transaction is rolled back when the route raises; the spent challenge
        # and the audit entry of the refusal must survive it.
        db.commit()
        raise ProblemError(422, str(e), slug="passkey-refused") from e
    return PasskeyOut.of(passkey)


@router.post(
    "/authenticate/options",
    response_model=dict[str, Any],
    summary="Options for navigator.credentials.get(): the session's second factor",
)
def start_authentication(principal: CurrentPrincipal, db: Db, rp: Rp) -> dict[str, Any]:
    return authentication_options(db, principal, rp)


@router.post(
    "/authenticate/verify",
    response_model=SecondFactorOut,
    summary="Verify the assertion; the session passes its second factor and is replaced",
)
def finish_authentication(
    body: AuthenticateIn,
    principal: CurrentPrincipal,
    db: Db,
    rp: Rp,
    request: Request,
    response: Response,
) -> SecondFactorOut:
    try:
        row, token = authenticate(db, principal, rp, body.credential.as_json())
    except PasskeyAuthenticationError:
        # Spent challenge, audit entry and throttle count outlive the refused request.
        db.commit()
        raise
    # The same cookie as a password sign-in sets (attributes in one place).
    set_session_cookie(request, response, token)
    return SecondFactorOut(assurance=row.assurance, csrf_token=row.csrf_token)


@router.get("", response_model=Page[PasskeyOut], summary="The caller's passkeys")
def list_own_passkeys(
    principal: CurrentPrincipal,
    db: Db,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_LIMIT,
) -> Page[PasskeyOut]:
    items = [PasskeyOut.of(p) for p in list_passkeys(db, principal)]
    return page_of_list(items, key=lambda p: p.id, cursor=cursor, limit=limit)


@router.delete(
    "/{passkey_id}",
    status_code=204,
    summary="Delete one of the caller's passkeys (second factor passed first)",
)
def remove_passkey(passkey_id: PasskeyId, principal: CurrentPrincipal, db: Db) -> None:
    delete_passkey(db, principal, passkey_id)
