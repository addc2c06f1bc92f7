"""An incident of PANACEA as STIX 2.1 objects (built and checked with the ``stix2`` library).

What an incident becomes (docs/sharing-stix.md has the full mapping):

- ``incident`` with the Incident Core Extension and the PANACEA incident extension
  (:mod:`panacea.sharing.stix_extension`);
- one ``attack-pattern`` per ATT&CK technique (``external_references`` ``mitre-attack``,
  kill-chain phases from the technique's tactics, names from the shipped ATT&CK data);
- one ``indicator`` per indicator (a STIX pattern, ``pattern_type`` ``stix``);
- one ``vulnerability`` per CVE exploited or per CVE of a finding shared on purpose
  (``external_references`` ``cve``);
- ``sighting`` objects: of each indicator and attack pattern during the incident, and of the
  vulnerability of each shared finding (when the finding was first and last seen), always
  ``where_sighted_refs`` the publishing organisation;
- one ``course-of-action`` per mitigation of the incident's mitigation plan (``panacea.plan/1``);
- ``relationship`` objects: the incident ``related-to`` each object above (STIX 2.1 section 4.11
  defines no other relationship for an incident, and the validator's relationship-types check
  accepts only the common ones from it); a patch ``mitigates`` the vulnerability it fixes.

Identifiers are UUIDv5 (RFC 9562 section 5.5) of the publisher's identity and the object's local
path (``incident/12/indicator/ipv4/198.51.100.7``), so exporting an incident again gives the same
ids, and a recipient updates rather than duplicates. ``created`` is when the incident was
recorded and ``modified`` when it last changed (or, for an object fed by other data -- an ATT&CK
technique, a finding's last sighting, a plan -- the later of that and the incident's change), so
``modified`` moves exactly when an object's content may have moved (STIX 2.1 section 3.6).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import stix2
import stix2.exceptions
import stix2.v21

from panacea.sharing.attack import ATTACK_DOMAIN, ATTACK_VERSION, Technique
from panacea.sharing.errors import StixError
from panacea.sharing.incident_vocabulary import (
    Determination,
    IncidentSeverity,
    IncidentStatus,
    IndicatorType,
)
from panacea.sharing.indicators import IndicatorValue
from panacea.sharing.policy import marking_definitions_for
from panacea.sharing.stix_extension import (
    INCIDENT_CORE_EXTENSION_ID,
    INCIDENT_EXTENSION_ID,
    incident_core,
    incident_extension_definition,
    project_identity,
)
from panacea.sharing.tlp import TLP_EXTENSION_DEFINITION, Tlp
from panacea.sharing.validation import check_object

# Namespace of every PANACEA STIX id (a fixed random UUID; RFC 9562 section 5.5).
STIX_NAMESPACE: Final = uuid.UUID("884de883-b587-43c0-9b06-af8ddbf6314e")
# CVE ID syntax (CVE program, 2014): a year, then 4 digits, or more without a leading zero;
# the form the OASIS schema of external references (source_name "cve") accepts.
CVE_ID: Final = re.compile(r"CVE-\d{4}-(?:0\d{3}|[1-9]\d{3,})(?!\d)")

BundleAnonymiser = Callable[[dict[str, Any]], dict[str, Any]]
"""Takes a STIX bundle (a dict) and returns it with personal data removed or replaced."""

INDICATOR_DESCRIPTIONS: Final[dict[IndicatorType, str]] = {
    IndicatorType.IPV4: "IPv4 address seen in a hospital's security incident",
    IndicatorType.IPV6: "IPv6 address seen in a hospital's security incident",
    IndicatorType.DOMAIN: "Domain name seen in a hospital's security incident",
    IndicatorType.URL: "URL seen in a hospital's security incident",
    IndicatorType.SHA256: "File (SHA-256) seen in a hospital's security incident",
    IndicatorType.MD5: "File (MD5) seen in a hospital's security incident",
    IndicatorType.EMAIL: "E-mail address seen in a hospital's security incident",
}
MITIGATION_NAMES: Final[dict[str, str]] = {
    "patch": "Patch the vulnerable software",
    "block_rule": "Block a network flow",
    "narrow_rule": "Narrow a firewall rule",
    "move_zone": "Segment the device into an isolated zone",
    "mfa": "Enforce multi-factor authentication",
    "edr": "Deploy endpoint detection and response",
    "training": "Train staff against phishing",
    "disable_endpoint": "Switch off an exposed network service",
    "allowlisting": "Enforce application allow-listing",
}


@dataclass(frozen=True)
class Publisher:
    """The organisation that publishes: its STIX identity (name possibly anonymised)."""

    identity_id: str
    name: str
    created: datetime


@dataclass(frozen=True)
class ServiceRef:
    """A clinical service as exported: its key and its name."""

    key: str
    name: str


@dataclass(frozen=True)
class PlannedMitigation:
    """Mitigation ``index`` of stored plan ``plan_id`` (a ``panacea.plan/1`` mitigation)."""

    plan_id: int
    index: int
    kind: str
    target: str
    planned_at: datetime


@dataclass(frozen=True)
class SharedFinding:
    """A finding its owner chose to share: which CVE, first and last seen."""

    finding_id: int
    cve: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class IncidentRecord:
    """Everything an incident's STIX objects are made of, already checked.

    Times are timezone-aware; ``started_at <= detected_at <= contained_at`` where present.
    """

    local_id: int
    title: str
    summary: str
    status: IncidentStatus
    severity: IncidentSeverity
    determination: Determination
    detected_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    contained_at: datetime | None = None
    affected_asset_kinds: tuple[str, ...] = ()
    affected_services: tuple[ServiceRef, ...] = ()
    techniques: tuple[Technique, ...] = ()
    indicators: tuple[IndicatorValue, ...] = ()
    cves: tuple[str, ...] = ()
    lessons: str = ""
    mitigations: tuple[PlannedMitigation, ...] = ()
    findings: tuple[SharedFinding, ...] = ()


def object_id(kind: str, publisher: Publisher, *path: object) -> str:
    """The deterministic id of the object of type ``kind`` at ``path`` under ``publisher``."""
    name = "/".join([publisher.identity_id, kind, *(str(p) for p in path)])
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, name)}"


def timestamp(value: datetime) -> str:
    """A STIX timestamp (RFC 3339, UTC, ``Z``) with millisecond precision (STIX 2.1, 3.2)."""
    if value.tzinfo is None:
        raise StixError(f"naive datetime {value.isoformat()} given for a STIX timestamp")
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _latest(*values: datetime) -> datetime:
    return max(v.astimezone(UTC) for v in values)


def _attack_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _plain(obj: stix2.v21._STIXBase21) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(obj.serialize())
    return parsed


class _Builder:
    """Builds one incident's objects; every object goes through its ``stix2`` class."""

    def __init__(self, record: IncidentRecord, publisher: Publisher, tlp: Tlp) -> None:
        self.record = record
        self.publisher = publisher
        self.tlp = tlp
        self.created = timestamp(record.created_at)
        self.modified = timestamp(record.updated_at)
        self.objects: list[dict[str, Any]] = []
        self.base = f"incident/{record.local_id}"

    def id(self, kind: str, *path: object) -> str:
        return object_id(kind, self.publisher, self.base, *path)

    def common(self, *later: datetime) -> dict[str, Any]:
        modified = (
            self.modified if not later else timestamp(_latest(self.record.updated_at, *later))
        )
        return {
            "created": self.created,
            "modified": modified,
            "created_by_ref": self.publisher.identity_id,
            "object_marking_refs": [self.tlp.marking_id],
        }

    def add(self, make: Callable[..., stix2.v21._STIXBase21], **properties: Any) -> str:
        try:
            obj = make(**properties)
        except stix2.exceptions.STIXError as e:
            raise StixError(f"cannot build {properties.get('id', '?')}: {e}") from e
        self.objects.append(_plain(obj))
        return str(properties["id"])

    def relate(self, source: str, relationship_type: str, target: str) -> None:
        self.add(
            stix2.v21.Relationship,
            id=self.id("relationship", relationship_type, source, target),
            relationship_type=relationship_type,
            source_ref=source,
            target_ref=target,
            **self.common(),
        )

    def sighting(
        self, key: Sequence[object], of: str, first: datetime, last: datetime, *later: datetime
    ) -> None:
        self.add(
            stix2.v21.Sighting,
            id=self.id("sighting", *key),
            sighting_of_ref=of,
            first_seen=timestamp(first),
            last_seen=timestamp(last),
            where_sighted_refs=[self.publisher.identity_id],
            **self.common(*later),
        )


