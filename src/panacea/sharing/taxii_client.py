"""A TAXII 2.1 client over httpx: discovery, API roots, collections, Get Objects (paged) and
Add Objects with status polling (OASIS TAXII Version 2.1, sections 3-5).

Everything is bounded, because a peer is another organisation's server and may be slow, down
or hostile:

- **Retries**: a request that fails at the transport level (connection refused or reset,
  timeout) or answers 429, 502, 503 or 504 is tried again, at most ``RetryPolicy.attempts``
  times in all, after an exponential back-off with *full jitter* (a uniform delay in
  ``[0, min(max_delay, base_delay * 2**attempt)]``: M. Brooker, "Exponential Backoff And
  Jitter", AWS Architecture Blog, 2015), so that many clients retrying do not hammer a peer in
  step. A ``Retry-After`` (RFC 9110 section 10.2.3, seconds or an HTTP date) is honoured up to
  ``max_delay``. Other 4xx answers are not retried: repeating them changes nothing.
- **Time**: each request has a timeout; each client has a deadline for all its requests and
  back-off sleeps together (``deadline_seconds``), after which it raises.
- **Size**: an answer is read as a stream and refused beyond ``max_response_bytes``.
- **Pages**: :meth:`TaxiiClient.walk_objects` follows ``next`` (section 3.4) for at most
  ``max_pages`` pages, and a server that says ``more`` without ``next`` is followed with
  ``added_after`` = its ``X-TAXII-Date-Added-Last`` as long as that header moves forward.
- **Status polling**: an Add Objects whose status is ``pending`` is polled at most
  ``status_polls`` times (section 4.3).

Add Objects is retried like the rest: re-sending an envelope is harmless on a TAXII server,
which stores one version of an object once (PANACEA reports the repeat as a success, medallion
as a failure of that object; the caller's delivery records tell the two apart).
"""

from __future__ import annotations

import base64
import email.utils
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import urljoin

import httpx

from panacea.sharing.errors import TaxiiClientError

TAXII_MEDIA_TYPE: Final = "application/taxii+json;version=2.1"
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
DEFAULT_PAGE_SIZE: Final = 100
USER_AGENT: Final = "panacea-taxii-client/1"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request that may succeed later."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise TaxiiClientError(
                f"retry policy needs attempts >= 1 and delays >= 0, got {self!r}"
            )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The delay before try ``attempt + 1`` (``attempt`` counts from 0): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** min(attempt, 30)))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class Credentials:
    """How the client authenticates: a Bearer token (RFC 6750; PANACEA's API tokens) or
    HTTP Basic (RFC 7617; ``secret`` is ``user:password``, as medallion expects)."""

    kind: Literal["bearer", "basic"]
    secret: str = field(repr=False)

    def apply(self, request: httpx.Request) -> None:
        if self.kind == "bearer":
            request.headers["Authorization"] = f"Bearer {self.secret}"
            return
        user, colon, password = self.secret.partition(":")
        if not colon:
            raise TaxiiClientError("basic credentials must be written user:password")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.headers["Authorization"] = f"Basic {token}"


@dataclass(frozen=True)
class ClientLimits:
    """The bounds of one client: per request, per client, per walk."""

    timeout_seconds: float = 15.0
    deadline_seconds: float = 300.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_pages: int = 1000
    status_polls: int = 10
    status_poll_delay: float = 0.5


@dataclass(frozen=True)
class ObjectsPage:
    """One page of Get Objects: the objects and where to go on from."""

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    date_added_first: str | None
    date_added_last: str | None


