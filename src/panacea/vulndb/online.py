"""Fetching feeds over HTTP: rate limits, bounded retries with backoff, size and time limits.

Time is read and spent through a ``Clock`` so that tests run on a simulated clock and never
wait. Every loop is bounded in count (attempts, body chunks) and in time (a deadline).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Protocol

import httpx

from panacea.db.base import utcnow
from panacea.vulndb.errors import FeedDownloadError

# NVD answers 403 (not only 429) when a client exceeds its rate limit; 502/504 come from its
# gateways under load. All of these are worth a bounded retry; other statuses are not.
RETRY_STATUSES: Final = frozenset({403, 429, 502, 503, 504})
MAX_BODY_BYTES: Final = 512 * 1024 * 1024
USER_AGENT: Final = "PANACEA-vulnerability-feeds"


class Clock(Protocol):
    """Wall time for feed windows, monotonic time for limits, and a way to wait."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry: waits double from ``backoff_seconds``."""

    max_attempts: int = 5
    backoff_seconds: float = 6.0
    max_backoff_seconds: float = 120.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based), honouring a bounded Retry-After."""
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff_seconds)
        return min(self.backoff_seconds * 2.0 ** (attempt - 1), self.max_backoff_seconds)


class RateLimiter:
    """At most ``limit`` requests in any rolling ``window_seconds`` (the NVD's rule)."""

    def __init__(self, limit: int, window_seconds: float, clock: Clock) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._sent: deque[float] = deque()
        self.slept = 0.0

    def acquire(self) -> None:
        """Wait (on the clock) until one more request fits in the window, then count it."""
        now = self._forget_old()
        if len(self._sent) >= self.limit:
            # The window holds exactly the last `limit` requests: the oldest must leave it.
            # Popping it (instead of comparing times again) keeps float rounding out of it.
            oldest = self._sent.popleft()
            wait = oldest + self.window - now
            if wait > 0:
                self.clock.sleep(wait)
                self.slept += wait
            now = self.clock.monotonic()
        self._sent.append(now)

    def _forget_old(self) -> float:
        now = self.clock.monotonic()
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        return now


@dataclass(frozen=True)
class Download:
    url: str
    body: bytes


class FeedClient:
    """An HTTP client for feed downloads. Use as a context manager.

    ``deadline_seconds`` bounds the whole session of downloads; ``timeout_seconds`` each
    network operation. ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        *,
        timeout_seconds: float,
        deadline_seconds: float,
        clock: Clock,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.max_body_bytes = max_body_bytes
        self.deadline = clock.monotonic() + deadline_seconds
        self._http = httpx.Client(
            timeout=timeout_seconds,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
        follow_redirects: bool = True,
    ) -> Download:
        """GET ``url``; retry on RETRY_STATUSES and network errors, up to the policy's attempts.

        Pass ``follow_redirects=False`` when ``headers`` carry a secret: httpx would repeat a
        custom header such as ``apiKey`` to whatever host a redirect names. Raises
        FeedDownloadError naming the URL (with its query) on any other HTTP error or a refused
        redirect, when the attempts or the deadline run out, or when the body is too large.
        """
        try:
            request = self._http.build_request("GET", url, params=params, headers=headers)
        except httpx.InvalidURL as e:
            raise FeedDownloadError(url, f"invalid URL: {e}") from e
        shown = str(request.url)
        problem = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            self._check_deadline(shown)
            if limiter is not None:
                limiter.acquire()
            outcome = self._attempt(request, shown, follow_redirects=follow_redirects)
            if isinstance(outcome, Download):
                return outcome
            problem, retry_after = outcome
            if attempt < self.retry.max_attempts:
                self._wait_before_retry(self.retry.delay(attempt, retry_after), shown, problem)
        raise FeedDownloadError(
            shown, f"gave up after {self.retry.max_attempts} attempts: {problem}"
        )

    def _attempt(
        self, request: httpx.Request, shown: str, *, follow_redirects: bool
    ) -> Download | tuple[str, str | None]:
        """A Download, or (what went wrong, Retry-After) when it is worth trying again."""
        try:
            response = self._http.send(request, stream=True, follow_redirects=follow_redirects)
        except httpx.UnsupportedProtocol as e:
            raise FeedDownloadError(shown, f"unsupported URL scheme: {e}") from e
        except httpx.TransportError as e:
            return f"{type(e).__name__}: {e}", None
        except httpx.HTTPError as e:  # too many redirects and the like: trying again won't help
            raise FeedDownloadError(shown, f"{type(e).__name__}: {e}") from e
        try:
            return self._response(response, shown)
        except httpx.TransportError as e:
            return f"{type(e).__name__} while reading: {e}", None
        except httpx.HTTPError as e:
            raise FeedDownloadError(shown, f"{type(e).__name__} while reading: {e}") from e
        finally:
            response.close()

    def _response(self, response: httpx.Response, shown: str) -> Download | tuple[str, str | None]:
        status = response.status_code
        if status in RETRY_STATUSES:
            return f"HTTP {status}", response.headers.get("Retry-After")
        if response.is_redirect:
            location = response.headers.get("Location", "?")
            raise FeedDownloadError(shown, f"HTTP {status} redirect to {location} not followed")
        if status >= 400:
            raise FeedDownloadError(shown, f"HTTP {status}")
        return Download(shown, self._read(response, shown))

    def _read(self, response: httpx.Response, shown: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise FeedDownloadError(shown, f"response larger than {self.max_body_bytes} bytes")
            self._check_deadline(shown)
            chunks.append(chunk)
        return b"".join(chunks)

    def _wait_before_retry(self, delay: float, shown: str, problem: str) -> None:
        if self.clock.monotonic() + delay > self.deadline:
            message = f"the time allowed for the feed update ran out (last problem: {problem})"
            raise FeedDownloadError(shown, message)
        self.clock.sleep(delay)

    def _check_deadline(self, shown: str) -> None:
        if self.clock.monotonic() > self.deadline:
            raise FeedDownloadError(shown, "the time allowed for the feed update ran out")
