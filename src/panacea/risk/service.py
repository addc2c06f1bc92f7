"""Service functions of the risk capability: assess and store a snapshot, list snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from panacea.findings.service import reopen_expired_acceptances
from panacea.risk.assessment import Assessment, AssessmentOptions, assess
from panacea.risk.report_json import assessment_document, snapshot_of
from panacea.risk.snapshot import RiskSnapshot, store_snapshot


@dataclass(frozen=True)
class RecordedAssessment:
    """An assessment, the snapshot stored for it (flushed: it has its id) and its
    ``panacea.assessment/1`` document, which the snapshot stores too."""

    assessment: Assessment
    snapshot: RiskSnapshot
    document: dict[str, Any]


def run_assessment(
    session: Session,
    organisation_id: int,
    options: AssessmentOptions,
    *,
    trigger: str = "assessment",
) -> Assessment:
    """Assess the organisation and store the result as a risk snapshot (same transaction).

    Expired risk acceptances reopen first: an acceptance past its date is no longer a decision.
    """
    return assess_and_record(session, organisation_id, options, trigger=trigger).assessment


def assess_and_record(
    session: Session,
    organisation_id: int,
    options: AssessmentOptions,
    *,
    trigger: str = "assessment",
) -> RecordedAssessment:
    """``run_assessment``, also returning the snapshot it stored and the document stored with
    it (so that readers of the snapshot need not rebuild the model to explain it)."""
    reopen_expired_acceptances(session, organisation_id)
    assessment = assess(session, organisation_id, options)
    document = assessment_document(assessment)
    snapshot = store_snapshot(session, snapshot_of(assessment, document=document, trigger=trigger))
    return RecordedAssessment(assessment, snapshot, document)


def service_scenarios(
    session: Session, organisation_id: int, service_key: str, options: AssessmentOptions
) -> dict[str, Any] | None:
    """The service ``service_key`` of a fresh assessment document, scenarios included.

    Nothing is stored (no snapshot): this answers a question, it does not record a result.
    None if the organisation has no service with that key.
    """
    document = assessment_document(assess(session, organisation_id, options))
    services: list[dict[str, Any]] = document["services"]
    return next((s for s in services if s["key"] == service_key), None)
