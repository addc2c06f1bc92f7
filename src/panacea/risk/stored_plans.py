"""Mitigation plans as they were made: who asked, for what, and the ``panacea.plan/1`` document.

A plan is computed once and kept, so that the board reads the plan the security team chose
rather than a recomputation on a model that has since changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow
from panacea.inventory.service import organisation_by_id
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.planning import plan_document, plan_organisation


class RiskPlan(OrgOwned, Base):
    """A plan: ``mode`` budget (with ``budget``) or cut (with ``service``), and its document."""

    __tablename__ = "risk_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(8))
    budget: Mapped[float | None] = mapped_column(Float)
    service: Mapped[str | None] = mapped_column(String(100))
    total_cost: Mapped[float] = mapped_column(Float)
    risk_before: Mapped[float] = mapped_column(Float)
    risk_after: Mapped[float] = mapped_column(Float)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


def create_plan(
    session: Session,
    organisation_id: int,
    options: AssessmentOptions,
    *,
    budget: float | None,
    cut: str | None,
    created_by: str,
) -> RiskPlan:
    """Plan mitigations (as ``plan_organisation``) and store the plan; return it (with its id).

    Raises RiskModelError unless exactly one of ``budget`` and ``cut`` is given, or when the
    service to cut is unknown.
    """
    organisation = organisation_by_id(session, organisation_id)
    plan = plan_organisation(session, organisation_id, options, budget=budget, cut=cut)
    document = plan_document(plan, organisation=organisation.name, options=options, budget=budget)
    row = RiskPlan(
        organisation_id=organisation_id,
        created_by=created_by[:200],
        mode=document["mode"],
        budget=budget,
        service=plan.service,
        total_cost=document["total_cost"],
        risk_before=document["risk_before"],
        risk_after=document["risk_after"],
        document=document,
    )
    session.add(row)
    session.flush()
    return row


def plans_query(organisation_id: int) -> Select[RiskPlan]:
    """The organisation's stored plans."""
    return select(RiskPlan).where(RiskPlan.organisation_id == organisation_id)


def plan_in(session: Session, organisation_id: int, plan_id: int) -> RiskPlan | None:
    """Stored plan ``plan_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(RiskPlan).where(RiskPlan.id == plan_id, RiskPlan.organisation_id == organisation_id)
    )
