"""The data of the assets pages: one page of the asset table, and one asset in detail.

Everything is scoped to one organisation (every statement filters on ``organisation_id``),
built on the inventory's own statements (``inventory.views.assets_query``) so the dashboard
filters exactly as the API does.

Sorting (see docs/dashboard.md for the timings at 20,000 assets): ``name`` uses the unique
index (organisation_id, name), ``id`` the primary key; ``kind``, ``criticality``,
``department`` and ``zone`` are short values sorted in memory by the database over at most one
organisation's assets (a top-N heap sort with LIMIT). The finding columns (open findings,
highest CVSS and EPSS, KEV) are computed for the rows of the page only and are not sortable:
sorting on them would aggregate every finding of the organisation for each page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding
from panacea.findings.views import newest_score
from panacea.findings.vocabulary import FindingStatus
from panacea.inventory import views
from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.network import Zone
from panacea.vulndb.models import Vulnerability
from panacea.web.table_paging import TablePage, TableRequest

ASSET_SORTS = ("name", "id", "kind", "criticality", "department", "zone")
# Lists of an asset's detail page are capped; the page says how many there are in all.
DETAIL_LIMIT = 500


@dataclass(frozen=True)
class AssetQuery:
    """The asset table's filters: the inventory's, and "has an open finding on the KEV list"."""

    kind: str | None = None
    zone_id: int | None = None
    department: str | None = None
    search: str | None = None
    open_kev: bool = False

    def inventory_filter(self) -> views.AssetFilter:
        return views.AssetFilter(
            kind=self.kind, zone_id=self.zone_id, department=self.department, search=self.search
        )


def _filtered(organisation_id: int, query: AssetQuery) -> Select[Asset]:
    stmt = views.assets_query(organisation_id, query.inventory_filter())
    if query.open_kev:
        kev = (
            select(Finding.id)
            .join(Vulnerability, Vulnerability.cve_id == Finding.cve_id)
            .where(
                Finding.asset_id == Asset.id,
                Finding.status == FindingStatus.OPEN.value,
                Vulnerability.kev.is_(True),
            )
            .exists()
        )
        stmt = stmt.where(kev)
    return stmt


def _order(stmt: Select[Any], request: TableRequest) -> Select[Any]:
    column: Any = {
        "name": Asset.name,
        "id": Asset.id,
        "kind": Asset.kind,
        "criticality": Asset.criticality,
        "department": func.coalesce(Asset.department, ""),
        "zone": func.coalesce(Zone.name, ""),
    }[request.sort]
    if request.sort == "zone":
        stmt = stmt.outerjoin(Zone, Zone.id == Asset.zone_id)
    key = column.desc() if request.descending else column.asc()
    tie = Asset.id.desc() if request.descending else Asset.id.asc()
    return stmt.order_by(key, tie)


def asset_page(
    session: Session, organisation_id: int, query: AssetQuery, request: TableRequest
) -> TablePage:
    """One page of the organisation's assets matching ``query``, with their finding summary."""
    stmt = _filtered(organisation_id, query)
    total = session.scalar(stmt.with_only_columns(func.count(Asset.id)).order_by(None)) or 0
    if request.offset >= total > 0:  # a filter shrank the set: show its last page
        last = (total - 1) // request.size + 1
        request = TableRequest(last, request.size, request.sort, request.descending)
    rows = session.scalars(_order(stmt, request).limit(request.size).offset(request.offset)).all()
    zones = views.zone_names(session, organisation_id)
    summary = finding_summary(session, organisation_id, [a.id for a in rows])
    return TablePage([_row(a, zones, summary.get(a.id)) for a in rows], int(total), request)


@dataclass(frozen=True)
class FindingSummary:
    """An asset's open findings: how many, the highest CVSS and EPSS, any on the KEV list."""

    open: int
    max_cvss: float | None
    max_epss: float | None
    kev: bool


def finding_summary(
    session: Session, organisation_id: int, asset_ids: Sequence[int]
) -> dict[int, FindingSummary]:
    """The open-finding summary of each of ``asset_ids`` (one grouped query)."""
    if not asset_ids:
        return {}
    rows = session.execute(
        select(
            Finding.asset_id,
            func.count(Finding.id),
            func.max(newest_score()),
            func.max(Vulnerability.epss),
            func.max(case((Vulnerability.kev.is_(True), 1), else_=0)),
        )
        .outerjoin(Vulnerability, Vulnerability.cve_id == Finding.cve_id)
        .where(
            Finding.organisation_id == organisation_id,
            Finding.asset_id.in_(sorted(set(asset_ids))),
            Finding.status == FindingStatus.OPEN.value,
        )
        .group_by(Finding.asset_id)
    )
    return {
        asset_id: FindingSummary(int(n), cvss, epss, bool(kev))
        for asset_id, n, cvss, epss, kev in rows
    }


