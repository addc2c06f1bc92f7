"""Read-side views of the vulnerability knowledge: feed states and how much is known."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from panacea.vulndb.models import FeedState, Vulnerability


def feed_states_query() -> Select[FeedState]:
    """Every feed's state (NVD, KEV, EPSS: public knowledge shared by all organisations)."""
    return select(FeedState)


def feed_state(session: Session, name: str) -> FeedState | None:
    """The state of feed ``name``, or None if it was never loaded."""
    return session.get(FeedState, name)


@dataclass(frozen=True)
class KnowledgeCounts:
    """How many CVEs the platform knows, and how many carry each exploitation signal."""

    vulnerabilities: int
    nvd_loaded: int
    kev: int
    epss_scored: int


def knowledge_counts(session: Session) -> KnowledgeCounts:
    """Counts over the vulnerability table (one query)."""
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Vulnerability.nvd_loaded.is_(True)),
            func.count().filter(Vulnerability.kev.is_(True)),
            func.count(Vulnerability.epss),
        ).select_from(Vulnerability)
    ).one()
    total, nvd, kev, epss = (int(v or 0) for v in row)
    return KnowledgeCounts(total, nvd, kev, epss)
