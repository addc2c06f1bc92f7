"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns goes through here: our own exceptions, FastAPI's validation
errors and Starlette's HTTP exceptions. ``type`` is ``about:blank`` for plain HTTP statuses
and a ``urn:panacea:problem:<slug>`` otherwise (RFC 9457 section 4.2.1).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from panacea.errors import PanaceaError
from panacea.identity.errors import (
    AuthenticationError,
    ConflictError,
    EncryptionError,
    MfaRequiredError,
    NotFoundError,
    PasswordPolicyError,
    PermissionDeniedError,
    ThrottledError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raise from a dependency or route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"urn:panacea:problem:{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# Our exceptions -> (status, slug). Order matters: subclasses before their bases.
_MAPPING: list[tuple[type[PanaceaError], int, str]] = [
    (AuthenticationError, 401, "authentication-failed"),
    (ThrottledError, 429, "throttled"),
    (MfaRequiredError, 403, "mfa-required"),
    (PermissionDeniedError, 403, "permission-denied"),
    (NotFoundError, 404, "not-found"),
    (PasswordPolicyError, 422, "password-rejected"),
    (ConflictError, 409, "conflict"),
    # A key the server cannot use is the server's fault, never the request's.
    (EncryptionError, 500, "server-keys"),
]


def _from_panacea_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PanaceaError)
    for kind, status, slug in _MAPPING:
        if isinstance(exc, kind):
            headers = None
            if isinstance(exc, ThrottledError):
                headers = {"Retry-After": str(exc.retry_after)}
            detail = str(exc)
            if status >= 500:
                # The operator reads the cause in the log; the client learns nothing about keys.
                log.error("%s on %s %s: %s", slug, request.method, request.url.path, exc)
                detail = "the server cannot complete this request; its log has the cause"
            return problem_response(
                status, detail, slug=slug, instance=request.url.path, headers=headers
            )
    # Any other error of ours is a request the platform refuses on purpose (bad input).
    return problem_response(422, str(exc), slug="invalid-request", instance=request.url.path)


def _from_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


def _from_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code,
        str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


def _from_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return problem_response(
        422,
        f"{first['field']}: {first['message']}",
        slug="validation-error",
        instance=request.url.path,
        errors=errors,
    )


def _from_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error of ``app`` through problem details."""
    app.add_exception_handler(ProblemError, _from_api_problem)
    app.add_exception_handler(PanaceaError, _from_panacea_error)
    app.add_exception_handler(StarletteHTTPException, _from_http_exception)
    app.add_exception_handler(RequestValidationError, _from_validation_error)
    app.add_exception_handler(Exception, _from_unexpected)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is answered."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


def _problem_response_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "model": Problem,
    }


# Declared on every API route (the OpenAPI is the contract schemathesis checks responses against).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_response_doc("Malformed request (bad cursor, bad limit)"),
    401: _problem_response_doc("Authentication required"),
    403: _problem_response_doc("Permission denied, CSRF token missing, or second factor needed"),
    404: _problem_response_doc("Not found, or another organisation's"),
    409: _problem_response_doc("Conflicts with the current state"),
    413: _problem_response_doc("Request body too large"),
    422: _problem_response_doc("Invalid input; names the field"),
    429: _problem_response_doc("Too many failed attempts; see Retry-After"),
}
