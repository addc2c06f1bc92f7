"""``panacea plan``: which mitigations to buy, within a budget or to cut a clinical service."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.risk import ALL_ENTRIES, EntryOpt, FormatOpt, OrgOpt
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.inventory.service import get_organisation
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.planning import plan_document, plan_organisation


def _options(entry: str, trials: int, seed: int) -> AssessmentOptions:
    entries = tuple(e.strip() for e in entry.split(",") if e.strip())
    return AssessmentOptions(entries=entries, trials=trials, seed=seed, scenarios=0)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _render(document: dict[str, Any]) -> None:
    budgeted = document["mode"] == "budget"
    title = (
        f"plan within a budget of {_money(document['budget'])}"
        if budgeted
        else f"cheapest cut of service {document['service']}"
    )
    table = Table(title=f"{document['organisation']}: {title} ({', '.join(document['entries'])})")
    columns = ["#", "mitigation", "target", "cost"]
    columns += ["spent", "risk left", "ROSI"] if budgeted else []
    for column in columns:
        table.add_column(column)
    for n, m in enumerate(document["mitigations"], 1):
        row = [str(n), _kind(m), m["target"], _money(m["cost"])]
        if budgeted:  # curve point n is the plan after its first n mitigations
            point = document["curve"][n]
            rosi = point["rosi"]
            row += [_money(point["cost"]), _money(point["risk"]), _number(rosi)]
        table.add_row(*row)
    console.print(table)
    console.print(
        f"{document['candidates']} candidates; cost {_money(document['total_cost'])} "
        f"({document['total_effort_days']:.1f} person-days); expected annual loss "
        f"{_money(document['risk_before'])} -> {_money(document['risk_after'])}; "
        f"ROSI {_number(document['rosi'])}",
        highlight=False,
    )
    classes = document["curve"][-1]["risk_classes"]
    console.print(
        "services by risk class after: " + ", ".join(f"{k} {v}" for k, v in classes.items()),
        highlight=False,
    )


def _kind(m: dict[str, Any]) -> str:
    return str(m["kind"]) + (" (vendor approval)" if "vendor_approval" in m["flags"] else "")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def plan(
    ctx: typer.Context,
    org: OrgOpt,
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.0, help="Money to spend (greedy plan).")
    ] = None,
    cut: Annotated[
        str | None, typer.Option("--cut", help="Service key to cut off at least cost (MILP).")
    ] = None,
    entry: EntryOpt = ALL_ENTRIES,
    output: FormatOpt = OutputFormat.TABLE,
    trials: Annotated[int, typer.Option(min=64, help="Monte Carlo trials.")] = 4096,
    seed: Annotated[int, typer.Option(help="Seed of the Monte Carlo run.")] = 0,
) -> None:
    """Plan mitigations: the most risk removed within --budget, or the cheapest --cut."""
    if (budget is None) == (cut is None):
        raise typer.BadParameter("give either --budget or --cut")
    options = _options(entry, trials, seed)
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        result = plan_organisation(session, organisation.id, options, budget=budget, cut=cut)
        document = plan_document(result, organisation=org, options=options, budget=budget)
        state(ctx).audit(
            session,
            "plan.created",
            organisation_id=organisation.id,
            budget=budget,
            cut=cut,
            total_cost=document.get("total_cost"),
        )
    if output is OutputFormat.JSON:
        print_json(document)
        return
    _render(document)
