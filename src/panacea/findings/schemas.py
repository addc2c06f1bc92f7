"""Findings at the API boundary: what the findings routes answer and accept."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from panacea.findings.models import FindingStatusChange
from panacea.findings.views import FindingDetail
from panacea.findings.vocabulary import FindingStatus, Severity


class TriageStatus(StrEnum):
    """Statuses a triage may set; ``accepted`` has its own route (it needs risk:accept)."""

    OPEN = FindingStatus.OPEN.value
    MITIGATED = FindingStatus.MITIGATED.value
    FALSE_POSITIVE = FindingStatus.FALSE_POSITIVE.value
    RESOLVED = FindingStatus.RESOLVED.value


class FindingOut(BaseModel):
    id: int
    cve: str
    asset_id: int
    asset: str
    locus: str = Field(description="endpoint:<id>, component:<id> or asset")
    endpoint_id: int | None
    component_id: int | None
    status: str
    status_reason: str
    confidence: str
    source: str
    evidence: str
    matched_cpe: str | None
    cvss: float | None = Field(description="Newest CVSS base score NVD gives (v4.0, v3.1, v3.0)")
    severity: Severity | None
    kev: bool
    epss: float | None
    first_seen: datetime
    last_seen: datetime
    approver: str | None
    accepted_until: datetime | None

    @classmethod
    def of(cls, d: FindingDetail) -> FindingOut:
        return cls(
            id=d.id,
            cve=d.cve,
            asset_id=d.asset_id,
            asset=d.asset,
            locus=d.locus,
            endpoint_id=d.endpoint_id,
            component_id=d.component_id,
            status=d.status,
            status_reason=d.status_reason,
            confidence=d.confidence,
            source=d.source,
            evidence=d.evidence,
            matched_cpe=d.matched_cpe,
            cvss=d.cvss,
            severity=d.severity,
            kev=d.kev,
            epss=d.epss,
            first_seen=d.first_seen,
            last_seen=d.last_seen,
            approver=d.approver,
            accepted_until=d.accepted_until,
        )


class StatusChangeOut(BaseModel):
    """One status change of a finding, by a person (``actor``) or by automation (system)."""

    id: int
    at: datetime
    old_status: str
    new_status: str
    reason: str
    actor: str

    @classmethod
    def of(cls, c: FindingStatusChange) -> StatusChangeOut:
        return cls(
            id=c.id,
            at=c.at,
            old_status=c.old_status,
            new_status=c.new_status,
            reason=c.reason,
            actor=c.actor,
        )


class StatusChangeIn(BaseModel):
    """A triage decision: the new status and why (kept in the finding's history)."""

    model_config = ConfigDict(extra="forbid")

    status: TriageStatus
    reason: str = Field(min_length=1, max_length=2000)


class AcceptanceIn(BaseModel):
    """A risk acceptance: who approved it, why, and until when (a date in the future).

    A date without a time means midnight UTC; a time without an offset is taken as UTC.
    """

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    expires: datetime

    @field_validator("expires")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as e:  # e.g. 9999-12-31T23:00-05:00 lies past datetime.max in UTC
            raise ValueError("expires is out of range") from e
