"""The TAXII client's bounds, against small scripted HTTP servers on 127.0.0.1.

A scripted server answers the requests it receives with the answers it was given, in order,
and records what it got: retries with back-off and ``Retry-After``, errors not retried, a
server that always says ``more``, answers too large, status polling, the deadline.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from panacea.sharing.errors import TaxiiClientError
from panacea.sharing.taxii_client import (
    ClientLimits,
    Credentials,
    RetryPolicy,
    TaxiiClient,
    api_root_url,
)
from tests.sharing.taxii_world import free_port

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    answers: list[Answer]
    repeat_last: bool = False
    received: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self.lock:
            self.received.append((method, path, headers, body))
            if len(self.answers) == 1 and self.repeat_last:
                return self.answers[0]
            return self.answers.pop(0) if self.answers else Answer(500, {"title": "no script"})


@contextmanager
def scripted(*answers: Answer, repeat_last: bool = False) -> Iterator[tuple[Script, str]]:
    script = Script(list(answers), repeat_last)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = script.next(self.command, self.path, dict(self.headers.items()), body)
            payload = (
                answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            )
            self.send_response(answer.status)
            self.send_header("Content-Type", TAXII)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{server.server_address[1]}/root/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _client(url: str, **kw: Any) -> tuple[TaxiiClient, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.5, max_delay=4.0))
    client = TaxiiClient(url, Credentials("bearer", "tok"), sleep=sleeps.append, **kw)
    return client, sleeps


def test_unavailable_answers_are_retried_with_backoff_and_retry_after() -> None:
    busy = Answer(503, {"title": "busy"}, {"Retry-After": "3"})
    with scripted(busy, Answer(429, {}), Answer(200, {"title": "root"})) as (script, url):
        client, sleeps = _client(url, rng=random.Random(1))
        with client:
            assert client.api_root_information() == {"title": "root"}
    assert len(script.received) == 3
    assert sleeps[0] >= 3.0  # Retry-After is honoured (at most max_delay)
    assert 0.0 <= sleeps[1] <= 1.0  # full jitter: uniform in [0, base * 2^1]
    assert all(h["Accept"] == TAXII for _, _, h, _ in script.received)
    assert all(h["Authorization"] == "Bearer tok" for _, _, h, _ in script.received)


def test_refusals_are_not_retried_and_keep_the_server_message() -> None:
    refusal = Answer(
        403, {"title": "Forbidden", "description": "no write access", "http_status": 403}
    )
    with scripted(refusal) as (script, url):
        client, sleeps = _client(url)
        with (
            client,
            pytest.raises(TaxiiClientError, match="HTTP 403 Forbidden: no write access") as e,
        ):
            client.collections()
    assert e.value.status == 403
    assert (len(script.received), sleeps) == (1, [])


def test_attempts_are_bounded_for_an_unreachable_server() -> None:
    client, sleeps = _client(f"http://127.0.0.1:{free_port()}/root/")
    with client, pytest.raises(TaxiiClientError, match="failed after 4 attempt"):
        client.api_root_information()
    assert client.requests_sent == 4
    assert len(sleeps) == 3
    assert all(0.0 <= s <= 4.0 for s in sleeps)


def test_backoff_is_full_jitter_under_the_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=8.0)
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole interval


def test_a_server_that_always_says_more_cannot_hold_the_client() -> None:
    same = Answer(
        200,
        {"more": True, "objects": [{"id": "x"}]},
        {"X-TAXII-Date-Added-Last": "2026-01-01T00:00:00Z"},
    )
    with scripted(same, repeat_last=True) as (script, url):
        client, _ = _client(url)
        with client:
            pages = list(client.walk_objects("c1"))
    # first page (no added_after), second from its last date, which does not move: stop
    assert len(pages) == 2
    assert "added_after=2026-01-01T00%3A00%3A00Z" in script.received[1][1]

    endless = Answer(200, {"more": True, "next": "n1", "objects": []})
    with scripted(endless, repeat_last=True) as (script, url):
        client, _ = _client(url, limits=ClientLimits(max_pages=7))
        with client:
            assert len(list(client.walk_objects("c1"))) == 7
    assert len(script.received) == 7


def test_next_keeps_the_filters_and_the_pages_end_when_no_more() -> None:
    pages = [
        Answer(200, {"more": True, "next": "p2", "objects": [{"id": "a"}]}),
        Answer(200, {"more": False, "objects": [{"id": "b"}]}, {"X-TAXII-Date-Added-Last": "t2"}),
    ]
    with scripted(*pages) as (script, url):
        client, _ = _client(url)
        with client:
            walked = list(client.walk_objects("c1", added_after="t0", limit=1))
    assert [p.objects[0]["id"] for p in walked] == ["a", "b"]
    assert walked[-1].date_added_last == "t2"
    second = script.received[1][1]
    assert "next=p2" in second
    assert "added_after=t0" in second
    assert "limit=1" in second


def test_answers_beyond_the_size_limit_are_refused() -> None:
    with scripted(Answer(200, {"objects": ["x" * 5000]})) as (_, url):
        client, _ = _client(url, limits=ClientLimits(max_response_bytes=1000))
        with client, pytest.raises(TaxiiClientError, match="exceeds 1000 bytes"):
            client.objects_page("c1")


def test_pending_status_is_polled_a_bounded_number_of_times() -> None:
    pending = {"id": "s1", "status": "pending", "total_count": 1, "pending_count": 1}
    done = {
        "id": "s1",
        "status": "complete",
        "total_count": 1,
        "success_count": 1,
        "successes": [{"id": "indicator--1", "version": "v"}],
    }
    with scripted(Answer(202, pending), Answer(200, pending), Answer(200, done)) as (script, url):
        client, sleeps = _client(url)
        with client:
            status = client.add_objects("c1", [{"id": "indicator--1"}])
    assert (status.status, status.success_count) == ("complete", 1)
    assert [m for m, *_ in script.received] == ["POST", "GET", "GET"]
    assert script.received[1][1] == "/root/status/s1/"
    assert script.received[0][2]["Content-Type"] == TAXII
    assert json.loads(script.received[0][3]) == {"objects": [{"id": "indicator--1"}]}
    assert len(sleeps) == 2

    with scripted(Answer(202, pending), Answer(200, pending), repeat_last=True) as (_, url):
        client, _ = _client(url, limits=ClientLimits(status_polls=3))
        with client, pytest.raises(TaxiiClientError, match="still pending after 3 polls"):
            client.add_objects("c1", [{"id": "indicator--1"}])


def test_the_deadline_bounds_the_whole_client() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with scripted(Answer(503, {}), repeat_last=True) as (script, url):
        client = TaxiiClient(
            url,
            None,
            retry=RetryPolicy(attempts=50, base_delay=2.0, max_delay=2.0),
            limits=ClientLimits(deadline_seconds=5.0),
            sleep=sleep,
            clock=clock,
            rng=random.Random(3),
        )
        with client, pytest.raises(TaxiiClientError, match="deadline of 5 s"):
            client.api_root_information()
    assert now[0] <= 5.0
    assert len(script.received) < 50


def test_credentials_and_urls() -> None:
    answer = Answer(200, {"collections": [{"id": "c1"}, "junk"]})
    with (
        scripted(answer) as (script, url),
        TaxiiClient(url, Credentials("basic", "hub:s3cret:x")) as client,
    ):
        assert client.collections() == [{"id": "c1"}]
    assert script.received[0][2]["Authorization"] == "Basic aHViOnMzY3JldDp4"
    assert (
        api_root_url("http://127.0.0.1:9/taxii2/", "panacea")
        == "http://127.0.0.1:9/taxii2/panacea/"
    )
    assert api_root_url("http://h/taxii2", "https://other/root") == "https://other/root/"
    with pytest.raises(TaxiiClientError, match="not an http"):
        api_root_url("ftp://h/", "x")
    with (
        TaxiiClient("http://127.0.0.1:9/r/", None) as client,
        pytest.raises(TaxiiClientError, match="not a collection id"),
    ):
        client.collection("../x")