def _row(asset: Asset, zones: dict[int, str], summary: FindingSummary | None) -> dict[str, Any]:
    s = summary or FindingSummary(0, None, None, False)
    return {
        "id": asset.id,
        "name": asset.name,
        "kind": asset.kind,
        "zone": zones.get(asset.zone_id, "") if asset.zone_id is not None else "",
        "department": asset.department or "",
        "hostname": asset.hostname or "",
        "addresses": ", ".join(sorted(a.value for a in asset.addresses)),
        "criticality": asset.criticality,
        "patchable": asset.patchable,
        "open_findings": s.open,
        "max_cvss": s.max_cvss,
        "max_epss": s.max_epss,
        "kev": "KEV" if s.kev else "",
    }


@dataclass(frozen=True)
class FilterChoices:
    """What the asset table's filter menus offer: kinds, zones (id, name), departments."""

    kinds: tuple[str, ...]
    zones: tuple[tuple[int, str], ...]
    departments: tuple[str, ...]


def filter_choices(session: Session, organisation_id: int) -> FilterChoices:
    """The kinds, zones and departments the organisation's assets use (three small queries)."""
    kinds = session.scalars(
        select(Asset.kind).where(Asset.organisation_id == organisation_id).distinct()
    )
    departments = session.scalars(
        select(Asset.department)
        .where(Asset.organisation_id == organisation_id, Asset.department.is_not(None))
        .distinct()
    )
    zones = views.zone_names(session, organisation_id)
    return FilterChoices(
        kinds=tuple(sorted(kinds)),
        zones=tuple(sorted(zones.items(), key=lambda z: z[1])),
        departments=tuple(sorted(d for d in departments if d)),
    )


@dataclass(frozen=True)
class AssetDetail:
    """One asset with its endpoints and components (each capped at DETAIL_LIMIT rows)."""

    fields: dict[str, Any]
    endpoints: list[dict[str, Any]]
    endpoint_count: int
    components: list[dict[str, Any]]
    component_count: int
    summary: FindingSummary


def asset_detail(session: Session, organisation_id: int, asset_id: int) -> AssetDetail | None:
    """Asset ``asset_id`` of the organisation in detail, or None if it owns no such asset."""
    asset = views.asset_in(session, organisation_id, asset_id)
    if asset is None:
        return None
    zones = views.zone_names(session, organisation_id)
    endpoints = views.endpoints_query(organisation_id, asset_id=asset_id)
    components = views.components_query(organisation_id, asset_id=asset_id)
    endpoint_rows = session.scalars(
        endpoints.order_by(Endpoint.port, Endpoint.protocol, Endpoint.id).limit(DETAIL_LIMIT)
    ).all()
    component_rows = session.scalars(
        components.order_by(Component.name, Component.version, Component.id).limit(DETAIL_LIMIT)
    ).all()
    summary = finding_summary(session, organisation_id, [asset_id]).get(asset_id)
    return AssetDetail(
        fields=_fields(asset, zones),
        endpoints=[_endpoint(e) for e in endpoint_rows],
        endpoint_count=_count(session, endpoints, Endpoint.id),
        components=[_component(c) for c in component_rows],
        component_count=_count(session, components, Component.id),
        summary=summary or FindingSummary(0, None, None, False),
    )


def _count(session: Session, stmt: Select[Any], key: Any) -> int:
    return int(session.scalar(stmt.with_only_columns(func.count(key)).order_by(None)) or 0)


def _fields(asset: Asset, zones: dict[int, str]) -> dict[str, Any]:
    addresses: dict[str, list[str]] = defaultdict(list)
    for address in sorted(asset.addresses, key=lambda a: (a.kind, a.value)):
        addresses[address.kind].append(address.value)
    remote = asset.remote_access_zone_id
    return {
        "id": asset.id,
        "name": asset.name,
        "kind": asset.kind,
        "zone": zones.get(asset.zone_id, "") if asset.zone_id is not None else "",
        "remote_access_zone": zones.get(remote, "") if remote is not None else "",
        "hostname": asset.hostname or "",
        "addresses": {kind: ", ".join(values) for kind, values in addresses.items()},
        "os": asset.os or "",
        "manufacturer": asset.manufacturer or "",
        "model": asset.model or "",
        "firmware": asset.firmware or "",
        "department": asset.department or "",
        "criticality": asset.criticality,
        "patchable": asset.patchable,
        "controls": ", ".join(asset.controls),
        "source": asset.source,
        "first_seen": asset.first_seen.isoformat(timespec="seconds"),
        "last_seen": asset.last_seen.isoformat(timespec="seconds"),
    }


def _endpoint(e: Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "port": e.port,
        "protocol": e.protocol,
        "state": e.state,
        "service": e.service or "",
        "product": " ".join(p for p in (e.product, e.version) if p),
        "cpe": e.cpe or "",
    }


def _component(c: Component) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "version": c.version or "",
        "supplier": c.supplier or "",
        "purl": c.purl or c.cpe or "",
        "source": c.source,
    }
