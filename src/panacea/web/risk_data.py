"""What the overview and the service view show, read from the same functions as the API.

* the latest risk snapshot (``risk.snapshot.latest_snapshot``) ranks the services: risk class,
  then expected loss (as ``risk.impact.rank`` does), with the probability stored;
* the one-line "why" of each service and the scenarios of the service view come from the
  assessment document (``panacea.assessment/1``) of that snapshot, stored with it
  (``risk.snapshot.stored_document``) and kept in memory once read. Only a snapshot stored
  before migration 0005 has none: its document is recomputed once from the current model
  with the snapshot's entry profiles (kept in memory, not stored: it describes today's
  model, not the one assessed);
* the trend is the organisation's snapshots, oldest first;
* counts: open findings, open findings whose CVE is on CISA KEV, internet-exposed assets (an
  open endpoint that a rule from an internet zone lets through, or an asset in such a zone),
  medical devices whose compromise probability in the document is at least
  :data:`DEVICE_AT_RISK`;
* freshness: the feeds' states (``vulndb.views``) and the snapshot's time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.findings.models import Finding
from panacea.findings.vocabulary import FindingStatus
from panacea.identity.audit import append
from panacea.identity.roles import Permission
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.views import ServiceAssetLink, service_links, services_query
from panacea.inventory.vocabulary import AssetKind, EndpointState, ZoneKind
from panacea.risk.assessment import AssessmentOptions, assess
from panacea.risk.impact import RiskClass
from panacea.risk.ports import allows
from panacea.risk.report_json import assessment_document
from panacea.risk.service import assess_and_record
from panacea.risk.snapshot import (
    RiskSnapshot,
    list_snapshots,
    stored_document,
)
from panacea.vulndb.models import FeedState, Vulnerability
from panacea.vulndb.views import feed_states_query
from panacea.web.callers import WebCaller

# A device counts as "at risk" from the "probable" band up (RiskMatrix.band_limits[2]).
DEVICE_AT_RISK = 0.3
TREND_POINTS = 60
# Documents kept per process (one per organisation; a few organisations per deployment).
CACHED_DOCUMENTS = 32
WHY_MAX_CHARS = 180
CLASS_ORDER = {c.label: c.value for c in RiskClass}

Document = dict[str, Any]


@dataclass(frozen=True)
class RankedService:
    key: str
    name: str
    risk_class: str
    probability: float
    expected_loss: float
    patient_safety: str


@dataclass(frozen=True)
class TrendPoint:
    snapshot_id: int
    generated_at: datetime
    total_expected_loss: float
    critical: int
    high: int


@dataclass(frozen=True)
class OverviewCounts:
    open_findings: int
    kev_findings: int
    internet_exposed_assets: int
    medical_devices: int
    # None until the assessment document is known.
    medical_devices_at_risk: int | None


@dataclass(frozen=True)
class Freshness:
    name: str
    loaded_at: datetime
    version: str
    records: int


# --- the assessment documents behind snapshots ---------------------------------------------


class DocumentCache:
    """Assessment documents by (organisation, snapshot), least recently used dropped first."""

    def __init__(self, size: int = CACHED_DOCUMENTS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._documents: OrderedDict[tuple[int, int], Document] = OrderedDict()

    def get(self, organisation_id: int, snapshot_id: int) -> Document | None:
        with self._lock:
            key = (organisation_id, snapshot_id)
            document = self._documents.get(key)
            if document is not None:
                self._documents.move_to_end(key)
            return document

    def forget(self, organisation_id: int, snapshot_id: int) -> None:
        with self._lock:
            self._documents.pop((organisation_id, snapshot_id), None)

    def put(self, organisation_id: int, snapshot_id: int, document: Document) -> None:
        with self._lock:
            self._documents[(organisation_id, snapshot_id)] = document
            self._documents.move_to_end((organisation_id, snapshot_id))
            while len(self._documents) > self._size:
                self._documents.popitem(last=False)


DOCUMENTS = DocumentCache()


def options_of(snapshot: RiskSnapshot) -> AssessmentOptions:
    """The options that reproduce ``snapshot`` (its entry profiles; default trials and seed)."""
    return AssessmentOptions(entries=tuple(snapshot.entries))


def known_document(db: Session, snapshot: RiskSnapshot) -> Document | None:
    """The document of ``snapshot`` without assessing: kept in memory, else the one stored with
    the snapshot (then kept). None for a snapshot stored before migration 0005, whose
    document only :func:`document_of` gives (by recomputing it).
    """
    document = DOCUMENTS.get(snapshot.organisation_id, snapshot.id)
    if document is None:
        document = stored_document(db, snapshot.organisation_id, snapshot.id)
        if document is not None:
            DOCUMENTS.put(snapshot.organisation_id, snapshot.id, document)
    return document


def document_of(sessions: sessionmaker[Session], snapshot: RiskSnapshot) -> Document:
    """The assessment document of ``snapshot``: :func:`known_document`, else recomputed from
    the current model (kept in memory, not stored).

    The recomputation is slow (an assessment: about a second for the demo hospital, a minute
    at 20,000 assets); call this from a worker thread.
    """
    with sessions() as db:
        try:
            document = known_document(db, snapshot)
            if document is None:
                document = assessment_document(
                    assess(db, snapshot.organisation_id, options_of(snapshot))
                )
                DOCUMENTS.put(snapshot.organisation_id, snapshot.id, document)
        finally:
            db.rollback()
    return document


def reassess(caller: WebCaller) -> tuple[RiskSnapshot, Document]:
    """Assess the caller's organisation now and store the snapshot (with its document), audited
    as ``POST .../risk/assessments`` audits it; keep its document (:data:`DOCUMENTS`).

    One transaction (``caller.transaction``: the session and ``risk:assess`` are checked
    again first; WebSessionEndedError otherwise). The document is kept only once the
    snapshot is committed. Slow (an assessment): call it from a worker thread.
    """
    options = AssessmentOptions()
    with caller.transaction(Permission.RISK_ASSESS) as db:
        recorded = assess_and_record(db, caller.organisation_id, options)
        snapshot = recorded.snapshot
        append(
            db,
            caller.access.event(
                "assessment.run",
                target=f"risk_snapshot:{snapshot.id}",
                entries=list(options.entries),
                trials=options.trials,
                seed=options.seed,
                total_expected_loss=round(snapshot.total_expected_loss, 2),
                client="dashboard",
            ),
        )
    DOCUMENTS.put(caller.organisation_id, snapshot.id, recorded.document)
    return snapshot, recorded.document


# --- ranked services and their "why" -------------------------------------------------------


@dataclass(frozen=True)
class ServiceLabel:
    name: str
    patient_safety: str


def service_labels(db: Session, organisation_id: int) -> dict[str, ServiceLabel]:
    """Service key -> name and patient-safety severity."""
    return {
        s.key: ServiceLabel(s.name, s.patient_safety)
        for s in db.scalars(services_query(organisation_id))
    }


def ranked_services(snapshot: RiskSnapshot, labels: dict[str, ServiceLabel]) -> list[RankedService]:
    """The snapshot's services: risk class (critical first), then expected loss, then name."""
    rows = [
        RankedService(
            key=key,
            name=labels[key].name if key in labels else key,
            risk_class=str(figures.get("risk_class", "low")),
            probability=float(figures.get("probability", 0.0)),
            expected_loss=float(figures.get("expected_loss", 0.0)),
            patient_safety=labels[key].patient_safety if key in labels else "",
        )
        for key, figures in snapshot.services.items()
    ]
    return sorted(rows, key=lambda s: (-CLASS_ORDER.get(s.risk_class, 0), -s.expected_loss, s.name))


