"""``panacea assess`` and ``panacea paths``: the risk picture of an organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.inventory.service import get_organisation
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.errors import RiskModelError
from panacea.risk.parameters import ENTRY_PROFILES
from panacea.risk.report import board_report
from panacea.risk.service import assess_and_record

EntryOpt = Annotated[
    str,
    typer.Option("--entry", help=f"Attacker profiles, comma-separated: {','.join(ENTRY_PROFILES)}"),
]
ALL_ENTRIES = ",".join(ENTRY_PROFILES)
OrgOpt = Annotated[str, typer.Option("--org", help="Organisation.")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table or json")]


def _options(entry: str, trials: int, seed: int, k: int) -> AssessmentOptions:
    entries = tuple(e.strip() for e in entry.split(",") if e.strip())
    return AssessmentOptions(entries=entries, trials=trials, seed=seed, scenarios=k)


def _run(ctx: typer.Context, org: str, options: AssessmentOptions) -> dict[str, Any]:
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        # The document printed is the one stored with the snapshot.
        document = assess_and_record(session, organisation.id, options).document
        state(ctx).audit(
            session,
            "assessment.run",
            organisation_id=organisation.id,
            entries=sorted(options.entries),
        )
        return document


def assess(
    ctx: typer.Context,
    org: OrgOpt,
    entry: EntryOpt = ALL_ENTRIES,
    output: FormatOpt = OutputFormat.TABLE,
    trials: Annotated[int, typer.Option(min=64, help="Monte Carlo trials.")] = 4096,
    seed: Annotated[int, typer.Option(help="Seed of the Monte Carlo run.")] = 0,
) -> None:
    """Assess the organisation: clinical services ranked by risk class, then expected loss."""
    # The default number of scenarios, as the dashboard and the API: the document is stored
    # with the snapshot, and the dashboard's service view shows its scenarios.
    document = _run(ctx, org, _options(entry, trials, seed, AssessmentOptions().scenarios))
    if output is OutputFormat.JSON:
        print_json(document)
        return
    table = Table(title=f"{org}: clinical services at risk ({', '.join(document['entries'])})")
    for column in ("service", "safety", "class", "probability", "expected loss", "why"):
        table.add_column(column)
    for s in document["services"]:
        why = s["top_paths"][0]["steps"][-1]["text"] if s["top_paths"] else "no attack path"
        low, high = s["interval"]
        table.add_row(
            s["name"],
            s["patient_safety"],
            s["risk_class"],
            f"{s['probability']:.2f} [{low:.2f}-{high:.2f}]",
            f"{s['expected_loss']:,.0f}",
            why,
        )
    console.print(table)


def paths(
    ctx: typer.Context,
    org: OrgOpt,
    service: Annotated[str, typer.Option("--service", help="Service key (see assess).")],
    k: Annotated[int, typer.Option("-k", min=1, max=20, help="How many scenarios.")] = 3,
    entry: EntryOpt = ALL_ENTRIES,
    output: FormatOpt = OutputFormat.TABLE,
) -> None:
    """The most probable minimal attack scenarios against one clinical service."""
    document = _run(ctx, org, _options(entry, 4096, 0, k))
    chosen = next((s for s in document["services"] if s["key"] == service), None)
    if chosen is None:
        known = ", ".join(s["key"] for s in document["services"])
        raise RiskModelError(f"unknown service {service!r} (known: {known})")
    if output is OutputFormat.JSON:
        print_json({"schema": "panacea.paths/1", "service": chosen})
        return
    console.print(
        f"[bold]{chosen['name']}[/]: P={chosen['probability']:.2f}, {chosen['risk_class']}"
    )
    for i, path in enumerate(chosen["top_paths"], 1):
        console.print(
            f"\nscenario {i}: all steps succeed with probability {path['probability']:.3f}"
        )
        for n, step in enumerate(path["steps"], 1):
            console.print(f"  {n}. {step['text']}  (p={step['probability']:.2f})", highlight=False)
    if not chosen["top_paths"]:
        console.print("no attack scenario reaches this service from the selected entries")


def report(
    ctx: typer.Context,
    org: OrgOpt,
    out: Annotated[Path, typer.Option("--out", help="report.html or report.md")],
    budget: Annotated[float, typer.Option(help="Budget of the plan in the report.")] = 20000.0,
    entry: EntryOpt = ALL_ENTRIES,
) -> None:
    """Write the board report (HTML or Markdown, by the file's suffix)."""
    if out.suffix not in {".html", ".md"}:
        raise RiskModelError(f"{out}: the report is written as .html or .md")
    options = _options(entry, 4096, 0, 1)
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        text = board_report(
            session, organisation.id, org, options, budget=budget, html=out.suffix == ".html"
        )
        state(ctx).audit(session, "report.exported", organisation_id=organisation.id, file=str(out))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise RiskModelError(f"{out}: cannot write the report: {e.strerror}") from e
    console.print(f"wrote {out}")
