"""Incident records: writing them (checked field by field) and exporting them as STIX 2.1.

The API and the CLI both go through these functions; they append the audit entries
(``incident.created``, ``incident.updated``, ``incident.deleted``, ``incident.exported``) in
the same transaction. Values come as a mapping of field names (:data:`FIELDS`) to plain values;
each is checked and normalised here, and every refusal is an IncidentError (or an
UnknownTechniqueError) whose message names the field and the value, e.g.
``techniques: unknown ATT&CK technique T9999 (ATT&CK Enterprise v18.1)``.

Findings are never part of an export unless listed in the incident's ``share_finding_ids``:
a finding tells its reader where a hole is still open, so sharing one is a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.findings.models import Finding
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.service import organisation_by_id
from panacea.inventory.vocabulary import AssetKind
from panacea.risk.stored_plans import RiskPlan, plan_in
from panacea.sharing import attack
from panacea.sharing.anonymise import Anonymiser, anonymise_object
from panacea.sharing.errors import IncidentError, IncidentNotFoundError, StixError
from panacea.sharing.incident_models import Incident
from panacea.sharing.incident_vocabulary import (
    Determination,
    IncidentSeverity,
    IncidentStatus,
    IndicatorType,
)
from panacea.sharing.indicators import IndicatorValue, indicator
from panacea.sharing.keys import organisation_identity
from panacea.sharing.stix import (
    CVE_ID,
    BundleAnonymiser,
    IncidentRecord,
    PlannedMitigation,
    Publisher,
    ServiceRef,
    SharedFinding,
    incident_bundle,
)
from panacea.sharing.stix_extension import INCIDENT_CORE_EXTENSION_ID, INCIDENT_EXTENSION_ID
from panacea.sharing.tlp import Tlp, parse_tlp

FIELDS: Final = frozenset(
    {
        "title",
        "summary",
        "status",
        "severity",
        "determination",
        "detected_at",
        "started_at",
        "contained_at",
        "affected_asset_kinds",
        "affected_service_ids",
        "techniques",
        "indicators",
        "cves",
        "lessons",
        "tlp",
        "share_finding_ids",
        "mitigation_plan_id",
    }
)
REQUIRED: Final = frozenset({"title", "detected_at"})
MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000
MAX_ITEMS: Final[dict[str, int]] = {
    "affected_asset_kinds": len(AssetKind),
    "affected_service_ids": 200,
    "techniques": 100,
    "indicators": 500,
    "cves": 200,
    "share_finding_ids": 200,
}
# Times a little ahead of the server's clock are a clock difference, not the future.
CLOCK_SKEW: Final = timedelta(minutes=5)
# Statuses that say the attacker was stopped: they need the time it happened.
_CONTAINED: Final = frozenset(
    {IncidentStatus.CONTAINED, IncidentStatus.RESOLVED, IncidentStatus.CLOSED}
)


def _text(name: str, value: Any, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise IncidentError(f"{name}: expected text, got {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise IncidentError(f"{name}: must not be empty")
    if len(text) > limit:
        raise IncidentError(f"{name}: at most {limit} characters (got {len(text)})")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise IncidentError(f"{name}: control characters are not allowed")
    return text


def _time(name: str, value: Any, now: datetime, *, required: bool = False) -> datetime | None:
    if value is None:
        if required:
            raise IncidentError(f"{name}: required")
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise IncidentError(f"{name}: expected a date and time with a time zone")
    if value > now + CLOCK_SKEW:
        raise IncidentError(f"{name}: {value.isoformat()} is in the future")
    return value.astimezone(UTC)


def _items(name: str, value: Any) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise IncidentError(f"{name}: expected a list")
    if len(value) > MAX_ITEMS[name]:
        raise IncidentError(f"{name}: at most {MAX_ITEMS[name]} items (got {len(value)})")
    return value


def _enum_value(name: str, kind: type[Any], value: Any) -> str:
    try:
        return str(kind(value).value)
    except ValueError as e:
        known = ", ".join(str(v.value) for v in kind)
        raise IncidentError(f"{name}: {value!r} is not one of {known}") from e


def _ids(name: str, value: Any) -> list[int]:
    ids = []
    for item in _items(name, value):
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise IncidentError(f"{name}: {item!r} is not an id")
        ids.append(item)
    return sorted(set(ids))


def _services(session: Session, organisation_id: int, value: Any) -> list[dict[str, Any]]:
    ids = _ids("affected_service_ids", value)
    rows = session.scalars(
        select(ClinicalService).where(
            ClinicalService.organisation_id == organisation_id, ClinicalService.id.in_(ids)
        )
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise IncidentError(f"affected_service_ids: no clinical service {missing[0]} here")
    return [{"id": i, "key": found[i].key, "name": found[i].name} for i in ids]


def service_ids(session: Session, organisation_id: int, keys: Iterable[str]) -> list[int]:
    """Ids of the organisation's clinical services ``keys``; IncidentError names an unknown key."""
    wanted = list(dict.fromkeys(keys))
    rows = session.execute(
        select(ClinicalService.key, ClinicalService.id).where(
            ClinicalService.organisation_id == organisation_id, ClinicalService.key.in_(wanted)
        )
    ).all()
    found: dict[str, int] = {str(row[0]): int(row[1]) for row in rows}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise IncidentError(f"no clinical service {missing[0]!r} here")
    return [found[k] for k in wanted]