def _step_phrase(step: dict[str, Any]) -> str:
    action = step.get("action", "")
    if action == "entry":
        return str(step.get("text", "entry")).replace("attacker profile: ", "")
    where = step.get("asset") or step.get("account") or ""
    if step.get("cve"):
        return f"{step['cve']} on {where}"
    if action in ("logon", "steal_credentials") and step.get("account"):
        verb = "log on as" if action == "logon" else "steal credentials of"
        return f"{verb} {step['account']}" + (f" on {step['asset']}" if step.get("asset") else "")
    return f"{action.replace('_', ' ')} {where}".strip()


def why_line(service: Document | None) -> str:
    """One line on the most probable scenario of a document's service (or why there is none)."""
    if service is None:
        return ""
    paths: list[Document] = service.get("top_paths") or []
    if not paths:
        return "No attack path reaches it in the model."
    top = paths[0]
    phrases = [_step_phrase(s) for s in top.get("steps", [])]
    if len(phrases) > 4:
        phrases = [*phrases[:2], f"{len(phrases) - 3} more steps", phrases[-1]]
    line = " → ".join(phrases)
    if len(line) > WHY_MAX_CHARS:
        line = line[: WHY_MAX_CHARS - 1] + "…"
    return f"Most likely: {line} ({top.get('probability', 0.0):.0%})"


