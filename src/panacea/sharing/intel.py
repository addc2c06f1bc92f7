"""What received intelligence means for the organisation's risk: the documented rules.

Applied to everything the organisation received (the latest version of each object, read
with :func:`panacea.sharing.stix_intake.read_bundle`), by :func:`refresh_intel` after every
sync; the results are stored (:mod:`panacea.sharing.intel_records`) and read by the next
assessment (:func:`panacea.risk.inputs.load_inputs`), or applied to a live
:class:`panacea.risk.engine.RiskEngine` as events (:func:`intel_events`).

**Rule 1: a peer's report that CVE X is exploited raises the exploit probability of the
organisation's findings of X** (docs/risk-model.md, "Shared intelligence"). A report is

- an incident naming X (a ``vulnerability`` of X related to it), weighted by the incident's
  determination (Incident Core Extension): ``successful-attempt`` 0.9; ``failed-attempt`` or
  ``blocked`` 0.6 (the attackers had an exploit and used it, even if it did not work there);
  ``suspected`` or none 0.5; ``false-positive`` and ``low-value`` are not reports;
- a ``sighting`` of a vulnerability of X that no incident of the received set names (a
  sighting of exploitation from another platform): its STIX ``confidence`` / 100, else 0.5.

Each is an :class:`panacea.risk.engine.IntelSighting` with that confidence, capped at 0.95 (a
peer's report is evidence, not certainty). Reports older than the risk horizon (365 days, by
detection, else last seen, else modification) and revoked objects are ignored. The risk model
combines the reports of X as independent witnesses, ``1 - prod(1 - c_i)``, and the result is
the ``intel`` term of weaponisation: ``1 - (1 - base)(1 - KEV)(1 - EPSS_h)(1 - intel)``.

**Rule 2: a received indicator that names one of the organisation's assets is evidence that
the asset is compromised.** An equality pattern on an IPv4/IPv6 address or block containing
an address of an asset, on a domain equal to an asset's host name, or on a URL whose host is
one of those, pins the asset's ``code_exec:user`` node to the indicator's STIX ``confidence``
/ 100 (else 0.5), capped at 0.95. Indicators that are revoked, expired (``valid_until``),
``benign``, or linked only to incidents that are not reports (false positives), are ignored.

**Sources are cited by pseudonym**: the publisher's identity id under the receiving
organisation's pseudonym key (``[org-1a2b3c4d]``, :meth:`Anonymiser.pseudonym`), so an
assessment report shown elsewhere never names the hospital that shared the incident, while
every report of one publisher carries the same pseudonym.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.inventory.assets import Asset, AssetAddress
from panacea.risk.engine import Event, Evidence, IntelSighting
from panacea.sharing.anonymise import Anonymiser
from panacea.sharing.errors import StixError
from panacea.sharing.intel_records import IntelEvidenceRecord, IntelSightingRecord
from panacea.sharing.pii_patterns import Kind
from panacea.sharing.stix import CVE_ID
from panacea.sharing.stix_intake import IncomingIncident, IncomingIntel, read_bundle
from panacea.sharing.sync_records import SharingReceipt
from panacea.sharing.taxii.models import TaxiiObject
from panacea.sharing.validation import parse_timestamp

__all__ = ["IntelRule", "IntelSighting", "IntelSummary", "intel_events", "refresh_intel"]

IGNORED_DETERMINATIONS: Final = frozenset({"false-positive", "low-value"})
_MAX_OBJECTS: Final = 100_000


@dataclass(frozen=True)
class IntelRule:
    """The weights of the rules (module docstring); documented in docs/risk-model.md."""

    successful: float = 0.9
    attempted: float = 0.6
    suspected: float = 0.5
    sighting: float = 0.5
    indicator: float = 0.5
    ceiling: float = 0.95
    horizon_days: float = 365.0

    def of_incident(self, determination: str | None) -> float | None:
        """The confidence of an incident as a report of exploitation (None: not a report)."""
        if determination in IGNORED_DETERMINATIONS:
            return None
        if determination == "successful-attempt":
            return min(self.successful, self.ceiling)
        if determination in {"failed-attempt", "blocked"}:
            return min(self.attempted, self.ceiling)
        return min(self.suspected, self.ceiling)

    def of_confidence(self, value: Any, default: float) -> float:
        """A STIX ``confidence`` (0-100) as a probability, else ``default``; capped."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
            return min(value / 100.0, self.ceiling)
        return min(default, self.ceiling)


