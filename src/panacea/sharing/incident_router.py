"""Routes of incidents: ``/orgs/{org_id}/incidents`` and an incident's STIX 2.1 bundle.

Reading needs ``sharing:read``; recording, changing and deleting need ``sharing:publish``
(security leads and analysts, who run incident response). Every change, and every export of a
bundle (anonymised by default; on request it carries the free text as written, which may hold
patient data), is audited in the request's transaction. Another organisation's incident
answers 404, like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.sharing import incidents
from panacea.sharing.incident_models import Incident
from panacea.sharing.incident_schemas import IncidentCreate, IncidentFields, IncidentOut
from panacea.sharing.incident_vocabulary import IncidentStatus

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"

router = APIRouter(prefix="/orgs/{org_id}/incidents", tags=["incidents"])
Reader = Annotated[OrgAccess, Depends(require(Permission.SHARING_READ))]
Publisher = Annotated[OrgAccess, Depends(require(Permission.SHARING_PUBLISH))]
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Incident id")]


class StixResponse(JSONResponse):
    """A STIX 2.1 bundle (STIX 2.1 section 1.6.1 media type)."""

    media_type = STIX_MEDIA_TYPE


@router.get("", summary="Incidents in the order they were recorded; filter by status")
def list_incidents(
    access: Reader,
    db: Db,
    status: Annotated[list[IncidentStatus] | None, Query(max_length=4)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[IncidentOut]:
    stmt = incidents.incidents_query(access.organisation_id, status or ())
    return paginate(db, stmt, Incident.id, cursor=cursor, limit=limit, convert=IncidentOut.of)


@router.post("", status_code=201, summary="Record an incident")
def create_incident(access: Publisher, db: Db, body: IncidentCreate) -> IncidentOut:
    incident = incidents.create_incident(
        db, access.organisation_id, body.values(), actor=access.principal.actor
    )
    append(
        db,
        access.event(
            "incident.created",
            target=f"incident:{incident.id}",
            status=incident.status,
            severity=incident.severity,
            tlp=incident.tlp,
            shared_findings=incident.share_finding_ids,
        ),
    )
    return IncidentOut.of(incident)


@router.get("/{incident_id}", summary="One incident")
def get_incident(access: Reader, db: Db, incident_id: IncidentId) -> IncidentOut:
    return IncidentOut.of(incidents.require_incident(db, access.organisation_id, incident_id))


@router.patch("/{incident_id}", summary="Change an incident: only the fields given change")
def update_incident(
    access: Publisher, db: Db, incident_id: IncidentId, body: IncidentFields
) -> IncidentOut:
    incident, changed = incidents.update_incident(
        db, access.organisation_id, incident_id, body.values()
    )
    if changed:
        # Field names only: titles, summaries and lessons may hold patient data.
        append(
            db,
            access.event(
                "incident.updated",
                target=f"incident:{incident.id}",
                fields=changed,
                status=incident.status,
                tlp=incident.tlp,
                shared_findings=incident.share_finding_ids,
            ),
        )
    return IncidentOut.of(incident)


@router.delete("/{incident_id}", status_code=204, summary="Delete an incident")
def delete_incident(access: Publisher, db: Db, incident_id: IncidentId) -> Response:
    incidents.delete_incident(db, access.organisation_id, incident_id)
    append(db, access.event("incident.deleted", target=f"incident:{incident_id}"))
    return Response(status_code=204)


@router.get(
    "/{incident_id}/stix",
    summary="The incident as a STIX 2.1 bundle: anonymised unless asked otherwise, not signed",
    response_class=StixResponse,
    responses={200: {"content": {STIX_MEDIA_TYPE: {"schema": {"type": "object"}}}}},
)
def incident_stix(
    access: Reader,
    db: Db,
    incident_id: IncidentId,
    anonymise: Annotated[
        bool, Query(description="Pseudonymise patients, staff and internal hosts")
    ] = True,
    hide_organisation: Annotated[
        bool, Query(description="Pseudonymise the organisation's own name too")
    ] = False,
) -> StixResponse:
    incident = incidents.require_incident(db, access.organisation_id, incident_id)
    bundle: dict[str, Any] = incidents.export_incident(
        db,
        access.organisation_id,
        incident_id,
        anonymise=anonymise,
        hide_organisation=hide_organisation,
    )
    append(
        db,
        access.event(
            "incident.exported",
            target=f"incident:{incident_id}",
            bundle=bundle["id"],
            objects=len(bundle["objects"]),
            tlp=incident.tlp,
            shared_findings=incident.share_finding_ids,
            anonymised=anonymise,
            organisation_hidden=anonymise and hide_organisation,
        ),
    )
    return StixResponse(bundle)