def service_in_document(document: Document | None, key: str) -> Document | None:
    """The service ``key`` of an assessment document, or None."""
    if document is None:
        return None
    services: list[Document] = document.get("services", [])
    return next((s for s in services if s.get("key") == key), None)


# --- trend, counts, freshness ----------------------------------------------------------------


def trend(db: Session, organisation_id: int, limit: int = TREND_POINTS) -> list[TrendPoint]:
    """The newest ``limit`` snapshots, oldest first, with how many services are high/critical."""
    points = []
    for s in list_snapshots(db, organisation_id, limit=limit):
        classes = [str(v.get("risk_class", "")) for v in s.services.values()]
        points.append(
            TrendPoint(
                snapshot_id=s.id,
                generated_at=s.generated_at,
                total_expected_loss=s.total_expected_loss,
                critical=classes.count("critical"),
                high=classes.count("high"),
            )
        )
    return points


def _count(db: Session, stmt: Any) -> int:
    return int(db.scalar(stmt) or 0)


def internet_exposed_assets(db: Session, organisation_id: int) -> int:
    """Assets an internet zone reaches on an open endpoint, or placed in an internet zone."""
    zones = dict(
        db.execute(select(Zone.id, Zone.kind).where(Zone.organisation_id == organisation_id)).all()
    )
    internet = {zid for zid, kind in zones.items() if kind == ZoneKind.INTERNET.value}
    if not internet:
        return 0
    rules: dict[int, list[tuple[str, str]]] = {}
    for to_zone, protocol, ports in db.execute(
        select(
            ReachabilityRule.to_zone_id, ReachabilityRule.protocol, ReachabilityRule.ports
        ).where(
            ReachabilityRule.organisation_id == organisation_id,
            ReachabilityRule.from_zone_id.in_(sorted(internet)),
        )
    ):
        rules.setdefault(to_zone, []).append((protocol, ports))
    exposed = set(
        db.scalars(
            select(Asset.id).where(
                Asset.organisation_id == organisation_id, Asset.zone_id.in_(sorted(internet))
            )
        )
    )
    if rules:
        for asset_id, zone_id, protocol, port in db.execute(
            select(Endpoint.asset_id, Asset.zone_id, Endpoint.protocol, Endpoint.port)
            .join(Asset, Asset.id == Endpoint.asset_id)
            .where(
                Endpoint.organisation_id == organisation_id,
                Endpoint.state == EndpointState.OPEN.value,
                Asset.zone_id.in_(sorted(rules)),
            )
        ):
            if (
                zone_id is not None
                and asset_id not in exposed
                and any(
                    allows(rule_protocol, rule_ports, protocol, port)
                    for rule_protocol, rule_ports in rules[zone_id]
                )
            ):
                exposed.add(asset_id)
    return len(exposed)


def medical_device_ids(db: Session, organisation_id: int) -> set[int]:
    return set(
        db.scalars(
            select(Asset.id).where(
                Asset.organisation_id == organisation_id,
                Asset.kind == AssetKind.MEDICAL_DEVICE.value,
            )
        )
    )


