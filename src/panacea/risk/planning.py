"""Service functions of mitigation planning, and the ``panacea.plan/1`` JSON document.

The document is described in docs/mitigation.md; fields are never removed or change meaning
within a version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.budget import budget_plan
from panacea.risk.cut import cut_plan
from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import load_inputs
from panacea.risk.mitigation import CurvePoint, Mitigation, Plan

SCHEMA = "panacea.plan/1"


def plan_organisation(
    session: Session,
    organisation_id: int,
    options: AssessmentOptions,
    *,
    budget: float | None = None,
    cut: str | None = None,
) -> Plan:
    """The budgeted plan (``budget``) or the cut of service ``cut`` for the organisation.

    Raises RiskModelError unless exactly one of ``budget`` and ``cut`` is given, and as
    ``budget_plan`` and ``cut_plan`` do.
    """
    if cut is not None and budget is None:
        return cut_plan(load_inputs(session, organisation_id), options, cut)
    if budget is not None and cut is None:
        return budget_plan(load_inputs(session, organisation_id), options, budget)
    raise RiskModelError("plan with a budget or a service to cut (exactly one of them)")


def _mitigation(m: Mitigation) -> dict[str, Any]:
    return {
        "kind": m.kind.value,
        "target": m.target,
        "cost": round(m.cost, 2),
        "effort_days": round(m.effort_days, 2),
        "subjects": list(m.subjects),
        "flags": sorted(m.flags),
    }


def _point(p: CurvePoint) -> dict[str, Any]:
    return {
        "cost": round(p.cost, 2),
        "risk": round(p.risk, 2),
        "risk_classes": p.risk_classes,
        "mitigation": None if p.mitigation is None else _mitigation(p.mitigation),
        "rosi": None if p.rosi is None else round(p.rosi, 4),
    }


def plan_document(
    plan: Plan, *, organisation: str, options: AssessmentOptions, budget: float | None
) -> dict[str, Any]:
    """The plan as the ``panacea.plan/1`` JSON document."""
    return {
        "schema": SCHEMA,
        "organisation": organisation,
        "mode": "cut" if plan.service is not None else "budget",
        "budget": budget,
        "service": plan.service,
        "entries": list(options.entries),
        "trials": options.trials,
        "candidates": plan.candidates,
        "mitigations": [_mitigation(m) for m in plan.mitigations],
        "total_cost": round(plan.total_cost, 2),
        "total_effort_days": round(plan.total_effort_days, 2),
        "risk_before": round(plan.risk_before, 2),
        "risk_after": round(plan.risk_after, 2),
        "rosi": None if plan.rosi is None else round(plan.rosi, 4),
        "curve": [_point(p) for p in plan.curve],
    }