def identity_object(publisher: Publisher) -> dict[str, Any]:
    """The publishing organisation's identity (sector healthcare), marked TLP:CLEAR.

    One marking whatever the incident's: one (id, ``modified``) must be one content, and the
    identity says who publishes, nothing about any incident. Its name is the organisation's,
    or a pseudonym when the export hides it: an organisation should choose one of the two for
    good, or its identity exists in two versions with the same ``modified``.
    """
    try:
        return _plain(
            stix2.v21.Identity(
                id=publisher.identity_id,
                created=timestamp(publisher.created),
                modified=timestamp(publisher.created),
                name=publisher.name,
                identity_class="organization",
                sectors=["healthcare"],
                object_marking_refs=[Tlp.CLEAR.marking_id],
            )
        )
    except stix2.exceptions.STIXError as e:
        raise StixError(f"cannot build the identity {publisher.identity_id}: {e}") from e


def _incident_extension(record: IncidentRecord) -> dict[str, Any]:
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "status": record.status.value,
        "severity": record.severity.value,
        "detected_at": timestamp(record.detected_at),
    }
    if record.started_at is not None:
        extension["started_at"] = timestamp(record.started_at)
    if record.contained_at is not None:
        extension["contained_at"] = timestamp(record.contained_at)
    if record.affected_asset_kinds:
        extension["affected_asset_kinds"] = sorted(record.affected_asset_kinds)
    if record.affected_services:
        extension["affected_services"] = [
            {"key": s.key, "name": s.name} for s in record.affected_services
        ]
    if record.lessons:
        extension["lessons_learned"] = record.lessons
    if record.techniques:
        extension["attack_version"] = f"{ATTACK_DOMAIN} {ATTACK_VERSION}"
    return extension


