"""Test doubles for online feeds: a simulated clock, and the feed sources behind MockTransport.

The server answers like the real sources: NVD API 2.0 pages built from the real NVD records
(filtered by ``lastModStartDate``/``lastModEndDate``, at most ``page_cap`` records a page, as the
NVD caps ``resultsPerPage``), the real KEV catalogue, and an EPSS file. Failures can be scripted
per path; every request is recorded with the simulated time it arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from panacea.config import Settings

NVD_URL = "https://nvd.test/rest/json/cves/2.0"
KEV_URL = "https://kev.test/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.test/epss_scores-current.csv.gz"
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def feed_settings(*, api_key: str | None = None) -> Settings:
    return Settings(
        nvd_api_key=api_key,
        nvd_api_url=NVD_URL,
        kev_url=KEV_URL,
        epss_url=EPSS_URL,
        feed_timeout_seconds=5.0,
    )


class SimulatedClock:
    """Time that passes only when the code sleeps or the server takes its time."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += max(seconds, 0.0)


@dataclass
class Failure:
    """Answer ``status`` (or raise ``error``) to the next ``times`` requests for ``path``.

    With ``start_index``, only to requests for that NVD page.
    """

    path: str
    times: int
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    error: type[httpx.TransportError] | None = None
    start_index: str | None = None

    def applies(self, request: httpx.Request) -> bool:
        page = self.start_index is None or request.url.params.get("startIndex") == self.start_index
        return self.times > 0 and request.url.path == self.path and page


class FeedServer:
    def __init__(
        self,
        clock: SimulatedClock,
        *,
        nvd_records: Sequence[dict[str, Any]] = (),
        kev: bytes = b"",
        epss: bytes = b"",
        page_cap: int = 15,
        latency: float = 0.5,
    ) -> None:
        self.clock = clock
        self.nvd_records = sorted(nvd_records, key=lambda r: r["id"])
        self.bodies = {
            "/feeds/known_exploited_vulnerabilities.json": kev,
            "/epss_scores-current.csv.gz": epss,
        }
        self.page_cap = page_cap
        self.latency = latency
        self.failures: list[Failure] = []
        self.requests: list[tuple[httpx.Request, float]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def nvd_requests(self) -> list[httpx.Request]:
        return [r for r, _ in self.requests if r.url.path == "/rest/json/cves/2.0"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request, self.clock.monotonic()))
        self.clock.elapsed += self.latency
        failure = next((f for f in self.failures if f.applies(request)), None)
        if failure is not None:
            failure.times -= 1
            if failure.error is not None:
                raise failure.error("simulated network failure", request=request)
            return httpx.Response(failure.status, headers=failure.headers)
        if request.url.path == "/rest/json/cves/2.0":
            return httpx.Response(200, json=self.nvd_page(request.url.params))
        body = self.bodies.get(request.url.path)
        return httpx.Response(200, content=body) if body else httpx.Response(404)

    def nvd_page(self, params: httpx.QueryParams) -> dict[str, Any]:
        matching = [r for r in self.nvd_records if _modified_within(r, params)]
        start = int(params["startIndex"])
        size = min(int(params["resultsPerPage"]), self.page_cap)
        page = matching[start : start + size]
        return {
            "resultsPerPage": len(page),
            "startIndex": start,
            "totalResults": len(matching),
            "format": "NVD_CVE",
            "version": "2.0",
            "timestamp": self.clock.now().replace(tzinfo=None).isoformat(timespec="milliseconds"),
            "vulnerabilities": [{"cve": record} for record in page],
        }


def _modified_within(record: dict[str, Any], params: httpx.QueryParams) -> bool:
    if "lastModStartDate" not in params:
        return True
    start = datetime.fromisoformat(params["lastModStartDate"])
    end = datetime.fromisoformat(params["lastModEndDate"])
    modified = datetime.fromisoformat(record["lastModified"]).replace(tzinfo=UTC)
    return start <= modified <= end


def json_bytes(document: object) -> bytes:
    return json.dumps(document).encode()