def devices_at_risk(document: Document, device_ids: Iterable[int]) -> int:
    """Medical devices whose compromise probability in ``document`` is >= DEVICE_AT_RISK."""
    wanted = set(device_ids)
    return sum(
        1
        for a in document.get("assets", [])
        if a.get("id") in wanted and float(a.get("probability", 0.0)) >= DEVICE_AT_RISK
    )


def overview_counts(db: Session, organisation_id: int, document: Document | None) -> OverviewCounts:
    """The counts of the overview (see the module docstring)."""
    open_findings = select(func.count()).where(
        Finding.organisation_id == organisation_id, Finding.status == FindingStatus.OPEN.value
    )
    kev = (
        select(func.count())
        .select_from(Finding)
        .join(Vulnerability, Vulnerability.cve_id == Finding.cve_id)
        .where(
            Finding.organisation_id == organisation_id,
            Finding.status == FindingStatus.OPEN.value,
            Vulnerability.kev.is_(True),
        )
    )
    devices = medical_device_ids(db, organisation_id)
    return OverviewCounts(
        open_findings=_count(db, open_findings),
        kev_findings=_count(db, kev),
        internet_exposed_assets=internet_exposed_assets(db, organisation_id),
        medical_devices=len(devices),
        medical_devices_at_risk=(
            devices_at_risk(document, devices) if document is not None else None
        ),
    )


def feed_freshness(db: Session) -> list[Freshness]:
    """Each vulnerability feed's last load (NVD, KEV, EPSS), by name."""
    states: Iterable[FeedState] = db.scalars(feed_states_query().order_by(FeedState.name))
    return [Freshness(s.name, s.loaded_at, s.version, s.records) for s in states]


# --- the service view ------------------------------------------------------------------------


@dataclass(frozen=True)
class DependencyNode:
    """A node of a service's dependency tree (for ``ui.tree``)."""

    id: str
    label: str
    children: tuple[DependencyNode, ...] = ()

    def as_tree(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "children": [c.as_tree() for c in self.children],
        }


MAX_TREE_DEPTH = 8


def _asset_node(asset: ServiceAssetLink, serial: int) -> DependencyNode:
    return DependencyNode(
        f"asset-{asset.asset_id}-{serial}", f"asset {asset.asset} (needs {asset.needs})"
    )


def dependency_tree(db: Session, organisation_id: int, key: str) -> DependencyNode | None:
    """The service ``key``, the services it depends on (recursively) and the assets each needs.

    A service met again on a path is shown once more without its children (cycles and deep
    chains stop at MAX_TREE_DEPTH). None if the organisation has no such service.
    """
    services = {s.key: s for s in db.scalars(services_query(organisation_id))}
    if key not in services:
        return None
    by_id: dict[int, ClinicalService] = {s.id: s for s in services.values()}
    links = service_links(db, organisation_id, by_id)
    counter = iter(range(1, 1_000_000))

    def node(service: ClinicalService, path: tuple[str, ...]) -> DependencyNode:
        link = links.get(service.id)
        children: list[DependencyNode] = []
        if link is not None and service.key not in path and len(path) < MAX_TREE_DEPTH:
            for other in link.depends_on:
                if other in services:
                    children.append(node(services[other], (*path, service.key)))
            groups: dict[str, list[ServiceAssetLink]] = {}
            for asset in link.assets:
                if asset.redundancy_group is None:
                    children.append(_asset_node(asset, next(counter)))
                else:
                    groups.setdefault(asset.redundancy_group, []).append(asset)
            for name, members in sorted(groups.items()):
                k = members[0].k or 1
                children.append(
                    DependencyNode(
                        f"group-{name}-{next(counter)}",
                        f"redundancy group {name}: {k} of {len(members)} needed",
                        tuple(_asset_node(m, next(counter)) for m in members),
                    )
                )
        suffix = " (shown above)" if service.key in path else ""
        return DependencyNode(
            f"service-{service.key}-{next(counter)}",
            f"service {service.name}{suffix}",
            tuple(children),
        )

    return node(services[key], ())
