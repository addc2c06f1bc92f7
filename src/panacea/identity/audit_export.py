"""Reading an organisation's audit log out: filters, JSON lines, FHIR R4 AuditEvent.

``jsonl``: one entry per line as :func:`panacea.identity.audit.entry_json` (the hashed
fields, ``prev_hash`` and ``hash``), so a copy can be re-verified without the database.

``fhir``: one FHIR R4 ``AuditEvent`` per line (NDJSON, as FHIR Bulk Data exports resources,
``application/fhir+ndjson``), for the hospital's audit repository (IHE ATNA / BALP). The event
type comes from DICOM PS3.16 CID 400 "Audit Event ID" and, for security alerts and
authentication, the subtype from CID 403 / CID 404; PANACEA's own action code is a further
subtype. PANACEA holds no patient records, so 110110 "Patient Record" is never used: data
changes are 110100 "Application Activity".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from panacea.identity.audit import entry_json, utc_timestamp
from panacea.identity.audit_records import AuditEntry, chain_of
from panacea.identity.errors import IdentityError

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACTION_SYSTEM = "urn:panacea:audit-action"
USER_SYSTEM = "urn:panacea:user"
OBJECT_SYSTEM = "urn:panacea:object"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
EXPORT_BATCH = 500


class AuditExportError(IdentityError):
    """An export cannot be written where it was asked to go."""


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    FHIR = "fhir"


MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.JSONL: "application/jsonl",
    ExportFormat.FHIR: "application/fhir+ndjson",
}


@dataclass(frozen=True, kw_only=True)
class AuditFilter:
    """Which entries of an organisation to list or export (all given conditions must hold).

    ``action`` matches exactly, or every action under a prefix when it ends with ``.*``
    (``auth.*``).
    """

    action: str | None = None
    actor_user_id: int | None = None
    outcome: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    break_glass: bool | None = None

    def as_json(self) -> dict[str, Any]:
        """The conditions set, for the audit entry recording an export."""
        values = {
            "action": self.action,
            "actor_user_id": self.actor_user_id,
            "outcome": self.outcome,
            "target": self.target,
            "since": utc_timestamp(self.since) if self.since else None,
            "until": utc_timestamp(self.until) if self.until else None,
            "break_glass": self.break_glass,
        }
        return {k: v for k, v in values.items() if v is not None}


def entries_query(organisation_id: int, wanted: AuditFilter | None = None) -> Select[AuditEntry]:
    """The organisation's entries matching ``wanted`` (unordered: the caller orders or pages)."""
    wanted = wanted or AuditFilter()
    stmt = select(AuditEntry).where(AuditEntry.chain == chain_of(organisation_id))
    if wanted.action is not None:
        if wanted.action.endswith(".*"):
            prefix = wanted.action[:-1]
            stmt = stmt.where(AuditEntry.action.startswith(prefix, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == wanted.action)
    if wanted.actor_user_id is not None:
        stmt = stmt.where(AuditEntry.actor_user_id == wanted.actor_user_id)
    if wanted.outcome is not None:
        stmt = stmt.where(AuditEntry.outcome == wanted.outcome)
    if wanted.target is not None:
        stmt = stmt.where(AuditEntry.target == wanted.target)
    if wanted.since is not None:
        stmt = stmt.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        stmt = stmt.where(AuditEntry.at < wanted.until)
    if wanted.break_glass is True:
        stmt = stmt.where(AuditEntry.break_glass_grant_id.is_not(None))
    elif wanted.break_glass is False:
        stmt = stmt.where(AuditEntry.break_glass_grant_id.is_(None))
    return stmt


def iter_entries(session: Session, stmt: Select[AuditEntry]) -> Iterator[AuditEntry]:
    """The entries of ``stmt`` in seq order, fetched in keyset batches (flat memory)."""
    after: tuple[int, int] | None = None
    while True:
        page = stmt
        if after is not None:
            page = page.where(
                or_(
                    AuditEntry.seq > after[0],
                    and_(AuditEntry.seq == after[0], AuditEntry.id > after[1]),
                )
            )
        batch = list(
            session.execute(
                page.order_by(AuditEntry.seq, AuditEntry.id).limit(EXPORT_BATCH)
            ).scalars()
        )
        yield from batch
        if len(batch) < EXPORT_BATCH:
            return
        after = (batch[-1].seq, batch[-1].id)
        for entry in batch:
            session.expunge(entry)


# --- FHIR R4 AuditEvent ------------------------------------------------------------------------

# DICOM PS3.16 CID 400 (event type) and CID 403 / 404 (subtypes), by PANACEA action.
_APPLICATION_ACTIVITY = ("110100", "Application Activity")
_SECURITY_ALERT = ("110113", "Security Alert")
_USER_AUTHENTICATION = ("110114", "User Authentication")
_LOGIN = ("110122", "Login")
_LOGOUT = ("110123", "Logout")
_EXACT_TYPES: dict[str, tuple[tuple[str, str], tuple[str, str] | None]] = {
    "auth.login": (_USER_AUTHENTICATION, _LOGIN),
    "auth.mfa": (_USER_AUTHENTICATION, _LOGIN),
    "auth.logout": (_USER_AUTHENTICATION, _LOGOUT),
    "passkey.authenticated": (_USER_AUTHENTICATION, _LOGIN),
    "token.used": (_USER_AUTHENTICATION, _LOGIN),
    "break_glass.granted": (_SECURITY_ALERT, ("110127", "Emergency Override Started")),
    "break_glass.ended": (_SECURITY_ALERT, ("110138", "Emergency Override Stopped")),
    "role.changed": (_SECURITY_ALERT, ("110136", "Security Roles Changed")),
    "security_policy.changed": (_SECURITY_ALERT, ("110129", "Security Configuration")),
    "import.completed": (("110107", "Import"), None),
}
_PREFIX_TYPES: dict[str, tuple[tuple[str, str], tuple[str, str] | None]] = {
    "auth": (_USER_AUTHENTICATION, None),
    "audit": (("110101", "Audit Log Used"), None),
    "membership": (_SECURITY_ALERT, ("110136", "Security Roles Changed")),
    "user": (_SECURITY_ALERT, ("110137", "User Security Attributes Changed")),
    "token": (_SECURITY_ALERT, ("110137", "User Security Attributes Changed")),
    "passkey": (_SECURITY_ALERT, ("110137", "User Security Attributes Changed")),
    "break_glass": (_SECURITY_ALERT, None),
    "keys": (_SECURITY_ALERT, ("110129", "Security Configuration")),
}
# AuditEvent.action (C create, R read, U update, D delete, E execute) by the action's verb.
_VERBS: dict[str, str] = {
    "created": "C",
    "added": "C",
    "registered": "C",
    "exported": "R",
    "read": "R",
    "viewed": "R",
    "updated": "U",
    "changed": "U",
    "status_changed": "U",
    "eligibility_changed": "U",
    "password_reset": "U",
    "mfa_reset": "U",
    "accepted": "U",
    "reviewed": "U",
    "data_key_rotated": "U",
    "kek_rotated": "U",
    "deleted": "D",
    "removed": "D",
    "revoked": "D",
}
# AuditEvent.outcome: 0 success, 4 minor failure (refused, denied), 8 serious failure.
_OUTCOMES: dict[str, str] = {"success": "0", "failure": "4", "denied": "4", "error": "8"}


def _coding(pair: tuple[str, str], system: str = DCM) -> dict[str, str]:
    return {"system": system, "code": pair[0], "display": pair[1]}


def _event_type(action: str) -> tuple[tuple[str, str], tuple[str, str] | None]:
    if action in _EXACT_TYPES:
        return _EXACT_TYPES[action]
    if action.endswith(".exported"):
        return ("110106", "Export"), None
    return _PREFIX_TYPES.get(action.partition(".")[0], (_APPLICATION_ACTIVITY, None))


def fhir_audit_event(entry: AuditEntry, *, observer: str = "PANACEA") -> dict[str, Any]:
    """The entry as a FHIR R4 AuditEvent resource (JSON)."""
    kind, subtype = _event_type(entry.action)
    subtypes = [_coding(subtype)] if subtype else []
    subtypes.append({"system": ACTION_SYSTEM, "code": entry.action})
    who: dict[str, Any] = {"display": entry.actor or "unknown"}
    if entry.actor_user_id is not None:
        who["identifier"] = {"system": USER_SYSTEM, "value": str(entry.actor_user_id)}
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if entry.actor:
        agent["name"] = entry.actor
    if entry.client_address:
        # AuditEvent.agent.network.type 2 = IP address (network-type code system).
        agent["network"] = {"address": entry.client_address, "type": "2"}
    details = [
        {"type": "panacea.chain", "valueString": entry.chain},
        {"type": "panacea.seq", "valueString": str(entry.seq)},
        {"type": "panacea.hash", "valueString": entry.hash},
        {"type": "panacea.prev_hash", "valueString": entry.prev_hash},
    ]
    if entry.details:
        details.append(
            {
                "type": "panacea.details",
                "valueString": json.dumps(entry.details, sort_keys=True, ensure_ascii=False),
            }
        )
    what: dict[str, Any] = {"display": entry.target or entry.chain}
    if entry.target:
        what["identifier"] = {"system": OBJECT_SYSTEM, "value": entry.target}
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"{entry.chain}-{entry.seq}",
        "type": _coding(kind),
        "subtype": subtypes,
        "action": _VERBS.get(entry.action.rpartition(".")[2], "E"),
        "recorded": utc_timestamp(entry.at),
        "outcome": _OUTCOMES.get(entry.outcome, "4"),
        "agent": [agent],
        "source": {
            "site": observer,
            "observer": {"display": observer},
            "type": [_coding(("4", "Application Server"), SOURCE_TYPE_SYSTEM)],
        },
        "entity": [{"what": what, "detail": details}],
    }
    if entry.outcome != "success":
        resource["outcomeDesc"] = entry.outcome
    if entry.break_glass_grant_id is not None:
        # v3-ActReason BTG: "break the glass", emergency access outside normal rights.
        resource["purposeOfEvent"] = [
            {"coding": [{"system": ACT_REASON_SYSTEM, "code": "BTG", "display": "break the glass"}]}
        ]
        details.append(
            {"type": "panacea.break_glass_grant", "valueString": str(entry.break_glass_grant_id)}
        )
    return resource


def export_line(entry: AuditEntry, fmt: ExportFormat) -> str:
    """One line of the export (with its newline)."""
    document = entry_json(entry) if fmt is ExportFormat.JSONL else fhir_audit_event(entry)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def export_lines(
    session: Session, organisation_id: int, fmt: ExportFormat, wanted: AuditFilter | None = None
) -> Iterator[str]:
    """The organisation's entries matching ``wanted``, in chain order, as export lines."""
    for entry in iter_entries(session, entries_query(organisation_id, wanted)):
        yield export_line(entry, fmt)