@dataclass(frozen=True)
class AddStatus:
    """A TAXII status resource (section 4.3.1)."""

    id: str
    status: str
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    successes: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    pendings: list[dict[str, Any]]

    @classmethod
    def of(cls, document: Mapping[str, Any], where: str) -> AddStatus:
        try:
            return cls(
                id=str(document["id"]),
                status=str(document["status"]),
                total_count=int(document.get("total_count", 0)),
                success_count=int(document.get("success_count", 0)),
                failure_count=int(document.get("failure_count", 0)),
                pending_count=int(document.get("pending_count", 0)),
                successes=_details(document.get("successes")),
                failures=_details(document.get("failures")),
                pendings=_details(document.get("pendings")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TaxiiClientError(f"{where}: not a TAXII status resource ({e})") from e


def _details(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError("status details are not a list")
    return [d for d in value if isinstance(d, dict)]


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` asks for (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def api_root_url(base_url: str, api_root: str) -> str:
    """The URL of an API root from a server's base URL and the root's name or URL.

    ``api_root`` may be absolute (as Server Discovery lists roots) or a name relative to
    ``base_url`` (``panacea`` under ``http://host/taxii2/``). Always ends with a slash.
    """
    if not base_url.startswith(("http://", "https://")):
        raise TaxiiClientError(f"{base_url!r} is not an http(s) URL")
    joined = urljoin(base_url if base_url.endswith("/") else base_url + "/", api_root)
    return joined if joined.endswith("/") else joined + "/"


class TaxiiClient:
    """A client of one TAXII 2.1 API root. Use as a context manager (closes its connections).

    ``transport`` (an httpx transport) and ``sleep``/``clock``/``rng`` are injectable so that
    tests can put a real server, a fault-injecting proxy or a controlled clock behind it.
    Raises TaxiiClientError for every failure, with the URL and the server's message.
    """

    def __init__(
        self,
        api_root: str,
        credentials: Credentials | None,
        *,
        retry: RetryPolicy | None = None,
        limits: ClientLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.api_root = api_root if api_root.endswith("/") else api_root + "/"
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.limits = limits or ClientLimits()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._deadline = clock() + self.limits.deadline_seconds
        self._http = httpx.Client(
            timeout=self.limits.timeout_seconds,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": TAXII_MEDIA_TYPE, "User-Agent": USER_AGENT},
        )
        self.requests_sent = 0

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # the TAXII resources ---------------------------------------------------------------
    def discovery(self, url: str) -> dict[str, Any]:
        """Server Discovery (section 4.1) at ``url`` (``http://host/taxii2/``)."""
        document, _ = self._json("GET", url)
        return document

    def api_root_information(self) -> dict[str, Any]:
        """API Root Information (section 4.2)."""
        document, _ = self._json("GET", self.api_root)
        return document

    def collections(self) -> list[dict[str, Any]]:
        """Get Collections (section 5.1): the collections this client may see."""
        document, _ = self._json("GET", urljoin(self.api_root, "collections/"))
        found = document.get("collections", [])
        if not isinstance(found, list):
            raise TaxiiClientError(f"{self.api_root}collections/: 'collections' is not a list")
        return [c for c in found if isinstance(c, dict)]

    def collection(self, collection_id: str) -> dict[str, Any]:
        """Get A Collection (section 5.2)."""
        document, _ = self._json("GET", self._collection_url(collection_id))
        return document

    def objects_page(
        self,
        collection_id: str,
        *,
        added_after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        next_page: str | None = None,
        types: Sequence[str] = (),
    ) -> ObjectsPage:
        """One page of Get Objects (section 5.4), every version's latest (the default)."""
        params: dict[str, str] = {"limit": str(limit)}
        if added_after is not None:
            params["added_after"] = added_after
        if next_page is not None:
            params["next"] = next_page
        if types:
            params["match[type]"] = ",".join(types)
        url = self._collection_url(collection_id) + "objects/"
        document, headers = self._json("GET", url, params=params)
        objects = document.get("objects", [])
        if not isinstance(objects, list):
            raise TaxiiClientError(f"{url}: 'objects' of the envelope is not a list")
        next_value = document.get("next")
        return ObjectsPage(
            objects=[o for o in objects if isinstance(o, dict)],
            more=document.get("more") is True,
            next=str(next_value)
            if isinstance(next_value, str | int) and next_value != ""
            else None,
            date_added_first=headers.get("X-TAXII-Date-Added-First"),
            date_added_last=headers.get("X-TAXII-Date-Added-Last"),
        )

    def walk_objects(
        self,
        collection_id: str,
        *,
        added_after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        types: Sequence[str] = (),
    ) -> Iterator[ObjectsPage]:
        """Every page of objects added after ``added_after``, at most ``max_pages`` of them.

        Follows ``next`` with the same filters (section 3.4; medallion refuses a ``next``
        whose filters changed); without ``next`` but with ``more``, continues from the page's
        ``X-TAXII-Date-Added-Last``, and stops if that does not move forward (so a server that
        always says ``more`` cannot keep the client forever).
        """
        cursor: str | None = None
        since = added_after
        for _ in range(self.limits.max_pages):
            page = self.objects_page(
                collection_id, added_after=since, limit=limit, next_page=cursor, types=types
            )
            yield page
            if not page.more:
                return
            if page.next is not None:
                cursor = page.next
                continue
            if page.date_added_last is None or page.date_added_last == since:
                return
            cursor, since = None, page.date_added_last

    def add_objects(self, collection_id: str, objects: Sequence[Mapping[str, Any]]) -> AddStatus:
        """Add Objects (section 5.5) as one envelope; the final status (polled while pending)."""
        url = self._collection_url(collection_id) + "objects/"
        body = json.dumps({"objects": list(objects)}, ensure_ascii=False).encode("utf-8")
        document, _ = self._json(
            "POST", url, content=body, headers={"Content-Type": TAXII_MEDIA_TYPE}
        )
        status = AddStatus.of(document, url)
        for _ in range(self.limits.status_polls):
            if status.status != "pending":
                return status
            self._pause(self.limits.status_poll_delay)
            status = self.status(status.id)
        if status.status == "pending":
            raise TaxiiClientError(
                f"{url}: status {status.id} still pending after {self.limits.status_polls} polls"
            )
        return status

    def status(self, status_id: str) -> AddStatus:
        """Get Status (section 4.3)."""
        url = urljoin(self.api_root, f"status/{status_id}/")
        document, _ = self._json("GET", url)
        return AddStatus.of(document, url)

    # transport ---------------------------------------------------------------------------
    def _collection_url(self, collection_id: str) -> str:
        if not collection_id or "/" in collection_id or collection_id in {".", ".."}:
            raise TaxiiClientError(f"{collection_id!r} is not a collection id")
        return urljoin(self.api_root, f"collections/{collection_id}/")

    def _pause(self, seconds: float) -> None:
        left = self._deadline - self._clock()
        if seconds > left:
            raise TaxiiClientError(
                f"{self.api_root}: the client's deadline of {self.limits.deadline_seconds:g} s "
                "would pass while waiting to retry"
            )
        if seconds > 0:
            self._sleep(seconds)

    def _json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        """Send with retries; the JSON object answered (2xx) and the response headers."""
        failure = "no attempt made"
        for attempt in range(self.retry.attempts):
            if self._clock() >= self._deadline:
                raise TaxiiClientError(
                    f"{method} {url}: the client's deadline of "
                    f"{self.limits.deadline_seconds:g} s has passed ({failure})"
                )
            request = self._http.build_request(
                method, url, params=params, content=content, headers=headers
            )
            if self.credentials is not None:
                self.credentials.apply(request)
            wait: float | None = None
            try:
                self.requests_sent += 1
                response = self._http.send(request, stream=True)
                try:
                    body = self._read(response, url)
                finally:
                    response.close()
            except httpx.TransportError as e:
                failure = f"{type(e).__name__}: {e}"
            else:
                if 200 <= response.status_code < 300:
                    return self._document(body, url), response.headers
                failure = _error_text(response.status_code, body)
                if response.status_code not in RETRY_STATUSES:
                    raise TaxiiClientError(
                        f"{method} {url}: {failure}", status=response.status_code
                    )
                wait = _retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            if attempt + 1 == self.retry.attempts:
                break
            backoff = self.retry.backoff(attempt, self._rng)
            self._pause(min(self.retry.max_delay, max(backoff, wait or 0.0)))
        raise TaxiiClientError(
            f"{method} {url}: failed after {self.retry.attempts} attempt(s): {failure}"
        )

    def _read(self, response: httpx.Response, url: str) -> bytes:
        cap = self.limits.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise TaxiiClientError(f"{url}: the answer exceeds {cap} bytes", status=None)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _document(body: bytes, url: str) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise TaxiiClientError(f"{url}: the answer is not JSON ({e})") from e
        if not isinstance(document, dict):
            raise TaxiiClientError(f"{url}: the answer is not a JSON object")
        return document


def _error_text(status: int, body: bytes) -> str:
    """``HTTP 403 Forbidden: <description>`` from a TAXII error message when there is one."""
    text = f"HTTP {status}"
    try:
        document = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        title = document.get("title")
        description = document.get("description") or document.get("detail")
        if isinstance(title, str) and title:
            text += f" {title[:200]}"
        if isinstance(description, str) and description:
            text += f": {description[:500]}"
    return text
