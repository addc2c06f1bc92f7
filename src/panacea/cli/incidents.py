"""``panacea incidents create|list|show|export-stix``: incident records and their STIX bundle.

Every change is audited (``incident.created``; ``incident.exported`` for a bundle written out,
anonymised or ``--raw``) with the operating-system account as the actor, like the other
commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.inventory.service import get_organisation
from panacea.inventory.vocabulary import AssetKind
from panacea.sharing import incidents
from panacea.sharing.errors import IncidentError
from panacea.sharing.incident_models import Incident
from panacea.sharing.incident_schemas import IncidentOut
from panacea.sharing.incident_vocabulary import Determination, IncidentSeverity, IncidentStatus
from panacea.sharing.tlp import Tlp

app = typer.Typer(help="Security incidents and their STIX 2.1 export.", no_args_is_help=True)
INCIDENT_SCHEMA = "panacea.incident/1"
INCIDENTS_SCHEMA = "panacea.incidents/1"

Org = Annotated[str, typer.Option("--org", help="Organisation.")]
Format = Annotated[OutputFormat, typer.Option("--format", help="table or json")]


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise IncidentError(
            f"{option} {value!r} is not a date and time like 2026-03-01T08:30 (UTC unless an "
            "offset is given)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _indicator(text: str) -> dict[str, str]:
    kind, colon, value = text.partition(":")
    if not colon or not value:
        raise IncidentError(f"--indicator {text!r}: write TYPE:VALUE (ipv4:198.51.100.7)")
    return {"type": kind.strip().lower(), "value": value}


def _document(incident: Incident) -> dict[str, Any]:
    document: dict[str, Any] = IncidentOut.of(incident).model_dump(mode="json")
    return document


@app.command("create")
def create_command(
    ctx: typer.Context,
    org: Org,
    title: Annotated[str, typer.Option("--title", help="Short title (no patient data).")],
    detected_at: Annotated[
        str, typer.Option("--detected-at", help="When it was detected (ISO 8601).")
    ],
    summary: Annotated[str, typer.Option(help="What happened (free text).")] = "",
    started_at: Annotated[str | None, typer.Option(help="When it started (ISO 8601).")] = None,
    contained_at: Annotated[
        str | None, typer.Option(help="When it was contained (ISO 8601).")
    ] = None,
    status: Annotated[IncidentStatus, typer.Option(help="Response status.")] = IncidentStatus.OPEN,
    severity: Annotated[IncidentSeverity, typer.Option()] = IncidentSeverity.MEDIUM,
    determination: Annotated[Determination, typer.Option()] = Determination.SUSPECTED,
    asset_kind: Annotated[
        list[AssetKind] | None, typer.Option("--asset-kind", help="Kind of asset affected.")
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Key of a clinical service affected.")
    ] = None,
    technique: Annotated[
        list[str] | None, typer.Option("--technique", help="ATT&CK technique id (T1486).")
    ] = None,
    indicator: Annotated[
        list[str] | None,
        typer.Option(
            "--indicator", help="TYPE:VALUE, TYPE one of ipv4 ipv6 domain url sha256 md5 email."
        ),
    ] = None,
    cve: Annotated[list[str] | None, typer.Option("--cve", help="CVE exploited.")] = None,
    lessons: Annotated[str, typer.Option(help="Lessons learned.")] = "",
    tlp: Annotated[Tlp, typer.Option(help="TLP 2.0 level of its exports.")] = Tlp.AMBER_STRICT,
    share_finding: Annotated[
        list[int] | None,
        typer.Option("--share-finding", help="Id of a finding to share with it (opt-in)."),
    ] = None,
    plan: Annotated[
        int | None, typer.Option("--plan", help="Id of a stored mitigation plan.")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who records it.")] = "cli",
    output: Format = OutputFormat.TABLE,
) -> None:
    """Record an incident."""
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        values: dict[str, Any] = {
            "title": title,
            "summary": summary,
            "status": status.value,
            "severity": severity.value,
            "determination": determination.value,
            "detected_at": _time("--detected-at", detected_at),
            "started_at": _time("--started-at", started_at),
            "contained_at": _time("--contained-at", contained_at),
            "affected_asset_kinds": [k.value for k in asset_kind or ()],
            "affected_service_ids": incidents.service_ids(session, organisation.id, service or ()),
            "techniques": list(technique or ()),
            "indicators": [_indicator(i) for i in indicator or ()],
            "cves": list(cve or ()),
            "lessons": lessons,
            "tlp": tlp.value,
            "share_finding_ids": list(share_finding or ()),
            "mitigation_plan_id": plan,
        }
        incident = incidents.create_incident(session, organisation.id, values, actor=actor)
        state(ctx).audit(
            session,
            "incident.created",
            organisation_id=organisation.id,
            target=f"incident:{incident.id}",
            status=incident.status,
            severity=incident.severity,
            tlp=incident.tlp,
            shared_findings=incident.share_finding_ids,
            recorded_actor=actor,
        )
        document = _document(incident)
    if output is OutputFormat.JSON:
        print_json({"schema": INCIDENT_SCHEMA, "organisation": org, "incident": document})
        return
    console.print(f"incident {document['id']} recorded ({document['status']}, {document['tlp']})")


@app.command("list")
def list_command(
    ctx: typer.Context,
    org: Org,
    status: Annotated[
        list[IncidentStatus] | None, typer.Option("--status", help="Only these statuses.")
    ] = None,
    output: Format = OutputFormat.TABLE,
) -> None:
    """Incidents, most recently detected first."""
    with state(ctx).factory()() as session:
        organisation = get_organisation(session, org)
        documents = [
            _document(i) for i in incidents.list_incidents(session, organisation.id, status or ())
        ]
    if output is OutputFormat.JSON:
        print_json({"schema": INCIDENTS_SCHEMA, "organisation": org, "incidents": documents})
        return
    table = Table(title=f"{len(documents)} incidents")
    for column in ("id", "detected", "status", "severity", "tlp", "title", "techniques"):
        table.add_column(column)
    for d in documents:
        table.add_row(
            str(d["id"]),
            d["detected_at"][:16],
            d["status"],
            d["severity"],
            d["tlp"],
            d["title"],
            " ".join(t["id"] for t in d["techniques"]),
        )
    console.print(table)


@app.command("show")
def show_command(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="Incident id (see incidents list).")],
    org: Org,
    output: Format = OutputFormat.TABLE,
) -> None:
    """One incident in full."""
    with state(ctx).factory()() as session:
        organisation = get_organisation(session, org)
        document = _document(incidents.require_incident(session, organisation.id, incident_id))
    if output is OutputFormat.JSON:
        print_json({"schema": INCIDENT_SCHEMA, "organisation": org, "incident": document})
        return
    table = Table(title=f"incident {incident_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in document.items():
        if isinstance(value, list):
            value = ", ".join(
                f"{v.get('id', v.get('type', ''))} {v.get('name', v.get('value', ''))}".strip()
                if isinstance(v, dict)
                else str(v)
                for v in value
            )
        table.add_row(name, "" if value is None else str(value))
    console.print(table)


@app.command("export-stix")
def export_command(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="Incident id (see incidents list).")],
    org: Org,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the bundle here (default: stdout).")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Do not anonymise (free text as written: internal use).")
    ] = False,
    hide_organisation: Annotated[
        bool, typer.Option("--hide-organisation", help="Pseudonymise the organisation's name.")
    ] = False,
) -> None:
    """The incident as a STIX 2.1 bundle, anonymised unless --raw (not signed)."""
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        bundle = incidents.export_incident(
            session,
            organisation.id,
            incident_id,
            anonymise=not raw,
            hide_organisation=hide_organisation,
        )
        incident = incidents.require_incident(session, organisation.id, incident_id)
        state(ctx).audit(
            session,
            "incident.exported",
            organisation_id=organisation.id,
            target=f"incident:{incident_id}",
            bundle=bundle["id"],
            objects=len(bundle["objects"]),
            tlp=incident.tlp,
            shared_findings=incident.share_finding_ids,
            anonymised=not raw,
            organisation_hidden=hide_organisation and not raw,
            out=str(out) if out else "stdout",
        )
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out is None:
        print(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"{len(bundle['objects'])} STIX objects written to {out}")
