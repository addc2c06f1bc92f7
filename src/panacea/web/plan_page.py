"""``/plan``: the budget slider on a stored plan's risk-vs-budget curve, the mitigation list,
the cut plan of one clinical service, and the downloads (plan CSV, board report HTML).

Anyone holding ``plans:read`` explores the stored plans; ``plans:create`` computes new ones
(``plan_data.make_plan``: stored and audited ``plan.created``). The slider never recomputes:
it walks the curve of the plan shown (see ``plan_data``). The chart's text equivalent is the
summary sentence and the mitigation table, which list every point the chart draws.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from nicegui import run, ui

from panacea.identity.roles import Permission
from panacea.risk.errors import RiskModelError
from panacea.web.callers import WebCaller
from panacea.web.data_table import Column, static_table
from panacea.web.plan_data import (
    CurvePosition,
    curve_points,
    cut_steps,
    latest_cut_plan,
    latest_plan_id,
    make_plan,
    position,
    recent_plans,
    service_keys,
    stored_plan,
)
from panacea.web.shell import dashboard_page, mark_data_ready, text_element

DEFAULT_BUDGET = 20_000.0
MAX_BUDGET = 1e12
SLIDER_STEPS = 200
# Okabe-Ito blue for the curve, orange for the chosen budget (distinct to colour-blind eyes;
# the marker is also a dashed line with a label).
CURVE_COLOUR = "#0072B2"
MARKER_COLOUR = "#E69F00"
PLAN_COLUMNS = (
    ("step", "#"),
    ("kind", "Measure"),
    ("target", "Target"),
    ("cost", "Cost"),
    ("cumulative_cost", "Spent so far"),
    ("risk_after", "Expected annual loss after"),
    ("rosi", "ROSI"),
    ("flags", "Notes"),
)
CUT_COLUMNS = (
    ("step", "#"),
    ("kind", "Measure"),
    ("target", "Target"),
    ("cost", "Cost"),
    ("effort_days", "Effort (days)"),
    ("flags", "Notes"),
)


def money(value: float) -> str:
    return f"{value:,.0f}"


def plan_csv_url(organisation_id: int, plan_id: int, budget: float | None) -> str:
    """The CSV download of a stored plan (``panacea.web.exports``), pinned to the organisation."""
    query: dict[str, Any] = {"org": organisation_id}
    if budget is not None:
        query["budget"] = f"{budget:.2f}"
    return f"/export/plans/{plan_id}.csv?{urlencode(query)}"


def report_url(organisation_id: int, budget: float) -> str:
    """The board report of the API (``GET .../risk/report``), as an HTML download."""
    query = urlencode({"format": "html", "budget": f"{budget:.2f}"})
    return f"/api/v1/orgs/{organisation_id}/risk/report?{query}"


def summary_text(at: CurvePosition) -> str:
    """The sentence that states what the chart shows at the chosen budget."""
    measures = len(at.steps)
    text = (
        f"With a budget of {money(at.budget)}: {measures} measure{'s' if measures != 1 else ''} "
        f"costing {money(at.spent)} lower the expected annual loss from "
        f"{money(at.risk_before)} to {money(at.risk)}."
    )
    if at.next_cost is not None:
        text += (
            f" The plan's next measure would bring the spending to {money(at.next_cost)}; a plan "
            "computed for exactly this budget may choose cheaper measures instead."
        )
    return text


def chart_options(points: list[tuple[float, float]], budget: float) -> dict[str, Any]:
    """ECharts options: the curve as steps, a dashed vertical marker at ``budget``."""
    return {
        "animation": False,
        "grid": {"left": 70, "right": 20, "top": 30, "bottom": 50},
        "tooltip": {"trigger": "axis"},
        "xAxis": {
            "type": "value",
            "name": "Budget spent",
            "nameLocation": "middle",
            "nameGap": 30,
            # The marker must stay in view when the budget exceeds what the plan spends.
            "max": round(max([budget, *(c for c, _ in points)]), 2) or None,
        },
        "yAxis": {"type": "value", "name": "Expected annual loss"},
        "series": [
            {
                "type": "line",
                "step": "end",
                "name": "Expected annual loss",
                "data": [[round(c, 2), round(r, 2)] for c, r in points],
                "lineStyle": {"color": CURVE_COLOUR, "width": 3},
                "itemStyle": {"color": CURVE_COLOUR},
                "symbol": "circle",
                "markLine": {
                    "symbol": "none",
                    "silent": True,
                    "lineStyle": {"color": MARKER_COLOUR, "type": "dashed", "width": 2},
                    "label": {"formatter": "chosen budget", "position": "insideEndTop"},
                    "data": [{"xAxis": round(budget, 2)}],
                },
            }
        ],
    }


def _rows(at: CurvePosition) -> list[dict[str, Any]]:
    return [
        {
            **step,
            "id": step["step"],
            "cost": money(step["cost"]),
            "cumulative_cost": money(step["cumulative_cost"]),
            "risk_after": money(step["risk_after"]),
            "rosi": "" if step["rosi"] is None else f"{step['rosi']:.2f}",
        }
        for step in at.steps
    ]


def _columns(spec: tuple[tuple[str, str], ...]) -> list[Column]:
    return [Column(n, label) for n, label in spec]


class BudgetSection:
    """The budget plan: choice of stored plan, computing one, the slider, chart and list."""

    def __init__(self, caller: WebCaller) -> None:
        self.caller = caller
        self.document: dict[str, Any] | None = None
        self.budget_input: ui.number | None = None
        text_element("h2", "Budget plan").classes("text-h6 q-my-none")
        with ui.row().classes("w-full items-end gap-3"):
            self.choice = (
                ui.select({}, label="Stored plan")
                .props("outlined dense data-testid=plan-select")
                .classes("min-w-72")
            )
            self.choice.on_value_change(lambda e: self.show(e.value))
            if caller.allows(Permission.PLANS_CREATE):
                self.budget_input = ui.number(
                    "Budget to plan for",
                    value=DEFAULT_BUDGET,
                    min=0,
                    max=MAX_BUDGET,
                    step=1000,
                ).props("outlined dense data-testid=plan-budget")
                self.compute = ui.button("Compute plan", on_click=self.create).props(
                    "no-caps data-testid=plan-compute"
                )
        self.status = ui.label("").props('role=status aria-live="polite" data-testid=plan-status')
        self.empty = ui.label("No budget plan has been computed yet.").props(
            "data-testid=plan-empty"
        )
        with ui.column().classes("w-full gap-2") as self.body:
            ui.label("Budget").props("id=budget-slider-label")
            self.slider = (
                ui.slider(min=0, max=1, step=1, value=0)
                .props(
                    'label-always data-testid=budget-slider aria-labelledby="budget-slider-label"'
                )
                .classes("w-full q-px-md")
            )
            self.slider.on_value_change(lambda e: self.move(e.value))
            self.chart = (
                ui.echart(chart_options([], 0.0))
                .classes("w-full h-72")
                .props("data-testid=plan-curve role=img")
            )
            self.summary = ui.label("").props("data-testid=plan-summary")
            with ui.row().classes("gap-3"):
                self.csv = ui.link("Download the plan (CSV)", "#").props(
                    "data-testid=plan-csv download"
                )
                self.report = ui.link("Board report (HTML)", "#").props(
                    "data-testid=report-html download"
                )
                self.report.set_visibility(caller.allows(Permission.REPORTS_EXPORT))
            self.table = static_table(
                _columns(PLAN_COLUMNS),
                [],
                testid="plan-list",
                page_size=50,
                empty="Nothing within this budget",
            )
        self.body.set_visibility(False)

    def refresh_choices(self, selected: int | None = None) -> None:
        with self.caller.reading() as db:
            plans = recent_plans(db, self.caller.organisation_id, "budget")
        self.choice.options = {p.id: p.label for p in plans}
        self.choice.update()
        if selected is None and plans:
            selected = plans[0].id
        self.empty.set_visibility(not plans)
        if selected is not None:
            self.choice.set_value(selected)
            self.show(selected)

    def show(self, plan_id: Any) -> None:
        if isinstance(plan_id, bool) or not isinstance(plan_id, int):
            return
        with self.caller.reading() as db:
            document = stored_plan(db, self.caller.organisation_id, plan_id)
        if document is None or document["mode"] != "budget":
            return
        self.document = document
        top = float(document["budget"] or 0.0)
        self.slider.props["min"] = 0
        self.slider.props["max"] = top
        self.slider.props["step"] = _step(top)
        self.slider.value = top
        self.body.set_visibility(True)
        self.move(top)

    def move(self, value: Any) -> None:
        if self.document is None or not isinstance(value, int | float):
            return
        at = position(self.document, float(value))
        points = curve_points(self.document)
        self.chart.options.clear()
        self.chart.options.update(chart_options(points, at.budget))
        self.chart.update()
        text = summary_text(at)
        self.chart.props["aria-label"] = f"Risk-vs-budget curve. {text}"
        self.summary.text = text
        self.table.rows = _rows(at)
        if self.budget_input is not None:  # "Compute plan" then plans for exactly this budget
            self.budget_input.value = at.budget
        organisation = self.caller.organisation_id
        plan_id = int(self.document["id"])
        self.csv.props["href"] = plan_csv_url(organisation, plan_id, at.budget)
        self.report.props["href"] = report_url(organisation, at.budget)

    async def create(self) -> None:
        if self.budget_input is None:
            return
        budget = self.budget_input.value
        if not isinstance(budget, int | float) or not 0 <= budget <= MAX_BUDGET:
            self.status.text = f"Give a budget between 0 and {money(MAX_BUDGET)}."
            return
        self.compute.disable()
        self.status.text = "Computing the plan (this can take a minute on a large hospital)…"
        try:
            plan_id = await run.io_bound(self._create, float(budget))
        except RiskModelError as e:
            self.status.text = f"No plan: {e}"
            return
        finally:
            self.compute.enable()
        if plan_id is None:
            return
        self.status.text = f"Plan #{plan_id} computed and stored."
        self.refresh_choices(plan_id)

    def _create(self, budget: float) -> int:
        with self.caller.transaction(Permission.PLANS_CREATE) as db:
            return make_plan(db, self.caller.access, budget=budget).id


def _step(top: float) -> float:
    """A slider step giving about SLIDER_STEPS positions, rounded to a whole amount."""
    if top <= 0:
        return 1.0
    raw = top / SLIDER_STEPS
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    return float(max(1, round(raw / magnitude) * magnitude))


class CutSection:
    """The cheapest cut of one clinical service: choose it, see or compute its cut plan."""

    def __init__(self, caller: WebCaller, services: list[tuple[str, str]]) -> None:
        self.caller = caller
        text_element("h2", "Cut plan for one service").classes("text-h6 q-my-none")
        ui.label(
            "The cheapest set of measures after which no attacker profile can reach the service."
        )
        with ui.row().classes("w-full items-end gap-3"):
            self.service = (
                ui.select(
                    {key: f"{name} ({key})" for key, name in services}, label="Clinical service"
                )
                .props("outlined dense data-testid=cut-service-select")
                .classes("min-w-72")
            )
            self.service.on_value_change(lambda e: self.show_latest(e.value))
            if caller.allows(Permission.PLANS_CREATE):
                self.compute = ui.button("Compute the cut", on_click=self.create).props(
                    "no-caps data-testid=cut-compute"
                )
        self.status = ui.label("").props('role=status aria-live="polite" data-testid=cut-status')
        self.csv = ui.link("Download the cut plan (CSV)", "#").props("data-testid=cut-csv download")
        self.csv.set_visibility(False)
        self.table = static_table(
            _columns(CUT_COLUMNS),
            [],
            testid="cut-plan-list",
            page_size=50,
            empty="Choose a service",
        )

    def _latest(self, key: str) -> dict[str, Any] | None:
        with self.caller.reading() as db:
            return latest_cut_plan(db, self.caller.organisation_id, key)

    def show_latest(self, key: Any) -> None:
        if not isinstance(key, str):
            return
        document = self._latest(key)
        if document is None:
            self.table.rows = []
            self.csv.set_visibility(False)
            self.status.text = f"No cut plan of {key} has been computed yet."
            return
        self.display(document)

    def display(self, document: dict[str, Any]) -> None:
        steps = cut_steps(document)
        self.table.rows = [
            {**s, "id": s["step"], "cost": money(s["cost"]), "effort_days": f"{s['effort_days']:g}"}
            for s in steps
        ]
        self.status.text = (
            f"Cut plan #{document['id']} of {document['service']}: {len(steps)} measures costing "
            f"{money(document['total_cost'])}; the expected annual loss goes from "
            f"{money(document['risk_before'])} to {money(document['risk_after'])}."
        )
        url = plan_csv_url(self.caller.organisation_id, int(document["id"]), None)
        self.csv.props["href"] = url
        self.csv.set_visibility(True)

    async def create(self) -> None:
        key = self.service.value
        if not isinstance(key, str):
            self.status.text = "Choose a service first."
            return
        self.compute.disable()
        self.status.text = f"Computing the cut of {key}…"
        try:
            document = await run.io_bound(self._create, key)
        except RiskModelError as e:
            self.status.text = f"No cut: {e}"
            return
        finally:
            self.compute.enable()
        if document is not None:
            self.display(document)

    def _create(self, key: str) -> dict[str, Any]:
        with self.caller.transaction(Permission.PLANS_CREATE) as db:
            plan = make_plan(db, self.caller.access, cut=key)
            return {**plan.document, "id": plan.id}


@dashboard_page("/plan", title="Mitigation plan", permission=Permission.PLANS_READ, nav="plan")
async def plan_page(caller: WebCaller) -> None:
    """The budget plan (newest stored one first) and the cut plan of a chosen service."""
    with caller.reading() as db:
        services = service_keys(db, caller.organisation_id)
        newest = latest_plan_id(db, caller.organisation_id, "budget")
    budget = BudgetSection(caller)
    ui.separator()
    CutSection(caller, services)
    await ui.context.client.connected()
    budget.refresh_choices(newest)
    mark_data_ready()
