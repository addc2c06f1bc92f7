"""HTTP plumbing of the online feeds: rolling rate limit, backoff, size limit, time limit."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panacea.vulndb.errors import FeedDownloadError
from panacea.vulndb.online import FeedClient, RateLimiter, RetryPolicy
from tests.vulndb.feed_server import SimulatedClock


@given(
    limit=st.integers(1, 6),
    gaps=st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=1, max_size=25),
)
def test_rate_limiter_never_allows_more_than_limit_in_a_window(
    limit: int, gaps: list[float]
) -> None:
    clock = SimulatedClock()
    limiter = RateLimiter(limit, 30.0, clock)
    sent = []
    for gap in gaps:
        clock.elapsed += gap
        limiter.acquire()
        sent.append(clock.monotonic())

    spans = [later - earlier for earlier, later in zip(sent, sent[limit:], strict=False)]
    assert all(span >= 30.0 - 1e-9 for span in spans)
    # and it waits no longer than it must: each wait ends exactly when the window frees a slot
    assert all(wait <= 30.0 + 1e-9 for wait in clock.sleeps)


def test_rate_limiter_waits_only_when_the_window_is_full() -> None:
    clock = SimulatedClock()
    limiter = RateLimiter(5, 30.0, clock)

    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()

    assert (clock.sleeps, limiter.slept) == ([30.0], 30.0)


def test_rate_limiter_refuses_a_vacuous_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(0, 30.0, SimulatedClock())


@pytest.mark.parametrize(
    ("attempt", "retry_after", "delay"),
    [
        (1, None, 6.0),
        (2, None, 12.0),
        (4, None, 48.0),
        (7, None, 120.0),
        (1, "9", 9.0),
        (1, "3600", 120.0),
    ],
)
def test_backoff_doubles_and_is_bounded(
    attempt: int, retry_after: str | None, delay: float
) -> None:
    assert RetryPolicy().delay(attempt, retry_after) == delay


def _client(handler: object, clock: SimulatedClock, **options: object) -> FeedClient:
    return FeedClient(
        timeout_seconds=5.0,
        deadline_seconds=float(options.pop("deadline_seconds", 600.0)),  # type: ignore[arg-type]
        clock=clock,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def test_body_larger_than_the_limit_is_refused() -> None:
    clock = SimulatedClock()
    with (
        _client(
            lambda _r: httpx.Response(200, content=b"x" * 5000), clock, max_body_bytes=4096
        ) as client,
        pytest.raises(FeedDownloadError, match="larger than 4096 bytes") as raised,
    ):
        client.get("https://epss.test/epss.csv.gz")

    assert raised.value.url == "https://epss.test/epss.csv.gz"


def test_redirects_are_followed_and_the_body_returned() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "https://kev.test/new"})
        return httpx.Response(200, content=b"catalogue")

    with _client(handler, SimulatedClock()) as client:
        download = client.get("https://kev.test/old")

    assert download.body == b"catalogue"


def test_deadline_stops_retrying() -> None:
    clock = SimulatedClock()
    with (
        _client(lambda _r: httpx.Response(503), clock, deadline_seconds=20.0) as client,
        pytest.raises(FeedDownloadError, match="time allowed"),
    ):
        client.get("https://nvd.test/rest/json/cves/2.0")

    assert clock.sleeps == [6.0, 12.0]


def test_redirect_is_refused_when_a_secret_header_would_follow_it() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://elsewhere.test/collect"})

    with (
        _client(handler, SimulatedClock()) as client,
        pytest.raises(FeedDownloadError, match=r"redirect to https://elsewhere\.test/collect"),
    ):
        client.get(
            "https://nvd.test/rest/json/cves/2.0", headers={"apiKey": "k"}, follow_redirects=False
        )

    assert asked == ["https://nvd.test/rest/json/cves/2.0"]


def test_unsupported_scheme_is_not_retried() -> None:
    clock = SimulatedClock()
    with (
        FeedClient(timeout_seconds=5.0, deadline_seconds=60.0, clock=clock) as client,
        pytest.raises(FeedDownloadError, match="unsupported URL scheme"),
    ):
        client.get("ftp://kev.test/catalogue.json")

    assert clock.sleeps == []