def _findings(session: Session, organisation_id: int, value: Any) -> list[int]:
    ids = _ids("share_finding_ids", value)
    present: dict[int, str] = {
        int(row[0]): str(row[1])
        for row in session.execute(
            select(Finding.id, Finding.cve_id).where(
                Finding.organisation_id == organisation_id, Finding.id.in_(ids)
            )
        )
    }
    missing = [i for i in ids if i not in present]
    if missing:
        raise IncidentError(f"share_finding_ids: no finding {missing[0]} here")
    unshareable = [(i, cve) for i, cve in present.items() if not CVE_ID.fullmatch(cve)]
    if unshareable:
        finding_id, cve = min(unshareable)
        raise IncidentError(f"share_finding_ids: finding {finding_id} is of {cve!r}, not a CVE id")
    return ids


def _indicators(value: Any) -> list[dict[str, str]]:
    checked: set[IndicatorValue] = set()
    for position, item in enumerate(_items("indicators", value)):
        where = f"indicators[{position}]"
        if not isinstance(item, Mapping) or set(item) != {"type", "value"}:
            raise IncidentError(f"{where}: expected {{'type': ..., 'value': ...}}")
        if not isinstance(item["value"], str):
            raise IncidentError(f"{where}: the value must be text")
        checked.add(indicator(str(item["type"]), item["value"], field=where))
    return [i.as_json() for i in sorted(checked)]


def _cves(value: Any) -> list[str]:
    cves = set()
    for item in _items("cves", value):
        cve = item.strip().upper() if isinstance(item, str) else ""
        if not CVE_ID.fullmatch(cve):
            raise IncidentError(f"cves: {item!r} is not a CVE id (CVE-2024-12345)")
        cves.add(cve)
    return sorted(cves)