@dataclass(frozen=True)
class FoundEvidence:
    """A received indicator that named an asset (rule 2)."""

    asset_id: int
    confidence: float
    indicator_id: str
    matched: str
    report_id: str
    source: str


@dataclass(frozen=True)
class FoundReport:
    """A received report that a CVE is exploited (rule 1), and when it was reported."""

    sighting: IntelSighting
    reported_at: datetime


@dataclass(frozen=True)
class IntelSummary:
    """What the rules found in everything received (and what could not be read)."""

    sightings: tuple[FoundReport, ...] = ()
    evidence: tuple[FoundEvidence, ...] = ()
    objects: int = 0
    unreadable: tuple[str, ...] = ()


# reading what was received -----------------------------------------------------------------
def _received(session: Session, organisation_id: int) -> dict[str, dict[str, Any]]:
    """The latest received version of every object, by id (of the _MAX_OBJECTS receipts most
    recently written)."""
    rows = session.execute(
        select(SharingReceipt.stix_id, SharingReceipt.version, TaxiiObject.body)
        .join(TaxiiObject, TaxiiObject.id == SharingReceipt.object_key)
        .where(SharingReceipt.organisation_id == organisation_id)
        .order_by(SharingReceipt.id.desc())
        .limit(_MAX_OBJECTS)
    ).all()
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for stix_id, version, body in rows:
        held = latest.get(stix_id)
        if held is None or version >= held[0]:
            latest[stix_id] = (version, json.loads(body))
    return {stix_id: obj for stix_id, (_, obj) in latest.items()}


def _bundle(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}


def read_received(objects: Mapping[str, dict[str, Any]]) -> tuple[IncomingIntel, list[str]]:
    """The intel of ``objects`` and the ids of those that could not be read (left out).

    One bundle first; if a peer's object is not valid STIX for ``stix2`` the objects are read
    one by one and the unreadable ones left out, so one bad object hides nothing else.
    """
    try:
        return read_bundle(_bundle(objects.values())), []
    except StixError:
        pass
    readable: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for stix_id, obj in objects.items():
        try:
            read_bundle(_bundle([obj]))
        except StixError:
            unreadable.append(stix_id)
        else:
            readable.append(obj)
    return read_bundle(_bundle(readable)), unreadable


def _moment(*values: Any) -> datetime | None:
    for value in values:
        if isinstance(value, str) and value:
            try:
                return parse_timestamp(value, what="time")
            except StixError:
                continue
    return None


class _Sources:
    """Publishers' pseudonyms under the receiving organisation's key (computed once each)."""

    def __init__(self, anonymiser: Anonymiser) -> None:
        self._anonymiser = anonymiser
        self._known: dict[str, str] = {}

    def of(self, identity_ref: str | None) -> str:
        ref = identity_ref or "unknown publisher"
        if ref not in self._known:
            self._known[ref] = self._anonymiser.pseudonym(Kind.ORG, ref)
        return self._known[ref]


# rule 1 ------------------------------------------------------------------------------------
def _cves(obj: Mapping[str, Any]) -> list[str]:
    found = [
        str(r["external_id"]).upper()
        for r in obj.get("external_references") or ()
        if isinstance(r, Mapping) and r.get("source_name") == "cve" and "external_id" in r
    ]
    found = [c for c in found if CVE_ID.fullmatch(c)]
    name = str(obj.get("name", "")).upper()
    return found or ([name] if CVE_ID.fullmatch(name) else [])


def _incident_reports(
    incident: IncomingIncident,
    raw: Mapping[str, Any],
    rule: IntelRule,
    sources: _Sources,
    since: datetime,
) -> list[FoundReport]:
    confidence = rule.of_incident(incident.determination)
    if confidence is None or raw.get("revoked") is True:
        return []
    when = _moment(incident.detected_at, incident.modified, incident.created)
    if when is None or when < since:
        return []
    return [
        FoundReport(
            IntelSighting(
                cve=cve,
                confidence=confidence,
                source=sources.of(incident.created_by),
                report_id=incident.stix_id,
                name=incident.name,
            ),
            when,
        )
        for cve in incident.cves
    ]


