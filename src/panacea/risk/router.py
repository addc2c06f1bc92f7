"""Risk routes: run an assessment, the latest result and snapshots over time, scenarios of one
clinical service, mitigation plans, and the board report.

Everything computes through the risk service functions the CLI uses (``assess_and_record``,
``service_scenarios``, ``create_plan`` over ``plan_organisation``, ``board_report``). Requests
are synchronous and bounded by their Monte Carlo trials (MAX_TRIALS); audit entries are
appended after the computation, so the audit chain's head is locked only briefly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, page_of_list, paginate
from panacea.api.problems import ProblemError
from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.inventory.service import organisation_by_id
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.report import board_report
from panacea.risk.schemas import (
    ALL_ENTRIES,
    MAX_TRIALS,
    MIN_TRIALS,
    AssessmentIn,
    AssessmentOut,
    EntryProfile,
    PlanIn,
    PlanOut,
    PlanSummaryOut,
    RankedScenarioOut,
    ScenarioOut,
    SnapshotOut,
    entries_of,
)
from panacea.risk.service import assess_and_record, service_scenarios
from panacea.risk.snapshot import RiskSnapshot, latest_snapshot, snapshot_in, snapshots_query
from panacea.risk.stored_plans import RiskPlan, create_plan, plan_in, plans_query

router = APIRouter(prefix="/orgs/{org_id}/risk", tags=["risk"])

Reader = Annotated[OrgAccess, Depends(require(Permission.RISK_READ))]
Assessor = Annotated[OrgAccess, Depends(require(Permission.RISK_ASSESS))]
PlanReader = Annotated[OrgAccess, Depends(require(Permission.PLANS_READ))]
Planner = Annotated[OrgAccess, Depends(require(Permission.PLANS_CREATE))]
Exporter = Annotated[OrgAccess, Depends(require(Permission.REPORTS_EXPORT))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Entries = Annotated[
    list[EntryProfile] | None,
    Query(max_length=len(EntryProfile), description="Attacker profiles (default: all)"),
]
# The board report's settings are those of ``panacea report`` (a board compares like with like).
REPORT_TRIALS = 4096


class ReportFormat(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


_REPORT_TYPES = {
    ReportFormat.HTML: ("text/html; charset=utf-8", "html"),
    ReportFormat.MARKDOWN: ("text/markdown; charset=utf-8", "md"),
}


@router.post(
    "/assessments",
    status_code=201,
    summary="Assess the organisation now; the result is stored as a snapshot",
)
def assess_now(access: Assessor, db: Db, body: AssessmentIn) -> AssessmentOut:
    options = body.options()
    recorded = assess_and_record(db, access.organisation_id, options)
    snapshot = recorded.snapshot
    append(
        db,
        access.event(
            "assessment.run",
            target=f"risk_snapshot:{snapshot.id}",
            entries=list(options.entries),
            trials=options.trials,
            seed=options.seed,
            total_expected_loss=round(snapshot.total_expected_loss, 2),
        ),
    )
    return AssessmentOut.of(snapshot, recorded.document)


@router.get("/latest", summary="The newest snapshot (404 before the first assessment)")
def latest(access: Reader, db: Db) -> SnapshotOut:
    snapshot = latest_snapshot(db, access.organisation_id)
    if snapshot is None:
        raise ProblemError(404, "no assessment has been run yet", slug="not-found")
    return SnapshotOut.of(snapshot)


@router.get("/snapshots", summary="Snapshots over time, oldest first")
def list_snapshots(
    access: Reader,
    db: Db,
    since: Annotated[datetime | None, Query(description="Generated at or after")] = None,
    until: Annotated[datetime | None, Query(description="Generated before")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[SnapshotOut]:
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        raise ProblemError(422, "since and until need a UTC offset", slug="validation-error")
    stmt = snapshots_query(access.organisation_id, since=since, until=until)
    # Snapshot ids grow with time (each is stored as it is computed), so id order is time order.
    return paginate(db, stmt, RiskSnapshot.id, cursor=cursor, limit=limit, convert=SnapshotOut.of)


@router.get("/snapshots/{snapshot_id}", summary="One snapshot")
def get_snapshot(access: Reader, db: Db, snapshot_id: Id) -> SnapshotOut:
    snapshot = snapshot_in(db, access.organisation_id, snapshot_id)
    if snapshot is None:
        raise ProblemError(404, f"no snapshot {snapshot_id}", slug="not-found")
    return SnapshotOut.of(snapshot)


@router.get(
    "/services/{service_key}/scenarios",
    summary="The most probable attack scenarios against one clinical service (not stored)",
)
def scenarios(
    access: Reader,
    db: Db,
    service_key: Annotated[str, Path(min_length=1, max_length=100)],
    entry: Entries = None,
    k: Annotated[int, Query(ge=1, le=20, description="How many scenarios")] = 3,
    trials: Annotated[int, Query(ge=MIN_TRIALS, le=MAX_TRIALS)] = 1024,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RankedScenarioOut]:
    options = AssessmentOptions(
        entries=entries_of(entry or ALL_ENTRIES), trials=trials, scenarios=k
    )
    service = service_scenarios(db, access.organisation_id, service_key, options)
    if service is None:
        raise ProblemError(404, f"no clinical service {service_key!r}", slug="not-found")
    ranked = [
        RankedScenarioOut(rank=i, **ScenarioOut.model_validate(path).model_dump())
        for i, path in enumerate(service["top_paths"], 1)
    ]
    return page_of_list(ranked, key=lambda s: s.rank, cursor=cursor, limit=limit)


@router.post(
    "/plans",
    status_code=201,
    summary="Plan mitigations within a budget, or the cheapest cut of a service (stored)",
)
def make_plan(access: Planner, db: Db, body: PlanIn) -> PlanOut:
    plan = create_plan(
        db,
        access.organisation_id,
        body.options(),
        budget=body.budget,
        cut=body.cut,
        created_by=access.principal.actor,
    )
    append(
        db,
        access.event(
            "plan.created",
            target=f"risk_plan:{plan.id}",
            mode=plan.mode,
            budget=plan.budget,
            service=plan.service,
            total_cost=plan.total_cost,
            mitigations=len(plan.document["mitigations"]),
        ),
    )
    return PlanOut.full(plan)


@router.get("/plans", summary="Stored plans, oldest first")
def list_plans(
    access: PlanReader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[PlanSummaryOut]:
    stmt = plans_query(access.organisation_id)
    return paginate(db, stmt, RiskPlan.id, cursor=cursor, limit=limit, convert=PlanSummaryOut.of)


@router.get("/plans/{plan_id}", summary="One stored plan with its panacea.plan/1 document")
def get_plan(access: PlanReader, db: Db, plan_id: Id) -> PlanOut:
    plan = plan_in(db, access.organisation_id, plan_id)
    if plan is None:
        raise ProblemError(404, f"no plan {plan_id}", slug="not-found")
    return PlanOut.full(plan)


@router.get(
    "/report",
    summary="The board report (HTML or Markdown); assesses now and stores that snapshot",
    response_class=Response,
    responses={
        200: {
            "description": "The report, as a download",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }
    },
)
def export_report(
    access: Exporter,
    db: Db,
    output: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.HTML,
    budget: Annotated[float, Query(ge=0.0, le=1e12, description="Budget of the plan")] = 20000.0,
    entry: Entries = None,
) -> Response:
    options = AssessmentOptions(
        entries=entries_of(entry or ALL_ENTRIES), trials=REPORT_TRIALS, scenarios=1
    )
    organisation = organisation_by_id(db, access.organisation_id)
    text = board_report(
        db,
        organisation.id,
        organisation.name,
        options,
        budget=budget,
        html=output is ReportFormat.HTML,
    )
    append(
        db,
        access.event(
            "report.exported",
            target=f"organisation:{organisation.id}",
            format=output.value,
            budget=budget,
            entries=list(options.entries),
        ),
    )
    media_type, suffix = _REPORT_TYPES[output]
    # A download, never rendered in the API's origin (its CSP forbids the inline styles anyway).
    disposition = f'attachment; filename="panacea-report-{organisation.id}.{suffix}"'
    return Response(
        content=text, media_type=media_type, headers={"Content-Disposition": disposition}
    )
