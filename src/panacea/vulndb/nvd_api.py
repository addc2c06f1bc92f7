"""The NVD CVE API 2.0: paging through ``startIndex``/``resultsPerPage`` and date windows.

Incremental updates ask for records modified in ``[lastModStartDate, lastModEndDate]``; the NVD
allows at most 120 days per request, so longer spans are cut into windows. Without an API key
the NVD allows 5 requests in any 30 seconds, with one 50.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Final

from panacea.vulndb.documents import DocumentKind, decode_json, json_kind
from panacea.vulndb.errors import FeedDownloadError, FeedFileError
from panacea.vulndb.nvd import NvdDocument, parse_nvd_document
from panacea.vulndb.online import Clock, Download, FeedClient, RateLimiter

PAGE_SIZE: Final = 2000
MAX_WINDOW: Final = timedelta(days=120)
RATE_WINDOW_SECONDS: Final = 30.0
REQUESTS_WITHOUT_KEY: Final = 5
REQUESTS_WITH_KEY: Final = 50
# 2.5 million records at 2000 a page; the NVD holds about 300,000.
MAX_PAGES: Final = 1250


@dataclass(frozen=True)
class Window:
    """Records last modified in [start, end]; a window of None bounds means every record."""

    start: datetime | None = None
    end: datetime | None = None

    def params(self) -> dict[str, str]:
        if self.start is None or self.end is None:
            return {}
        return {"lastModStartDate": _nvd_time(self.start), "lastModEndDate": _nvd_time(self.end)}


def _nvd_time(moment: datetime) -> str:
    """Extended ISO-8601 with milliseconds and an explicit offset, as the API documents."""
    return moment.isoformat(timespec="milliseconds")


def modification_windows(since: datetime, until: datetime) -> list[Window]:
    """``[since, until]`` cut into consecutive windows of at most 120 days (empty if reversed)."""
    if since >= until:
        return []
    count = math.ceil((until - since) / MAX_WINDOW)
    edges = [min(since + MAX_WINDOW * i, until) for i in range(count + 1)]
    return [Window(a, b) for a, b in pairwise(edges)]


def nvd_rate_limiter(clock: Clock, *, api_key: str | None) -> RateLimiter:
    """The NVD's published limit for a client with or without an API key."""
    limit = REQUESTS_WITH_KEY if api_key else REQUESTS_WITHOUT_KEY
    return RateLimiter(limit, RATE_WINDOW_SECONDS, clock)


def nvd_pages(
    client: FeedClient,
    api_url: str,
    window: Window,
    *,
    api_key: str | None,
    limiter: RateLimiter,
    page_size: int = PAGE_SIZE,
) -> Iterator[NvdDocument]:
    """Every page of records in ``window``, in order. The ``apiKey`` header goes when given.

    Stops when a page reaches ``totalResults`` or comes back empty. Raises FeedDownloadError
    when a page cannot be fetched or there are more than MAX_PAGES pages, FeedFileError (naming
    the page's URL) when a page is not a valid NVD document.
    """
    headers = {"apiKey": api_key} if api_key else {}
    start = 0
    for _ in range(MAX_PAGES):
        params: dict[str, str | int] = {"startIndex": start, "resultsPerPage": page_size}
        params.update(window.params())
        download = client.get(
            api_url, params=params, headers=headers, limiter=limiter, follow_redirects=not api_key
        )
        page = _page(download)
        yield page
        start += len(page.records)
        if not page.records or start >= page.total_results:
            return
    raise FeedDownloadError(api_url, f"more than {MAX_PAGES} pages; refusing to continue")


def _page(download: Download) -> NvdDocument:
    document = decode_json(download.body, source=download.url)
    if json_kind(document) is not DocumentKind.NVD or "vulnerabilities" not in document:
        raise FeedFileError(download.url, None, "not an NVD API 2.0 page of CVEs")
    return parse_nvd_document(document, source=download.url)