def _sighting_reports(
    objects: Mapping[str, dict[str, Any]],
    covered: set[str],
    rule: IntelRule,
    sources: _Sources,
    since: datetime,
) -> list[FoundReport]:
    """Sightings of vulnerabilities that no incident of the set names (rule 1, second kind)."""
    found: list[FoundReport] = []
    for obj in objects.values():
        if obj.get("type") != "sighting" or obj.get("revoked") is True:
            continue
        target = objects.get(str(obj.get("sighting_of_ref")))
        if target is None or target.get("type") != "vulnerability":
            continue
        when = _moment(obj.get("last_seen"), obj.get("modified"), obj.get("created"))
        if when is None or when < since:
            continue
        for cve in _cves(target):
            if cve in covered:
                continue
            sighting = IntelSighting(
                cve=cve,
                confidence=rule.of_confidence(obj.get("confidence"), rule.sighting),
                source=sources.of(obj.get("created_by_ref")),
                report_id=str(obj["id"]),
                name=f"sighting of {cve}",
            )
            found.append(FoundReport(sighting, when))
    return found


# rule 2 ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _LocalAsset:
    id: int
    hostnames: frozenset[str]
    addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]


def _assets(session: Session, organisation_id: int) -> list[_LocalAsset]:
    addresses: dict[int, list[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {}
    for asset_id, value in session.execute(
        select(AssetAddress.asset_id, AssetAddress.value).where(
            AssetAddress.organisation_id == organisation_id,
            AssetAddress.kind.in_(("ipv4", "ipv6")),
        )
    ).all():
        try:
            addresses.setdefault(asset_id, []).append(ipaddress.ip_address(value))
        except ValueError:
            continue
    return [
        _LocalAsset(
            asset_id,
            frozenset(h.lower().rstrip(".") for h in (hostname,) if h),
            tuple(addresses.get(asset_id, ())),
        )
        for asset_id, hostname in session.execute(
            select(Asset.id, Asset.hostname)
            .where(Asset.organisation_id == organisation_id)
            .order_by(Asset.id)
        ).all()
    ]


def _named(kind: str, value: str, asset: _LocalAsset) -> bool:
    """Does an indicator (type, value) name ``asset``?"""
    if kind in {"ipv4", "ipv6"}:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return any(a.version == network.version and a in network for a in asset.addresses)
    if kind == "domain":
        return value.lower().rstrip(".") in asset.hostnames
    if kind == "url":
        host = (urlsplit(value).hostname or "").lower().rstrip(".")
        if not host:
            return False
        if host in asset.hostnames:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return address in asset.addresses
    return False


def _evidence(
    intel: IncomingIntel,
    objects: Mapping[str, dict[str, Any]],
    assets: Sequence[_LocalAsset],
    rule: IntelRule,
    sources: _Sources,
    now: datetime,
) -> list[FoundEvidence]:
    reports: dict[str, str] = {}
    ignored: set[str] = set()
    for incident in intel.incidents:
        for linked in incident.indicators:
            if rule.of_incident(incident.determination) is None:
                ignored.add(linked.stix_id)
            else:
                reports.setdefault(linked.stix_id, incident.stix_id)
    found: list[FoundEvidence] = []
    for indicator in intel.indicators:
        raw = objects.get(indicator.stix_id, {})
        if indicator.type is None or indicator.value is None or raw.get("revoked") is True:
            continue
        if indicator.stix_id in ignored and indicator.stix_id not in reports:
            continue
        if "benign" in (raw.get("indicator_types") or ()):
            continue
        until = _moment(raw.get("valid_until"))
        if until is not None and until < now:
            continue
        for asset in assets:
            if _named(indicator.type, indicator.value, asset):
                found.append(
                    FoundEvidence(
                        asset_id=asset.id,
                        confidence=rule.of_confidence(raw.get("confidence"), rule.indicator),
                        indicator_id=indicator.stix_id,
                        matched=f"{indicator.type}:{indicator.value}"[:600],
                        report_id=reports.get(indicator.stix_id, indicator.stix_id),
                        source=sources.of(raw.get("created_by_ref")),
                    )
                )
    return found


# storing and events ------------------------------------------------------------------------
def derive_intel(
    session: Session,
    organisation_id: int,
    *,
    rule: IntelRule | None = None,
    now: datetime | None = None,
) -> IntelSummary:
    """What rules 1 and 2 find in everything the organisation received (nothing stored)."""
    rule = rule or IntelRule()
    moment = now or utcnow()
    since = moment - timedelta(days=rule.horizon_days)
    objects = _received(session, organisation_id)
    if not objects:
        return IntelSummary()
    intel, unreadable = read_received(objects)
    sources = _Sources(Anonymiser.for_organisation(session, organisation_id))
    sightings: list[FoundReport] = []
    covered: set[str] = set()
    for incident in intel.incidents:
        covered.update(incident.cves)
        sightings.extend(
            _incident_reports(incident, objects.get(incident.stix_id, {}), rule, sources, since)
        )
    sightings.extend(_sighting_reports(objects, covered, rule, sources, since))
    evidence = _evidence(intel, objects, _assets(session, organisation_id), rule, sources, moment)
    return IntelSummary(tuple(sightings), tuple(evidence), len(objects), tuple(unreadable))


def refresh_intel(
    session: Session,
    organisation_id: int,
    *,
    rule: IntelRule | None = None,
    now: datetime | None = None,
) -> IntelSummary:
    """Derive the intel (:func:`derive_intel`) and store it in place of the previous one."""
    summary = derive_intel(session, organisation_id, rule=rule, now=now)
    session.execute(
        delete(IntelSightingRecord).where(IntelSightingRecord.organisation_id == organisation_id)
    )
    session.execute(
        delete(IntelEvidenceRecord).where(IntelEvidenceRecord.organisation_id == organisation_id)
    )
    seen: set[tuple[str, str]] = set()
    for report in summary.sightings:
        sighting = report.sighting
        if (sighting.cve, sighting.report_id) in seen:
            continue
        seen.add((sighting.cve, sighting.report_id))
        session.add(
            IntelSightingRecord(
                organisation_id=organisation_id,
                cve=sighting.cve,
                confidence=sighting.confidence,
                report_id=sighting.report_id[:300],
                report_name=sighting.name[:2000],
                source=sighting.source[:100],
                reported_at=report.reported_at,
            )
        )
    matched: set[tuple[int, str]] = set()
    for found in summary.evidence:
        if (found.asset_id, found.indicator_id) in matched:
            continue
        matched.add((found.asset_id, found.indicator_id))
        session.add(
            IntelEvidenceRecord(
                organisation_id=organisation_id,
                asset_id=found.asset_id,
                confidence=found.confidence,
                indicator_id=found.indicator_id[:300],
                matched=found.matched,
                report_id=found.report_id[:300],
                source=found.source[:100],
            )
        )
    session.flush()
    return summary


def intel_events(session: Session, organisation_id: int) -> list[Event]:
    """The stored intel as events for a live :class:`panacea.risk.engine.RiskEngine`:
    an IntelSighting per report, an Evidence per asset named (reports combined as
    independent witnesses, as the assessment pins them)."""
    events: list[Event] = [
        IntelSighting(r.cve, r.confidence, r.source, r.report_id, r.report_name)
        for r in session.execute(
            select(IntelSightingRecord)
            .where(IntelSightingRecord.organisation_id == organisation_id)
            .order_by(IntelSightingRecord.id)
        ).scalars()
    ]
    miss: dict[str, float] = {}
    for name, confidence in session.execute(
        select(Asset.name, IntelEvidenceRecord.confidence)
        .join(Asset, Asset.id == IntelEvidenceRecord.asset_id)
        .where(IntelEvidenceRecord.organisation_id == organisation_id)
        .order_by(IntelEvidenceRecord.id)
    ).all():
        miss[name] = miss.get(name, 1.0) * (1.0 - confidence)
    events.extend(Evidence(f"code_exec:user:{name}", 1.0 - m) for name, m in miss.items())
    return events