def incident_objects(
    record: IncidentRecord, publisher: Publisher, tlp: Tlp
) -> list[dict[str, Any]]:
    """The STIX objects one incident is shared as (without identity, definitions, markings);
    each is marked ``tlp``."""
    b = _Builder(record, publisher, tlp)
    incident = b.add(
        stix2.v21.Incident,
        id=b.id("incident"),
        name=record.title,
        **({"description": record.summary} if record.summary else {}),
        extensions={
            INCIDENT_CORE_EXTENSION_ID: incident_core(
                record.determination, record.status, record.severity
            ),
            INCIDENT_EXTENSION_ID: _incident_extension(record),
        },
        **b.common(),
    )
    first = record.started_at or record.detected_at
    # Seen from the start (or detection) until containment, and at least until detection.
    last = _latest(record.detected_at, record.contained_at or record.detected_at)
    for technique in sorted(record.techniques, key=lambda t: t.id):
        pattern = b.add(
            stix2.v21.AttackPattern,
            id=b.id("attack-pattern", technique.id),
            name=technique.name,
            # No url: the validator's best practice wants a hash beside any URL (check 302),
            # and the ATT&CK id is what every consumer keys on.
            external_references=[{"source_name": "mitre-attack", "external_id": technique.id}],
            kill_chain_phases=[
                {"kill_chain_name": "mitre-attack", "phase_name": tactic}
                for tactic in technique.tactics
            ],
            **b.common(_attack_time(technique.modified)),
        )
        b.relate(incident, "related-to", pattern)
        b.sighting(("attack-pattern", technique.id), pattern, first, last)
    for value in sorted(set(record.indicators)):
        indicator = b.add(
            stix2.v21.Indicator,
            id=b.id("indicator", value.type.value, value.value),
            name=f"{value.type.value} {value.value}",
            description=INDICATOR_DESCRIPTIONS[value.type],
            indicator_types=["malicious-activity"],
            pattern=value.pattern,
            pattern_type="stix",
            valid_from=timestamp(first),
            **b.common(),
        )
        b.relate(incident, "related-to", indicator)
        b.sighting(("indicator", value.type.value, value.value), indicator, first, last)
    vulnerabilities: dict[str, str] = {}
    for cve in sorted(set(record.cves) | {f.cve for f in record.findings}):
        if not CVE_ID.fullmatch(cve):
            raise StixError(f"{cve!r} is not a CVE id (CVE-YYYY-NNNN, no leading zero beyond 4)")
        vulnerabilities[cve] = b.add(
            stix2.v21.Vulnerability,
            id=b.id("vulnerability", cve),
            name=cve,
            external_references=[{"source_name": "cve", "external_id": cve}],
            **b.common(),
        )
        b.relate(incident, "related-to", vulnerabilities[cve])
    for finding in sorted(record.findings, key=lambda f: f.finding_id):
        seen = _latest(finding.first_seen, finding.last_seen)
        b.sighting(
            ("finding", finding.finding_id),
            vulnerabilities[finding.cve],
            finding.first_seen,
            seen,
            seen,
        )
    for mitigation in record.mitigations:
        action = b.add(
            stix2.v21.CourseOfAction,
            id=b.id("course-of-action", mitigation.plan_id, mitigation.index),
            name=MITIGATION_NAMES.get(mitigation.kind, mitigation.kind),
            description=mitigation.target,
            **b.common(mitigation.planned_at),
        )
        b.relate(incident, "related-to", action)
        if mitigation.kind == "patch":
            for cve in sorted(set(CVE_ID.findall(mitigation.target)) & set(vulnerabilities)):
                b.relate(action, "mitigates", vulnerabilities[cve])
    return _sightings_last(b.objects)


