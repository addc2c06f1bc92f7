"""Routes of an organisation's audit log: list, verify, export (``audit:read``).

Reading the log is not itself logged (an auditor paging through it would flood it), but an
export is: it takes the log out of the platform (NIST SP 800-53 AU-9(4) access to audit
information; DICOM 110106 "Export").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from panacea.api.context import app_context
from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.api.problems import ProblemError
from panacea.identity.audit import append
from panacea.identity.audit_checkpoints import CheckpointError
from panacea.identity.audit_export import (
    MEDIA_TYPES,
    AuditFilter,
    ExportFormat,
    entries_query,
    export_lines,
)
from panacea.identity.audit_records import AuditEntry, chain_of
from panacea.identity.audit_verify import ChainReport, verify_audit
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission

log = logging.getLogger(__name__)
router = APIRouter(prefix="/orgs/{org_id}/audit", tags=["audit"])

Auditor = Annotated[OrgAccess, Depends(require(Permission.AUDIT_READ))]


def audit_filter(
    action: Annotated[
        str | None,
        Query(max_length=80, description="Action, or a prefix ending in `.*` (`auth.*`)"),
    ] = None,
    actor_user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    target: Annotated[str | None, Query(max_length=400)] = None,
    since: Annotated[datetime | None, Query(description="At or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="Before (RFC 3339)")] = None,
    break_glass: Annotated[
        bool | None, Query(description="Only entries made under break-glass (or only not)")
    ] = None,
) -> AuditFilter:
    """The filter query parameters shared by the list and the export."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ProblemError(
                422, f"{name}: give a time zone (e.g. 2025-01-31T08:00:00Z)", slug="bad-time"
            )
    return AuditFilter(
        action=action,
        actor_user_id=actor_user_id,
        outcome=outcome,
        target=target,
        since=since,
        until=until,
        break_glass=break_glass,
    )


Filter = Annotated[AuditFilter, Depends(audit_filter)]


class AuditEntryOut(BaseModel):
    """One entry, with the hashes that chain it."""

    id: int
    chain: str
    seq: int
    at: datetime
    actor_user_id: int | None
    actor: str
    via: str
    action: str
    outcome: str
    target: str
    client_address: str
    break_glass_grant_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            chain=entry.chain,
            seq=entry.seq,
            at=entry.at,
            actor_user_id=entry.actor_user_id,
            actor=entry.actor,
            via=entry.via,
            action=entry.action,
            outcome=entry.outcome,
            target=entry.target,
            client_address=entry.client_address,
            break_glass_grant_id=entry.break_glass_grant_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


class ProblemOut(BaseModel):
    kind: str
    seq: int | None
    entry_id: int | None
    message: str


class VerificationOut(BaseModel):
    """The verification of the organisation's chain."""

    chain: str
    ok: bool
    entries: int
    last_seq: int
    checkpoints: int
    witnessed: int
    signatures_checked: bool
    problem: ProblemOut | None

    @classmethod
    def of(cls, report: ChainReport, *, signatures_checked: bool) -> VerificationOut:
        problem = report.problem
        return cls(
            chain=report.chain,
            ok=report.ok,
            entries=report.entries,
            last_seq=report.last_seq,
            checkpoints=report.checkpoints,
            witnessed=report.witnessed,
            signatures_checked=signatures_checked,
            problem=ProblemOut(
                kind=problem.kind.value,
                seq=problem.seq,
                entry_id=problem.entry_id,
                message=problem.message,
            )
            if problem is not None
            else None,
        )


@router.get(
    "",
    response_model=Page[AuditEntryOut],
    summary="The organisation's audit log, oldest first (filters, cursor pages)",
)
def list_entries(
    access: Auditor, db: Db, wanted: Filter, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[AuditEntryOut]:
    return paginate(
        db,
        entries_query(access.organisation_id, wanted),
        AuditEntry.id,
        cursor=cursor,
        limit=limit,
        convert=AuditEntryOut.of,
    )


@router.get(
    "/verify",
    response_model=VerificationOut,
    summary="Verify the organisation's chain: hashes, links, head, signed checkpoints",
)
def verify(access: Auditor, db: Db, request: Request) -> VerificationOut:
    settings = app_context(request).settings
    try:
        report = verify_audit(db, settings, chains=[chain_of(access.organisation_id)])
    except CheckpointError as e:
        log.error("audit verification of organisation %s: %s", access.organisation_id, e)
        raise ProblemError(
            500,
            "the audit signing key or checkpoint file cannot be read (see the server log)",
            slug="audit-configuration",
        ) from e
    return VerificationOut.of(report.chains[0], signatures_checked=report.signatures_checked)


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="Export the organisation's audit log: JSON lines or FHIR R4 AuditEvent NDJSON",
    responses={
        200: {
            "description": "One entry (jsonl) or one FHIR AuditEvent (fhir) per line",
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()},
        }
    },
)
def export(
    access: Auditor,
    db: Db,
    request: Request,
    wanted: Filter,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.JSONL,
) -> StreamingResponse:
    organisation_id = access.organisation_id
    # Recorded in the request's transaction, committed before the first line is sent.
    append(
        db,
        access.event(
            "audit.exported",
            target=f"audit:{chain_of(organisation_id)}",
            format=fmt.value,
            filter=wanted.as_json(),
        ),
    )
    sessions = app_context(request).sessions

    def lines() -> Iterator[str]:
        # Its own session: the request's is closed by the time the body is streamed.
        with sessions() as session:
            yield from export_lines(session, organisation_id, fmt, wanted)

    suffix = "jsonl" if fmt is ExportFormat.JSONL else "fhir.ndjson"
    return StreamingResponse(
        lines(),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": (f'attachment; filename="audit-org-{organisation_id}.{suffix}"')
        },
    )
