"""TAXII 2.1 media types, content negotiation, responses and error messages.

Content negotiation (TAXII 2.1 sections 1.6.8 and 3.1; RFC 9110 section 12.5.1):

- Every request must accept a TAXII media type: ``Accept`` lists ``application/taxii+json``
  with ``version=2.1`` or without a version (the latest, which is 2.1 here), with a non-zero
  ``q``. Anything else (no Accept, ``*/*`` alone, ``application/json``, TAXII 2.0's
  ``application/vnd.oasis.taxii+json``, another version) answers 406. The objects endpoints
  too: TAXII 2.1 wraps objects in an envelope whose media type is the TAXII one;
  ``application/stix+json;version=2.1`` only describes what a collection holds
  (``media_types``, the manifest's ``media_type``).
- Add Objects must send ``Content-Type: application/taxii+json`` (``version=2.1`` or none);
  anything else answers 415.
- Every answer, errors included, is ``application/taxii+json;version=2.1``; an error is a
  TAXII error message (section 3.6.1: ``title``, ``description``, ``http_status``...).

:func:`install_taxii_error_handlers` makes the app's error handlers answer TAXII error messages
instead of problem details for paths under ``/taxii2``: every error raised on the way (an
expired token, a malformed cursor, a validation error, a crash) keeps its status and message,
in the form TAXII clients read.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from panacea.sharing.errors import TaxiiError

TAXII_MEDIA_TYPE: Final = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE: Final = "application/stix+json;version=2.1"
TAXII_PREFIX: Final = "/taxii2"
_TAXII_TYPE: Final = "application/taxii+json"
_VERSION: Final = "2.1"
# Headers of the original error worth keeping (the rest describe the problem+json body).
_KEPT_HEADERS: Final = ("www-authenticate", "retry-after")
log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for item in header.split(","):
        kind, *params = item.split(";")
        values: dict[str, str] = {}
        for param in params:
            name, _, value = param.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        ranges.append((kind.strip().lower(), values))
    return ranges


def _is_taxii_21(kind: str, params: dict[str, str]) -> bool:
    return kind == _TAXII_TYPE and params.get("version", _VERSION) == _VERSION


def accepts_taxii(accept: str | None) -> bool:
    """True if an Accept header admits the TAXII 2.1 media type (see the module doc)."""
    if not accept or len(accept) > 1000:
        return False
    for kind, params in _media_ranges(accept):
        if not _is_taxii_21(kind, params):
            continue
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            continue
        if quality > 0:
            return True
    return False


def is_taxii_content(content_type: str | None) -> bool:
    """True if a Content-Type header is the TAXII 2.1 media type (see the module doc)."""
    if not content_type or len(content_type) > 200:
        return False
    ranges = _media_ranges(content_type)
    return len(ranges) == 1 and _is_taxii_21(*ranges[0])


def check_accept(request: Request) -> None:
    """Raise TaxiiError(406) unless the request accepts the TAXII 2.1 media type."""
    if not accepts_taxii(request.headers.get("accept")):
        raise TaxiiError(
            406,
            "Not Acceptable",
            f"the Accept header must include {TAXII_MEDIA_TYPE}",
        )


def check_content_type(request: Request) -> None:
    """Raise TaxiiError(415) unless the request body is the TAXII 2.1 media type."""
    if not is_taxii_content(request.headers.get("content-type")):
        raise TaxiiError(
            415,
            "Unsupported Media Type",
            f"the Content-Type of Add Objects must be {TAXII_MEDIA_TYPE}",
        )


def taxii_response(
    body: dict[str, Any] | bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A TAXII 2.1 response: the media type, and no caching of what a token was shown."""
    content = body if isinstance(body, bytes) else _dumps(body)
    return Response(
        content=content,
        status_code=status,
        media_type=TAXII_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(
    status: int, title: str, description: str = "", *, headers: dict[str, str] | None = None
) -> Response:
    """A TAXII error message (section 3.6.1) with ``status``."""
    body: dict[str, Any] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return taxii_response(body, status=status, headers=headers)


def _from_taxii_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TaxiiError)
    return error_response(exc.status, exc.title, exc.description, headers=exc.headers)


def _is_taxii(request: Request) -> bool:
    path = request.url.path
    return path == TAXII_PREFIX or path.startswith(TAXII_PREFIX + "/")


def _wrap(original: Handler) -> Handler:
    """``original`` for the API; for TAXII paths, its status and message as a TAXII error."""

    async def handler(request: Request, exc: Exception) -> Response:
        answer = original(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        if not _is_taxii(request):
            return response
        title = HTTPStatus(response.status_code).phrase
        description = ""
        try:
            problem = json.loads(bytes(response.body))
            description = str(problem.get("detail") or "")
        except (ValueError, AttributeError):
            pass
        if isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
            description = f"no TAXII endpoint at {request.url.path}"
        kept = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        return error_response(response.status_code, title, description, headers=kept)

    return handler


def install_taxii_error_handlers(app: FastAPI) -> None:
    """Answer TAXII error messages under ``/taxii2`` (call after the problem handlers)."""
    for kind, original in list(app.exception_handlers.items()):
        app.add_exception_handler(kind, _wrap(original))
    app.add_exception_handler(TaxiiError, _from_taxii_error)
