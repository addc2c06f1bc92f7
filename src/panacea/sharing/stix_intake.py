"""Reading a received STIX 2.1 bundle into incoming intelligence the risk engine can use.

The reverse of :mod:`panacea.sharing.stix`, but for anyone's bundles, not only PANACEA's: an
incident is read from the STIX core properties, the Incident Core Extension and, when present,
the PANACEA incident extension; its techniques, indicators, vulnerabilities and courses of
action are the objects linked to it by relationships (either direction). Every object is parsed
with ``stix2`` first, so a malformed object is refused with its id before anything is read.

Nothing here trusts the bundle's claims about who sent it: signatures and quarantine are the
business of :mod:`panacea.sharing.signing` and the ingest path, which call this afterwards.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import stix2
import stix2.exceptions

from panacea.sharing.attack import is_technique_id
from panacea.sharing.errors import MarkingError, StixError
from panacea.sharing.indicators import from_pattern
from panacea.sharing.stix import CVE_ID
from panacea.sharing.stix_extension import INCIDENT_CORE_EXTENSION_ID, INCIDENT_EXTENSION_ID
from panacea.sharing.tlp import Tlp, check_marking_definition, most_restrictive, tlp_of_marking_ref
from panacea.sharing.validation import check_object

# ATT&CK matrices whose ids read as techniques (Enterprise, ICS, Mobile).
ATTACK_SOURCES: Final = frozenset({"mitre-attack", "mitre-ics-attack", "mitre-mobile-attack"})
MAX_OBJECTS: Final = 100_000


@dataclass(frozen=True)
class IncomingIndicator:
    """A received indicator: its pattern and, for a simple equality pattern, type and value."""

    stix_id: str
    pattern: str
    pattern_type: str
    valid_from: str
    type: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class IncomingSighting:
    """A sighting of a CVE (a vulnerability found at the sender's): when, and by whom."""

    cve: str
    first_seen: str | None
    last_seen: str | None
    sighted_by: tuple[str, ...]


@dataclass(frozen=True)
class IncomingCourseOfAction:
    stix_id: str
    name: str
    description: str
    mitigates_cves: tuple[str, ...]


@dataclass(frozen=True)
class IncomingIncident:
    """An incident another organisation shared, with what its bundle linked to it."""

    stix_id: str
    name: str
    description: str
    created: str
    modified: str
    created_by: str | None
    tlp: Tlp | None
    determination: str | None = None
    investigation_status: str | None = None
    criticality: int | None = None
    status: str | None = None
    severity: str | None = None
    detected_at: str | None = None
    started_at: str | None = None
    contained_at: str | None = None
    affected_asset_kinds: tuple[str, ...] = ()
    affected_services: tuple[str, ...] = ()
    lessons: str = ""
    techniques: tuple[str, ...] = ()
    indicators: tuple[IncomingIndicator, ...] = ()
    cves: tuple[str, ...] = ()
    sighted_cves: tuple[IncomingSighting, ...] = ()
    courses_of_action: tuple[IncomingCourseOfAction, ...] = ()


@dataclass(frozen=True)
class IncomingIntel:
    """What one bundle tells: its incidents, and every technique, indicator and CVE in it
    (linked to an incident or not). ``publishers`` maps identity ids to names."""

    bundle_id: str
    publishers: Mapping[str, str]
    incidents: tuple[IncomingIncident, ...]
    techniques: tuple[str, ...]
    indicators: tuple[IncomingIndicator, ...]
    cves: tuple[str, ...]
    sighted_cves: tuple[IncomingSighting, ...]


def _load(bundle: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(bundle, str | bytes):
        try:
            loaded = json.loads(bundle)
        except (ValueError, UnicodeDecodeError) as e:
            raise StixError(f"the bundle is not JSON: {e}") from e
    else:
        loaded = bundle
    if not isinstance(loaded, Mapping) or loaded.get("type") != "bundle":
        raise StixError("not a STIX bundle (a JSON object with type 'bundle')")
    objects = loaded.get("objects", [])
    if not isinstance(objects, list):
        raise StixError(f"{loaded.get('id', 'the bundle')}: objects is not a list")
    if len(objects) > MAX_OBJECTS:
        raise StixError(f"the bundle holds {len(objects)} objects; at most {MAX_OBJECTS}")
    return loaded


def _parsed(objects: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Objects by id, each checked by ``stix2``; of several versions of one id, the latest."""
    latest: dict[str, dict[str, Any]] = {}
    for position, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise StixError(f"bundle object {position} is not a STIX object with an id")
        # Strict common properties first: stix2 would fill a missing 'created' in with "now".
        check_object(obj)
        try:
            # Custom properties are allowed: peers' extensions and signatures travel with them.
            stix2.parse(obj, allow_custom=True, version="2.1")
        except (stix2.exceptions.STIXError, ValueError, TypeError) as e:
            raise StixError(f"{obj['id']} is not valid STIX 2.1: {e}") from e
        if obj["type"] == "marking-definition":
            try:
                check_marking_definition(obj)
            except MarkingError as e:  # a TLP id carrying another level: forged or broken
                raise StixError(f"{obj['id']}: {e}") from e
        held = latest.get(obj["id"])
        if held is None or str(obj.get("modified", "")) >= str(held.get("modified", "")):
            latest[obj["id"]] = obj
    return latest


def _references(obj: Mapping[str, Any], source: str) -> list[str]:
    ids = []
    for ref in obj.get("external_references") or ():
        if isinstance(ref, Mapping) and ref.get("source_name") == source:
            external_id = ref.get("external_id")
            if isinstance(external_id, str):
                ids.append(external_id)
    return ids


def _techniques(obj: Mapping[str, Any]) -> list[str]:
    return [
        external_id
        for source in sorted(ATTACK_SOURCES)
        for external_id in _references(obj, source)
        if is_technique_id(external_id.upper())
    ]


def _cves(obj: Mapping[str, Any]) -> list[str]:
    found = [c.upper() for c in _references(obj, "cve") if CVE_ID.fullmatch(c.upper())]
    name = str(obj.get("name", "")).upper()
    if not found and CVE_ID.fullmatch(name):
        found.append(name)
    return found


def _indicator(obj: Mapping[str, Any]) -> IncomingIndicator:
    pattern = str(obj.get("pattern", ""))
    pattern_type = str(obj.get("pattern_type", ""))
    simple = from_pattern(pattern) if pattern_type == "stix" else None
    return IncomingIndicator(
        stix_id=str(obj["id"]),
        pattern=pattern,
        pattern_type=pattern_type,
        valid_from=str(obj.get("valid_from", "")),
        type=simple.type.value if simple else None,
        value=simple.value if simple else None,
    )


def _tlp(obj: Mapping[str, Any]) -> Tlp | None:
    refs = obj.get("object_marking_refs") or []
    return most_restrictive(level for ref in refs if (level := tlp_of_marking_ref(ref)))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Reader:
    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.linked: dict[str, set[str]] = defaultdict(set)
        self.mitigates: dict[str, set[str]] = defaultdict(set)
        for obj in objects.values():
            if obj["type"] != "relationship":
                continue
            source, target = str(obj["source_ref"]), str(obj["target_ref"])
            self.linked[source].add(target)
            self.linked[target].add(source)
            if obj["relationship_type"] == "mitigates":
                self.mitigates[source].add(target)

    def of_type(self, kind: str, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        chosen = self.objects.values() if ids is None else (self.objects.get(i) for i in ids)
        return sorted(
            (o for o in chosen if o is not None and o["type"] == kind), key=lambda o: o["id"]
        )

    def sightings(self, vulnerability_ids: Iterable[str]) -> list[IncomingSighting]:
        wanted = set(vulnerability_ids)
        found = []
        for sighting in self.of_type("sighting"):
            target = self.objects.get(str(sighting["sighting_of_ref"]))
            if sighting["sighting_of_ref"] not in wanted or target is None:
                continue
            for cve in _cves(target):
                found.append(
                    IncomingSighting(
                        cve=cve,
                        first_seen=_str_or_none(sighting.get("first_seen")),
                        last_seen=_str_or_none(sighting.get("last_seen")),
                        sighted_by=tuple(sighting.get("where_sighted_refs") or ()),
                    )
                )
        return found

    def incident(self, obj: dict[str, Any]) -> IncomingIncident:
        extensions = obj.get("extensions") or {}
        core = extensions.get(INCIDENT_CORE_EXTENSION_ID) or {}
        ours = extensions.get(INCIDENT_EXTENSION_ID) or {}
        linked = self.linked.get(obj["id"], set())
        vulnerabilities = self.of_type("vulnerability", linked)
        actions = [
            IncomingCourseOfAction(
                stix_id=str(a["id"]),
                name=str(a.get("name", "")),
                description=str(a.get("description", "")),
                mitigates_cves=tuple(
                    sorted(
                        {
                            cve
                            for v in self.of_type("vulnerability", self.mitigates.get(a["id"], ()))
                            for cve in _cves(v)
                        }
                    )
                ),
            )
            for a in self.of_type("course-of-action", linked)
        ]
        services = [
            s.get("name", "") for s in ours.get("affected_services") or () if isinstance(s, dict)
        ]
        return IncomingIncident(
            stix_id=str(obj["id"]),
            name=str(obj.get("name", "")),
            description=str(obj.get("description", "")),
            created=str(obj["created"]),
            modified=str(obj["modified"]),
            created_by=_str_or_none(obj.get("created_by_ref")),
            tlp=_tlp(obj),
            determination=_str_or_none(core.get("determination")),
            investigation_status=_str_or_none(core.get("investigation_status")),
            criticality=_int_or_none(core.get("criticality")),
            status=_str_or_none(ours.get("status")),
            severity=_str_or_none(ours.get("severity")),
            detected_at=_str_or_none(ours.get("detected_at")),
            started_at=_str_or_none(ours.get("started_at")),
            contained_at=_str_or_none(ours.get("contained_at")),
            affected_asset_kinds=tuple(str(k) for k in ours.get("affected_asset_kinds") or ()),
            affected_services=tuple(str(s) for s in services),
            lessons=str(ours.get("lessons_learned", "")),
            techniques=tuple(
                sorted({t for p in self.of_type("attack-pattern", linked) for t in _techniques(p)})
            ),
            indicators=tuple(_indicator(i) for i in self.of_type("indicator", linked)),
            cves=tuple(sorted({cve for v in vulnerabilities for cve in _cves(v)})),
            sighted_cves=tuple(self.sightings(v["id"] for v in vulnerabilities)),
            courses_of_action=tuple(actions),
        )


def read_bundle(bundle: Mapping[str, Any] | str | bytes) -> IncomingIntel:
    """The intelligence a STIX 2.1 bundle holds. Raises StixError naming what is malformed."""
    loaded = _load(bundle)
    reader = _Reader(_parsed(loaded.get("objects", [])))
    every_vulnerability = reader.of_type("vulnerability")
    return IncomingIntel(
        bundle_id=str(loaded.get("id", "")),
        publishers={
            str(o["id"]): str(o.get("name", ""))
            for o in reader.of_type("identity")
            if o.get("identity_class") != "system"
        },
        incidents=tuple(reader.incident(o) for o in reader.of_type("incident")),
        techniques=tuple(
            sorted({t for p in reader.of_type("attack-pattern") for t in _techniques(p)})
        ),
        indicators=tuple(_indicator(i) for i in reader.of_type("indicator")),
        cves=tuple(sorted({cve for v in every_vulnerability for cve in _cves(v)})),
        sighted_cves=tuple(reader.sightings(v["id"] for v in every_vulnerability)),
    )