def _plan(session: Session, organisation_id: int, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise IncidentError(f"mitigation_plan_id: {value!r} is not an id")
    if plan_in(session, organisation_id, value) is None:
        raise IncidentError(f"mitigation_plan_id: no mitigation plan {value} here")
    return value


def _apply(session: Session, incident: Incident, values: Mapping[str, Any], now: datetime) -> None:
    """Check and set each of ``values`` on ``incident`` (in memory)."""
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise IncidentError(f"{unknown[0]}: not a field of an incident")
    org = incident.organisation_id
    for name, value in values.items():
        if value is None and name not in {"started_at", "contained_at", "mitigation_plan_id"}:
            raise IncidentError(f"{name}: must not be null")
        if name == "title":
            incident.title = _text(name, value, MAX_TITLE, required=True)
        elif name in ("summary", "lessons"):
            setattr(incident, name, _text(name, value, MAX_TEXT))
        elif name == "status":
            incident.status = _enum_value(name, IncidentStatus, value)
        elif name == "severity":
            incident.severity = _enum_value(name, IncidentSeverity, value)
        elif name == "determination":
            incident.determination = _enum_value(name, Determination, value)
        elif name == "tlp":
            if not isinstance(value, str):
                raise IncidentError(f"tlp: expected a TLP level, got {type(value).__name__}")
            incident.tlp = parse_tlp(value).value
        elif name in ("detected_at", "started_at", "contained_at"):
            setattr(incident, name, _time(name, value, now, required=name == "detected_at"))
        elif name == "affected_asset_kinds":
            kinds = {_enum_value(name, AssetKind, k) for k in _items(name, value)}
            incident.affected_asset_kinds = sorted(kinds)
        elif name == "affected_service_ids":
            incident.affected_services = _services(session, org, value)
        elif name == "techniques":
            items = _items(name, value)
            incident.techniques = sorted({attack.technique(str(t)).id for t in items})
        elif name == "indicators":
            incident.indicators = _indicators(value)
        elif name == "cves":
            incident.cves = _cves(value)
        elif name == "share_finding_ids":
            incident.share_finding_ids = _findings(session, org, value)
        else:
            incident.mitigation_plan_id = _plan(session, org, value)


def _check_whole(incident: Incident) -> None:
    """Rules across fields: the timeline is in order, a contained incident says when."""
    start, detected, contained = incident.started_at, incident.detected_at, incident.contained_at
    if start is not None and start > detected:
        raise IncidentError("started_at: the incident cannot start after it was detected")
    if start is not None and contained is not None and contained < start:
        raise IncidentError("contained_at: the incident cannot be contained before it started")
    if IncidentStatus(incident.status) in _CONTAINED and contained is None:
        raise IncidentError(f"contained_at: required once the status is {incident.status}")


def create_incident(
    session: Session,
    organisation_id: int,
    values: Mapping[str, Any],
    *,
    actor: str,
    now: datetime | None = None,
) -> Incident:
    """Record a new incident from ``values`` (``title`` and ``detected_at`` required)."""
    moment = now or utcnow()
    missing = sorted(REQUIRED - {k for k, v in values.items() if v is not None})
    if missing:
        raise IncidentError(f"{missing[0]}: required")
    organisation_by_id(session, organisation_id)
    incident = Incident(
        organisation_id=organisation_id,
        summary="",
        status=IncidentStatus.OPEN.value,
        severity=IncidentSeverity.MEDIUM.value,
        determination=Determination.SUSPECTED.value,
        affected_asset_kinds=[],
        affected_services=[],
        techniques=[],
        indicators=[],
        cves=[],
        lessons="",
        tlp=Tlp.AMBER_STRICT.value,
        share_finding_ids=[],
        created_by=actor[:200],
        created_at=moment,
        updated_at=moment,
    )
    _apply(session, incident, values, moment)
    _check_whole(incident)
    session.add(incident)
    session.flush()
    return incident


def _snapshot(incident: Incident) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in _COLUMNS}


_COLUMNS: Final = (
    "title",
    "summary",
    "status",
    "severity",
    "determination",
    "detected_at",
    "started_at",
    "contained_at",
    "affected_asset_kinds",
    "affected_services",
    "techniques",
    "indicators",
    "cves",
    "lessons",
    "tlp",
    "share_finding_ids",
    "mitigation_plan_id",
)


