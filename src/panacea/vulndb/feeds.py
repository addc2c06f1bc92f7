"""The feed service: load a directory of feed files offline, or update from the sources online.

Offline, ``load_directory`` walks a folder (``nvd/*.json``, ``kev/*.json``, ``epss/*.csv[.gz]``,
in any layout: JSON documents are told apart by content) in one transaction: a bad file changes
nothing, and the error names it. Online, ``update_online`` pages through the NVD API (whole, or
incrementally since the last update), then fetches the KEV catalogue and the EPSS scores.

Both return typed results saying which CVEs changed (KEV added/removed, EPSS changed, NVD added
/modified), for the risk engine to recompute only what moved.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.db.engine import session_scope
from panacea.db.errors import StorageError
from panacea.vulndb.documents import DocumentKind, decode_json, json_kind, read_json
from panacea.vulndb.epss import EPSS_FEED, EpssUpdate, parse_epss_bytes, read_epss_file
from panacea.vulndb.epss import store_epss_scores as store_epss
from panacea.vulndb.errors import FeedError, FeedFileError
from panacea.vulndb.kev import KEV_FEED, KevUpdate, apply_kev_catalogue, parse_kev_catalogue
from panacea.vulndb.models import FeedState
from panacea.vulndb.nvd import NvdLoadResult, NvdRecord, parse_nvd_document, store_nvd_records
from panacea.vulndb.nvd_api import Window, modification_windows, nvd_pages, nvd_rate_limiter
from panacea.vulndb.online import Clock, FeedClient, RetryPolicy, SystemClock

Progress = Callable[[str, int, int | None], None]
NVD_FEED: Final = "nvd"
ALL_FEEDS: Final = (NVD_FEED, KEV_FEED, EPSS_FEED)
# NVD records are written in batches: one lookup and one upsert per batch, not per file.
NVD_BATCH: Final = 2000
DEFAULT_DEADLINE_SECONDS: Final = 6 * 3600.0


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class FeedLoadReport:
    """What ``load_directory`` read and what it changed."""

    files: dict[str, int] = field(default_factory=dict)  # path -> records loaded from it
    skipped: tuple[SkippedFile, ...] = ()
    nvd: NvdLoadResult | None = None
    kev: KevUpdate | None = None
    epss: EpssUpdate | None = None


@dataclass(frozen=True)
class OnlineUpdateReport:
    """What ``update_online`` fetched and changed, and how long it waited for rate limits."""

    nvd: NvdLoadResult | None = None
    kev: KevUpdate | None = None
    epss: EpssUpdate | None = None
    rate_limit_wait_seconds: float = 0.0


def load_directory(
    factory: sessionmaker[Session], path: Path, *, progress: Progress | None = None
) -> FeedLoadReport:
    """Load every feed file under ``path`` in one transaction and record each feed's FeedState.

    JSON CVE 5 records and JSON schemas are skipped with a note, as are files that are not JSON
    or CSV. Raises FeedFileError naming the file (and line or field) that cannot be loaded, and
    StorageError when the database refuses a write; in both cases nothing is stored.
    """
    if not path.is_dir():
        raise FeedFileError(str(path), None, "not a directory")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    loader = _DirectoryLoad(source=str(path))
    try:
        with session_scope(factory) as session:
            for done, file in enumerate(files):
                _report(progress, "loading feed files", done, len(files))
                loader.load_file(session, file)
            loader.finish(session)
    except SQLAlchemyError as e:
        raise StorageError(f"{path}: cannot store the feeds: {e}") from e
    _report(progress, "loading feed files", len(files), len(files))
    return loader.report()


class _DirectoryLoad:
    """The state of one directory load: buffered NVD records and results so far."""

    def __init__(self, *, source: str) -> None:
        self.source = source
        self.files: dict[str, int] = {}
        self.skipped: list[SkippedFile] = []
        self.pending: list[NvdRecord] = []
        self.nvd: NvdLoadResult | None = None
        self.kev: KevUpdate | None = None
        self.epss: EpssUpdate | None = None
        self.kev_source = self.epss_source = ""

    def load_file(self, session: Session, file: Path) -> None:
        name = file.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            self.epss = store_epss(session, read_epss_file(file))
            self.epss_source = str(file)
            self.files[str(file)] = self.epss.records
        elif name.endswith(".json"):
            self._load_json(session, file)
        else:
            self.skipped.append(SkippedFile(str(file), "not a feed file (JSON or CSV)"))

    def _load_json(self, session: Session, file: Path) -> None:
        document = read_json(file)
        kind = json_kind(document)
        if kind is DocumentKind.NVD:
            records = parse_nvd_document(document, source=str(file)).records
            self.pending.extend(records)
            self.files[str(file)] = len(records)
            if len(self.pending) >= NVD_BATCH:
                self._flush_nvd(session)
        elif kind is DocumentKind.KEV:
            catalogue = parse_kev_catalogue(document, source=str(file))
            self.kev = apply_kev_catalogue(session, catalogue, source=str(file))
            self.kev_source = str(file)
            self.files[str(file)] = self.kev.records
        elif kind in (DocumentKind.CVE5, DocumentKind.JSON_SCHEMA):
            reason = "CVE JSON 5 record: the NVD record of the same CVE is what PANACEA loads"
            if kind is DocumentKind.JSON_SCHEMA:
                reason = "a JSON schema, not feed data"
            self.skipped.append(SkippedFile(str(file), reason))
        else:
            raise FeedFileError(str(file), None, "not an NVD, KEV or CVE JSON 5 document")

    def _flush_nvd(self, session: Session) -> None:
        if self.pending:
            stored = store_nvd_records(session, self.pending)
            self.nvd = stored if self.nvd is None else self.nvd.merged(stored)
            self.pending = []

    def finish(self, session: Session) -> None:
        self._flush_nvd(session)
        if self.nvd is not None and self.nvd.newest is not None:
            version = self.nvd.newest.isoformat()
            record_feed_state(session, NVD_FEED, self.source, version, self.nvd.records)
        if self.kev is not None:
            record_feed_state(
                session, KEV_FEED, self.kev_source, self.kev.version, self.kev.records
            )
        if self.epss is not None:
            version = _epss_version(self.epss)
            record_feed_state(session, EPSS_FEED, self.epss_source, version, self.epss.records)

    def report(self) -> FeedLoadReport:
        return FeedLoadReport(self.files, tuple(self.skipped), self.nvd, self.kev, self.epss)


def record_feed_state(session: Session, name: str, source: str, version: str, records: int) -> None:
    """Note that feed ``name`` was loaded now from ``source``, at ``version``, with ``records``."""
    state = session.get(FeedState, name) or FeedState(name=name)
    state.loaded_at = utcnow()
    state.source = source[:500]
    state.version = version[:100]
    state.records = records
    session.add(state)


def _epss_version(update: EpssUpdate) -> str:
    return f"{update.score_date.isoformat()} (model {update.model_version})"


def _report(progress: Progress | None, description: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(description, done, total)


# --- online ------------------------------------------------------------------------------------


def update_online(
    session_factory: sessionmaker[Session],
    *,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
    feeds: Collection[str] = ALL_FEEDS,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> OnlineUpdateReport:
    """Fetch ``feeds`` (nvd, kev, epss) from the URLs in ``settings`` and store them.

    NVD: records modified since ``since``, else since the last online update (FeedState
    ``nvd`` whose source is the API URL), else every record; each page is stored in its own
    transaction and the FeedState advances after each completed 120-day window. Raises
    FeedDownloadError naming the URL when a source fails after bounded retries or the
    deadline passes, FeedFileError naming the URL when a body is not a valid feed document,
    StorageError when the database refuses a write, FeedError on a naive ``since``.
    """
    unknown = set(feeds) - set(ALL_FEEDS)
    if unknown or not feeds:
        raise FeedError(f"feeds must be some of {', '.join(ALL_FEEDS)}, got {sorted(feeds)}")
    if since is not None and since.tzinfo is None:
        raise FeedError(f"since must be timezone-aware, got {since.isoformat()}")
    clock = clock or SystemClock()
    client = FeedClient(
        timeout_seconds=settings.feed_timeout_seconds,
        deadline_seconds=deadline_seconds,
        clock=clock,
        retry=retry,
        transport=transport,
    )
    try:
        with client:
            return _OnlineUpdate(session_factory, settings, client, progress).run(feeds, since)
    except SQLAlchemyError as e:
        raise StorageError(f"cannot store the feed update: {e}") from e


class _OnlineUpdate:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        client: FeedClient,
        progress: Progress | None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.client = client
        self.progress = progress
        self.api_key = settings.nvd_api_key or None
        self.limiter = nvd_rate_limiter(client.clock, api_key=self.api_key)

    def run(self, feeds: Collection[str], since: datetime | None) -> OnlineUpdateReport:
        nvd = self.nvd(since) if NVD_FEED in feeds else None
        kev = self.kev() if KEV_FEED in feeds else None
        epss = self.epss() if EPSS_FEED in feeds else None
        return OnlineUpdateReport(nvd, kev, epss, self.limiter.slept)

    def nvd(self, since: datetime | None) -> NvdLoadResult:
        url = self.settings.nvd_api_url
        until = self.client.clock.now()
        start = since or self._last_update(url)
        windows = modification_windows(start, until) if start else [Window()]
        result = NvdLoadResult()
        for window in windows:
            for stored in self._window(window):
                result = result.merged(stored)
            with session_scope(self.factory) as session:
                mark = (window.end or until).isoformat()
                record_feed_state(session, NVD_FEED, url, mark, result.records)
        return result

    def _window(self, window: Window) -> Iterator[NvdLoadResult]:
        url = self.settings.nvd_api_url
        description = _window_description(window)
        pages = nvd_pages(self.client, url, window, api_key=self.api_key, limiter=self.limiter)
        for page in pages:
            with session_scope(self.factory) as session:
                stored = store_nvd_records(session, page.records)
            done = page.start_index + len(page.records)
            _report(self.progress, description, done, page.total_results)
            yield stored

    def _last_update(self, url: str) -> datetime | None:
        with self.factory() as session:
            state = session.get(FeedState, NVD_FEED)
        if state is None or state.source != url:
            return None
        try:
            mark = datetime.fromisoformat(state.version)
        except ValueError:
            return None  # not a mark this code wrote: fetch everything rather than guess
        return mark if mark.tzinfo is not None else None

    def kev(self) -> KevUpdate:
        url = self.settings.kev_url
        _report(self.progress, "KEV catalogue", 0, 1)
        download = self.client.get(url)
        catalogue = parse_kev_catalogue(decode_json(download.body, source=url), source=url)
        with session_scope(self.factory) as session:
            update = apply_kev_catalogue(session, catalogue, source=url)
            record_feed_state(session, KEV_FEED, url, update.version, update.records)
        _report(self.progress, "KEV catalogue", 1, 1)
        return update

    def epss(self) -> EpssUpdate:
        url = self.settings.epss_url
        _report(self.progress, "EPSS scores", 0, 1)
        scores = parse_epss_bytes(self.client.get(url).body, source=url)
        with session_scope(self.factory) as session:
            update = store_epss(session, scores)
            record_feed_state(session, EPSS_FEED, url, _epss_version(update), update.records)
        _report(self.progress, "EPSS scores", 1, 1)
        return update


def _window_description(window: Window) -> str:
    if window.start is None or window.end is None:
        return "NVD: every CVE"
    return f"NVD: changes {window.start:%Y-%m-%d} to {window.end:%Y-%m-%d}"
