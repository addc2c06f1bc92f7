"""Vulnerability feeds at the API boundary."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panacea.vulndb.models import FeedState
from panacea.vulndb.views import KnowledgeCounts


class FeedStateOut(BaseModel):
    """When a feed was last loaded, from where (file or URL), at what version, how many records."""

    name: str = Field(description="nvd, kev or epss")
    loaded_at: datetime
    source: str
    version: str
    records: int

    @classmethod
    def of(cls, state: FeedState) -> FeedStateOut:
        return cls(
            name=state.name,
            loaded_at=state.loaded_at,
            source=state.source,
            version=state.version,
            records=state.records,
        )


class KnowledgeOut(BaseModel):
    """How many CVEs are known, with an NVD record, on the KEV catalogue, with an EPSS score."""

    vulnerabilities: int
    nvd_loaded: int
    kev: int
    epss_scored: int

    @classmethod
    def of(cls, counts: KnowledgeCounts) -> KnowledgeOut:
        return cls(
            vulnerabilities=counts.vulnerabilities,
            nvd_loaded=counts.nvd_loaded,
            kev=counts.kev,
            epss_scored=counts.epss_scored,
        )