def update_incident(
    session: Session,
    organisation_id: int,
    incident_id: int,
    changes: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> tuple[Incident, list[str]]:
    """Apply ``changes`` to an incident; return it and the names of the fields that changed.

    ``updated_at`` moves (by at least a millisecond, the precision of STIX ``modified``) only
    when something changed, so a re-export after a no-op update is the same version.
    """
    moment = now or utcnow()
    incident = require_incident(session, organisation_id, incident_id)
    before = _snapshot(incident)
    try:
        _apply(session, incident, changes, moment)
        _check_whole(incident)
    except Exception:
        # Leave the session's copy as it was: the caller's transaction is rolled back anyway,
        # but a caller that catches the error must not see half an update.
        for name, value in before.items():
            setattr(incident, name, value)
        raise
    after = _snapshot(incident)
    changed = [name for name in _COLUMNS if before[name] != after[name]]
    if changed:
        incident.updated_at = max(moment, incident.updated_at + timedelta(milliseconds=1))
    session.flush()
    return incident, [("affected_service_ids" if c == "affected_services" else c) for c in changed]


def incident_in(session: Session, organisation_id: int, incident_id: int) -> Incident | None:
    """Incident ``incident_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(Incident).where(
            Incident.id == incident_id, Incident.organisation_id == organisation_id
        )
    )


def require_incident(session: Session, organisation_id: int, incident_id: int) -> Incident:
    """Incident ``incident_id`` of the organisation; IncidentNotFoundError if there is none."""
    incident = incident_in(session, organisation_id, incident_id)
    if incident is None:
        raise IncidentNotFoundError(f"no incident {incident_id} in this organisation")
    return incident


def delete_incident(session: Session, organisation_id: int, incident_id: int) -> None:
    """Delete an incident of the organisation; IncidentError if there is none."""
    session.delete(require_incident(session, organisation_id, incident_id))
    session.flush()


def incidents_query(
    organisation_id: int, statuses: Iterable[IncidentStatus] = ()
) -> Select[Incident]:
    """The organisation's incidents, optionally of some statuses (unordered: pages order it)."""
    stmt = select(Incident).where(Incident.organisation_id == organisation_id)
    wanted = [s.value for s in statuses]
    if wanted:
        stmt = stmt.where(Incident.status.in_(wanted))
    return stmt


def list_incidents(
    session: Session, organisation_id: int, statuses: Iterable[IncidentStatus] = ()
) -> list[Incident]:
    """Every incident of the organisation (of ``statuses`` if given), newest detection first."""
    stmt = incidents_query(organisation_id, statuses)
    return list(session.scalars(stmt.order_by(Incident.detected_at.desc(), Incident.id.desc())))


def technique_name(technique_id: str) -> str:
    """The name the shipped ATT&CK data gives ``technique_id`` ("" if it has none)."""
    found = attack.techniques().get(technique_id)
    return found.name if found is not None else ""


def _planned(session: Session, incident: Incident) -> tuple[PlannedMitigation, ...]:
    if incident.mitigation_plan_id is None:
        return ()
    plan = session.get(RiskPlan, incident.mitigation_plan_id)
    if plan is None or plan.organisation_id != incident.organisation_id:
        return ()
    mitigations = plan.document.get("mitigations") or []
    return tuple(
        PlannedMitigation(
            plan_id=plan.id,
            index=index,
            kind=str(m.get("kind", "")),
            target=str(m.get("target", "")),
            planned_at=plan.created_at,
        )
        for index, m in enumerate(mitigations)
        if isinstance(m, Mapping)
    )


def _shared_findings(session: Session, incident: Incident) -> tuple[SharedFinding, ...]:
    if not incident.share_finding_ids:
        return ()
    rows = session.scalars(
        select(Finding)
        .where(
            Finding.organisation_id == incident.organisation_id,
            Finding.id.in_(incident.share_finding_ids),
        )
        .order_by(Finding.id)
    ).all()
    # A finding deleted since it was chosen is simply no longer shared.
    return tuple(SharedFinding(f.id, f.cve_id, f.first_seen, f.last_seen) for f in rows)


def incident_record(session: Session, incident: Incident) -> IncidentRecord:
    """What the STIX mapping needs of ``incident``. Raises StixError if a technique it names
    is no longer in the shipped ATT&CK data at all."""
    techniques = []
    for technique_id in incident.techniques:
        found = attack.techniques().get(technique_id)
        if found is None:
            raise StixError(
                f"incident {incident.id}: ATT&CK technique {technique_id} is not in the shipped "
                f"ATT&CK data (v{attack.ATTACK_VERSION}); edit the incident's techniques"
            )
        techniques.append(found)
    return IncidentRecord(
        local_id=incident.id,
        title=incident.title,
        summary=incident.summary,
        status=IncidentStatus(incident.status),
        severity=IncidentSeverity(incident.severity),
        determination=Determination(incident.determination),
        detected_at=incident.detected_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        started_at=incident.started_at,
        contained_at=incident.contained_at,
        affected_asset_kinds=tuple(incident.affected_asset_kinds),
        affected_services=tuple(
            ServiceRef(s["key"], s["name"]) for s in incident.affected_services
        ),
        techniques=tuple(techniques),
        # Checked and made canonical when written; stix2 checks each pattern again on export.
        indicators=tuple(
            IndicatorValue(IndicatorType(i["type"]), i["value"]) for i in incident.indicators
        ),
        cves=tuple(incident.cves),
        lessons=incident.lessons,
        mitigations=_planned(session, incident),
        findings=_shared_findings(session, incident),
    )


def publisher_of(session: Session, organisation_id: int) -> Publisher:
    """The organisation as the publisher of its exports: its STIX identity (the one its signing
    key signs for, created with the key on first use) and its own name (anonymise to hide it)."""
    organisation = organisation_by_id(session, organisation_id)
    return Publisher(
        identity_id=organisation_identity(session, organisation_id),
        name=organisation.name,
        created=organisation.created_at,
    )


# Extension properties written from closed vocabularies and timestamps: kept as they are by
# the anonymiser, so that the extensions stay valid against their schemas.
_FREE_TEXT_PROPERTIES: Final = frozenset({"lessons_learned", "affected_services"})


def _keep_structured(original: Mapping[str, Any], anonymised: dict[str, Any]) -> dict[str, Any]:
    extensions = original.get("extensions") or {}
    for extension_id in (INCIDENT_CORE_EXTENSION_ID, INCIDENT_EXTENSION_ID):
        source = extensions.get(extension_id)
        if isinstance(source, Mapping):
            target = anonymised["extensions"][extension_id]
            for key, value in source.items():
                if key not in _FREE_TEXT_PROPERTIES:
                    target[key] = value
    return anonymised


def organisation_anonymiser(
    session: Session, organisation_id: int, publisher_id: str, *, hide_organisation: bool = False
) -> BundleAnonymiser:
    """The organisation's anonymiser (:class:`panacea.sharing.anonymise.Anonymiser`: its key
    and dictionary) applied to what ``publisher_id`` authored in a bundle: its identity and the
    objects it created. Definitions, markings and others' objects pass unchanged.

    ``hide_organisation`` also pseudonymises the organisation's name. Raises
    AnonymisationError if the organisation's pseudonym key cannot be had.
    """
    anonymiser = Anonymiser.for_organisation(
        session, organisation_id, hide_organisation=hide_organisation
    )

    def apply(bundle: dict[str, Any]) -> dict[str, Any]:
        objects = []
        for obj in bundle["objects"]:
            if obj.get("created_by_ref") == publisher_id or obj["id"] == publisher_id:
                obj = _keep_structured(obj, anonymise_object(obj, anonymiser))
            objects.append(obj)
        return {**bundle, "objects": objects}

    return apply


def export_incident(
    session: Session,
    organisation_id: int,
    incident_id: int,
    *,
    anonymise: bool = True,
    hide_organisation: bool = False,
) -> dict[str, Any]:
    """The STIX 2.1 bundle of an incident, marked with its TLP level (not signed).

    With ``anonymise`` (the default) the organisation's anonymiser pseudonymises patients,
    staff and internal hosts in what the organisation authored (:func:`organisation_anonymiser`;
    ``hide_organisation``: its name too). Raises IncidentError for an unknown incident,
    StixError if it cannot be expressed in STIX, AnonymisationError.
    """
    incident = require_incident(session, organisation_id, incident_id)
    publisher = publisher_of(session, organisation_id)
    rewrite = (
        organisation_anonymiser(
            session, organisation_id, publisher.identity_id, hide_organisation=hide_organisation
        )
        if anonymise
        else None
    )
    return incident_bundle(
        incident_record(session, incident), publisher, Tlp(incident.tlp), anonymise=rewrite
    )
