"""Recording many findings at once, by the rules of ``findings.service``.

``record_finding`` costs a query and an ORM object per finding; matching 50,000 assets sees
hundreds of thousands. ``record_sightings`` does the same work per chunk of assets with a few
statements: it reads the chunk's findings as plain rows, inserts the new ones in one
``executemany``, bumps ``last_seen`` of the unchanged ones with one UPDATE per batch, and hands
the few that need more (a confidence raised, evidence changed, a reopening, a resolution) to
``refresh_finding`` and ``resolve_automatically`` themselves. The outcome is the same as calling
``record_finding`` per sighting (tests/vulndb/test_recording.py compares the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypeVar, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.findings.models import Finding
from panacea.findings.service import (
    FindingLocus,
    new_finding_values,
    refresh_finding,
    resolve_automatically,
)
from panacea.findings.vocabulary import Confidence, FindingStatus

_T = TypeVar("_T")
_BATCH = 400


@dataclass(frozen=True)
class Sighting:
    """Automation saw ``cve_id`` at ``locus``."""

    locus: FindingLocus
    cve_id: str
    confidence: Confidence
    source: str
    evidence: str = ""
    matched_cpe: str | None = None

    @property
    def key(self) -> tuple[int, str, str]:
        """The finding's identity: (asset, CVE, locus)."""
        return (self.locus.asset_id, self.cve_id, self.locus.key)


@dataclass(frozen=True)
class RecordCounts:
    added: int
    refreshed: int
    resolved: int


class _Existing(NamedTuple):
    id: int
    asset_id: int
    cve_id: str
    locus: str
    confidence: str
    source: str
    evidence: str
    matched_cpe: str | None
    status: str
    status_by_person: bool


def record_sightings(
    session: Session,
    organisation_id: int,
    asset_ids: Sequence[int],
    sightings: Iterable[Sighting],
    *,
    resolve: Mapping[str, str],
) -> RecordCounts:
    """Record ``sightings`` (all on assets of ``asset_ids``) and resolve what they no longer show.

    A finding on those assets whose source is a key of ``resolve`` and that no sighting names is
    resolved with the reason ``resolve[source]`` (unless a person set its status). Several
    sightings of one finding merge: the first counts, unless a later one is confirmed. Returns
    how many findings were added, refreshed (seen again, reopened ones included) and resolved.
    """
    now = utcnow()
    merged = merge_sightings(sightings)
    existing = _existing(session, organisation_id, asset_ids)
    fresh = [s for key, s in merged.items() if key not in existing]
    _insert(session, organisation_id, fresh, now)
    seen = [(existing[key], s) for key, s in merged.items() if key in existing]
    plain = [row.id for row, s in seen if not _needs_refresh(row, s)]
    for batch in _batches(plain):
        session.execute(update(Finding).where(Finding.id.in_(batch)).values(last_seen=now))
    changing = {row.id: s for row, s in seen if _needs_refresh(row, s)}
    for finding in _load(session, list(changing)):
        s = changing[finding.id]
        refresh_finding(
            session,
            finding,
            confidence=s.confidence,
            source=s.source,
            evidence=s.evidence,
            matched_cpe=s.matched_cpe,
            seen_at=now,
        )
    stale = [
        row.id
        for key, row in existing.items()
        if key not in merged and row.source in resolve and _resolvable(row)
    ]
    resolved = sum(
        resolve_automatically(session, f, resolve[f.source]) for f in _load(session, stale)
    )
    session.flush()
    return RecordCounts(len(fresh), len(seen), resolved)


def merge_sightings(sightings: Iterable[Sighting]) -> dict[tuple[int, str, str], Sighting]:
    """One sighting per finding key: the first, unless a confirmed one comes later."""
    merged: dict[tuple[int, str, str], Sighting] = {}
    for sighting in sightings:
        earlier = merged.get(sighting.key)
        if earlier is None or (
            sighting.confidence is Confidence.CONFIRMED
            and earlier.confidence is not Confidence.CONFIRMED
        ):
            merged[sighting.key] = sighting
    return merged


def _needs_refresh(row: _Existing, sighting: Sighting) -> bool:
    """Whether ``refresh_finding`` would change more than ``last_seen`` (mirrors its rules)."""
    if row.status == FindingStatus.RESOLVED.value and not row.status_by_person:
        return True
    confirmed = Confidence.CONFIRMED.value
    if sighting.confidence is Confidence.CONFIRMED and row.confidence != confirmed:
        return True
    if row.confidence != sighting.confidence.value:
        return False
    new_evidence = bool(sighting.evidence) and sighting.evidence != row.evidence
    new_cpe = sighting.matched_cpe is not None and sighting.matched_cpe != row.matched_cpe
    return new_evidence or new_cpe


def _resolvable(row: _Existing) -> bool:
    """What ``resolve_automatically`` would act on: open and not a person's choice."""
    return row.status == FindingStatus.OPEN.value and not row.status_by_person


def _insert(
    session: Session, organisation_id: int, sightings: Sequence[Sighting], now: datetime
) -> None:
    """Insert findings as ``record_finding`` would create them, in one executemany."""
    rows = [
        new_finding_values(
            organisation_id,
            s.locus,
            s.cve_id,
            confidence=s.confidence,
            source=s.source,
            evidence=s.evidence,
            matched_cpe=s.matched_cpe,
            seen_at=now,
        )
        for s in sightings
    ]
    if rows:
        # Core, not ORM, executemany: the ORM bulk path costs twice as much on PostgreSQL.
        session.execute(insert(cast(Table, Finding.__table__)), rows)


def _existing(
    session: Session, organisation_id: int, asset_ids: Sequence[int]
) -> dict[tuple[int, str, str], _Existing]:
    columns = [getattr(Finding, name) for name in _Existing._fields]
    existing = {}
    for batch in _batches(asset_ids):
        query = select(*columns).where(
            Finding.organisation_id == organisation_id, Finding.asset_id.in_(batch)
        )
        for values in session.execute(query):
            row = _Existing(*values)
            existing[(row.asset_id, row.cve_id, row.locus)] = row
    return existing


def _load(session: Session, finding_ids: Sequence[int]) -> Iterator[Finding]:
    for batch in _batches(sorted(finding_ids)):
        yield from session.scalars(select(Finding).where(Finding.id.in_(batch)))


def _batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]
