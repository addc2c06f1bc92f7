"""The data of the plan page: stored plans, a position on a budget plan's curve, the CSV.

A budget plan (``risk.budget.budget_plan``) is greedy: each step buys the affordable
mitigation removing the most expected annual loss per unit of cost, and its document keeps the
whole risk-vs-budget curve (one point per step, cumulative cost and risk left). The budget
slider moves along the curve of one stored plan instead of recomputing a plan per position:
at budget ``b`` it shows the steps whose cumulative cost is at most ``b``. That is exactly the
plan a budget of ``b`` buys when the greedy order never had to skip an unaffordable step; the
page says so and offers to compute (and store) the exact plan for the chosen budget.

Plans are computed and stored with ``risk.stored_plans.create_plan`` and audited as the API
does (``plan.created``); exports are audited (``report.exported``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.inventory.views import services_query
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.stored_plans import RiskPlan, create_plan, plan_in, plans_query

# Plans the page lists to choose from (newest first).
RECENT_PLANS = 20
# Trials of a plan computed from the dashboard: the API's default (docs/mitigation.md).
PLAN_TRIALS = 4096
# Cells a spreadsheet would run as a formula (OWASP "CSV Injection"): prefixed with a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class PlanChoice:
    """A stored plan as the plan selector lists it."""

    id: int
    label: str
    mode: str


def recent_plans(session: Session, organisation_id: int, mode: str) -> list[PlanChoice]:
    """The organisation's newest stored plans of ``mode`` ("budget" or "cut"), newest first."""
    rows = session.scalars(
        plans_query(organisation_id)
        .where(RiskPlan.mode == mode)
        .order_by(RiskPlan.id.desc())
        .limit(RECENT_PLANS)
    )
    return [PlanChoice(p.id, _label(p), p.mode) for p in rows]


def _label(plan: RiskPlan) -> str:
    when = plan.created_at.strftime("%Y-%m-%d %H:%M")
    what = f"budget {_money(plan.budget or 0.0)}" if plan.mode == "budget" else plan.service
    return f"#{plan.id} {what} ({when}, {plan.created_by})"


def _money(value: float) -> str:
    return f"{value:,.0f}"


def stored_plan(session: Session, organisation_id: int, plan_id: int) -> dict[str, Any] | None:
    """The ``panacea.plan/1`` document of stored plan ``plan_id`` (with its id), or None."""
    plan = plan_in(session, organisation_id, plan_id)
    return None if plan is None else _document(plan)


def latest_cut_plan(session: Session, organisation_id: int, key: str) -> dict[str, Any] | None:
    """The document of the newest stored cut plan for service ``key`` (with its id), or None."""
    plan = session.scalar(
        plans_query(organisation_id)
        .where(RiskPlan.mode == "cut", RiskPlan.service == key)
        .order_by(RiskPlan.id.desc())
        .limit(1)
    )
    return None if plan is None else _document(plan)


def _document(plan: RiskPlan) -> dict[str, Any]:
    return {**plan.document, "id": plan.id, "created_at": plan.created_at.isoformat()}


def service_keys(session: Session, organisation_id: int) -> list[tuple[str, str]]:
    """(key, name) of the organisation's clinical services, by name (the cut plan's choice)."""
    rows = session.scalars(services_query(organisation_id))
    return sorted(((s.key, s.name) for s in rows), key=lambda s: (s[1].lower(), s[0]))


@dataclass(frozen=True)
class CurvePosition:
    """Where budget ``budget`` falls on a plan's curve."""

    budget: float
    spent: float
    risk: float
    risk_before: float
    steps: list[dict[str, Any]]
    # A step the plan took next that the budget cannot pay: the slider shows a prefix only.
    next_cost: float | None


def position(document: dict[str, Any], budget: float) -> CurvePosition:
    """The steps of the plan ``document`` whose cumulative cost is at most ``budget``.

    Each step is a mitigation with its cumulative cost, the risk left after it and its ROSI.
    """
    curve: Sequence[dict[str, Any]] = document["curve"]
    amount = budget if math.isfinite(budget) and budget > 0 else 0.0
    steps = []
    reached = curve[0]
    next_cost = None
    for number, point in enumerate(curve[1:], 1):
        if point["cost"] > amount + 1e-9:
            next_cost = point["cost"]
            break
        reached = point
        steps.append(_step(number, point))
    return CurvePosition(
        budget=amount,
        spent=reached["cost"],
        risk=reached["risk"],
        risk_before=curve[0]["risk"],
        steps=steps,
        next_cost=next_cost,
    )