def _sightings_last(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Referenced objects first, then what references them (a reader meets targets before refs).
    rank = {"incident": 0, "sighting": 2, "relationship": 3}
    return sorted(objects, key=lambda o: rank.get(str(o["type"]), 1))


def bundle_of(objects: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A STIX bundle of ``objects`` whose id is derived from their ids and versions.

    The same objects give the same bundle, byte for byte: a bundle id is transient (STIX 2.1
    section 8) but a stable one lets the publisher recognise a re-export of unchanged data.
    """
    versions = sorted(f"{o['id']}@{o.get('modified', o.get('created', ''))}" for o in objects)
    bundle_id = uuid.uuid5(STIX_NAMESPACE, "bundle/" + "|".join(versions))
    return {"type": "bundle", "id": f"bundle--{bundle_id}", "objects": list(objects)}


def incident_bundle(
    record: IncidentRecord,
    publisher: Publisher,
    tlp: Tlp,
    *,
    anonymise: BundleAnonymiser | None = None,
) -> dict[str, Any]:
    """The complete bundle of one incident: definitions, TLP markings, publisher, objects.

    Everything the publisher authored is marked ``tlp``; the definitions (PANACEA's extension
    and project identity, the TLP 2.0 objects) and the publisher's identity are TLP:CLEAR.

    ``anonymise`` (built on :mod:`panacea.sharing.anonymise`, see
    :func:`panacea.sharing.incidents.organisation_anonymiser`) rewrites the bundle before it is
    returned; the result is checked again (:func:`check_objects`), so an anonymiser cannot hand
    out a bundle that is not STIX. Raises StixError.
    """
    authored = [identity_object(publisher), *incident_objects(record, publisher, tlp)]
    definitions = [project_identity(), incident_extension_definition()]
    objects = [
        dict(TLP_EXTENSION_DEFINITION),
        *marking_definitions_for([*definitions, *authored]),
        *definitions,
        *authored,
    ]
    bundle = bundle_of(objects)
    if anonymise is not None:
        bundle = anonymise(bundle)
        check_objects(bundle.get("objects") or [])
    return bundle


def check_objects(objects: Iterable[Any]) -> None:
    """Check each object's common properties strictly (``validation.check_object``: ``stix2``
    fills a missing ``created`` in rather than refusing it), then parse it with ``stix2``;
    raise StixError naming the first bad one."""
    for position, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise StixError(f"bundle object {position} is not a JSON object")
        where = check_object(obj).stix_id
        try:
            stix2.parse(obj, allow_custom=False, version="2.1")
        except (stix2.exceptions.STIXError, ValueError, TypeError) as e:
            raise StixError(f"{where} is not valid STIX 2.1: {e}") from e
