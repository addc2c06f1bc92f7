"""Service functions of the risk capability: assess and store a snapshot, list snapshots."""

from __future__ import annotations

from sqlalchemy.orm import Session

from panacea.findings.service import reopen_expired_acceptances
from panacea.risk.assessment import Assessment, AssessmentOptions, assess
from panacea.risk.report_json import snapshot_of
from panacea.risk.snapshot import store_snapshot


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
    reopen_expired_acceptances(session, organisation_id)
    assessment = assess(session, organisation_id, options)
    store_snapshot(session, snapshot_of(assessment, trigger=trigger))
    return assessment
