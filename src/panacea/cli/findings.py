"""``panacea findings list`` and ``panacea findings set-status``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.findings.errors import FindingError
from panacea.findings.service import organisation_of, set_status
from panacea.findings.views import FindingView, list_findings
from panacea.findings.vocabulary import FindingStatus
from panacea.inventory.service import get_organisation

app = typer.Typer(help="Vulnerabilities found on the organisation's assets.", no_args_is_help=True)
FINDINGS_SCHEMA = "panacea.findings/1"


@app.command("list")
def list_command(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Organisation.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.TABLE,
    status: Annotated[
        list[FindingStatus] | None, typer.Option("--status", help="Only these statuses.")
    ] = None,
) -> None:
    """Findings with their CVE, asset, status and confidence."""
    wanted = frozenset(s.value for s in status) if status else None
    with state(ctx).factory()() as session:
        organisation = get_organisation(session, org)
        views = list_findings(session, organisation.id, statuses=wanted)
    if output is OutputFormat.JSON:
        print_json({"schema": FINDINGS_SCHEMA, "organisation": org, "findings": views})
        return
    console.print(_table(views))


def _table(views: list[FindingView]) -> Table:
    table = Table(title=f"{len(views)} findings")
    for column in ("id", "cve", "asset", "status", "confidence", "source", "cvss", "kev", "epss"):
        table.add_column(column)
    for v in views:
        table.add_row(
            str(v.id),
            v.cve,
            v.asset,
            v.status,
            v.confidence,
            v.source,
            f"{v.cvss:.1f}" if v.cvss is not None else "",
            "KEV" if v.kev else "",
            f"{v.epss:.3f}" if v.epss is not None else "",
        )
    return table


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FindingError(f"--expires {value!r} is not a date like 2027-03-31") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("set-status")
def set_status_command(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(help="Finding id (see findings list).")],
    status: Annotated[FindingStatus, typer.Option("--status", help="New status.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    org: Annotated[str | None, typer.Option("--org", help="Organisation (checked).")] = None,
    approver: Annotated[str | None, typer.Option(help="Who approved a risk acceptance.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="When an acceptance ends (YYYY-MM-DD).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who makes the change.")] = "cli",
) -> None:
    """Change a finding's status; `accepted` needs --approver and --expires."""
    with session_scope(state(ctx).factory()) as session:
        org_id = get_organisation(session, org).id if org else organisation_of(session, finding_id)
        finding = set_status(
            session,
            org_id,
            finding_id,
            status,
            reason=reason,
            actor=actor,
            approver=approver,
            expires=_parse_date(expires),
        )
        state(ctx).audit(
            session,
            "risk.accepted" if status is FindingStatus.ACCEPTED else "finding.status_changed",
            organisation_id=org_id,
            target=f"finding:{finding.id}",
            status=finding.status,
            reason=reason,
            approver=approver,
            expires=expires,
            recorded_actor=actor,
        )
        console.print(f"finding {finding.id} ({finding.cve_id}) is now {finding.status}")