def _step(number: int, point: dict[str, Any]) -> dict[str, Any]:
    mitigation = point["mitigation"] or {}
    return {
        "step": number,
        "kind": mitigation.get("kind", ""),
        "target": mitigation.get("target", ""),
        "cost": mitigation.get("cost", 0.0),
        "effort_days": mitigation.get("effort_days", 0.0),
        "cumulative_cost": point["cost"],
        "risk_after": point["risk"],
        "rosi": point["rosi"],
        "flags": ", ".join(mitigation.get("flags", [])),
    }


def curve_points(document: dict[str, Any]) -> list[tuple[float, float]]:
    """(cumulative cost, risk left) of every point of the plan's curve, in order."""
    return [(p["cost"], p["risk"]) for p in document["curve"]]


def cut_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The mitigations of a cut plan, numbered (a cut works as a whole: no curve to walk)."""
    return [
        {
            "step": number,
            "kind": m["kind"],
            "target": m["target"],
            "cost": m["cost"],
            "effort_days": m["effort_days"],
            "flags": ", ".join(m["flags"]),
        }
        for number, m in enumerate(document["mitigations"], 1)
    ]


def make_plan(
    session: Session,
    access: OrgAccess,
    *,
    budget: float | None = None,
    cut: str | None = None,
    trials: int = PLAN_TRIALS,
) -> RiskPlan:
    """Compute and store a plan (budget or cut) as ``POST /risk/plans`` does, audited.

    The caller checks ``plans:create``. Raises RiskModelError as ``create_plan`` does.
    """
    options = AssessmentOptions(trials=trials, scenarios=0)
    plan = create_plan(
        session,
        access.organisation_id,
        options,
        budget=budget,
        cut=cut,
        created_by=access.principal.actor,
    )
    append(
        session,
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
    return plan


CSV_COLUMNS = (
    "step",
    "kind",
    "target",
    "cost",
    "effort_days",
    "cumulative_cost",
    "risk_after",
    "rosi",
    "flags",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def plan_csv(document: dict[str, Any], budget: float | None = None) -> str:
    """The plan as CSV (RFC 4180, CRLF line ends): one row per mitigation, in plan order.

    A budget plan lists the steps its curve reaches within ``budget`` (all if None); a cut
    plan lists its whole cut. Text cells that a spreadsheet would evaluate are quoted.
    """
    rows: Iterable[dict[str, Any]]
    if document["mode"] == "budget" and budget is None:
        rows = [_step(n, p) for n, p in enumerate(document["curve"][1:], 1)]
    elif budget is not None and document["mode"] == "budget":
        rows = position(document, budget).steps
    else:
        after = document["risk_after"]
        rows = [
            {**step, "cumulative_cost": "", "risk_after": after, "rosi": ""}
            for step in cut_steps(document)
        ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


def export_plan_csv(
    session: Session, access: OrgAccess, plan_id: int, budget: float | None
) -> str | None:
    """Plan ``plan_id``'s CSV (see ``plan_csv``), audited as ``report.exported``; None if the
    organisation has no such plan. The caller checks ``plans:read``."""
    plan = plan_in(session, access.organisation_id, plan_id)
    if plan is None:
        return None
    text = plan_csv(plan.document, budget)
    append(
        session,
        access.event(
            "report.exported",
            target=f"risk_plan:{plan.id}",
            format="csv",
            budget=budget,
            mode=plan.mode,
        ),
    )
    return text


def latest_plan_id(session: Session, organisation_id: int, mode: str) -> int | None:
    """The newest stored plan of ``mode``, or None."""
    return session.scalar(
        select(RiskPlan.id)
        .where(RiskPlan.organisation_id == organisation_id, RiskPlan.mode == mode)
        .order_by(RiskPlan.id.desc())
        .limit(1)
    )
