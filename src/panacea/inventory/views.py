"""Read-side views of the inventory: frozen dataclasses built with a few bulk queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from panacea.inventory.assets import Asset, AssetAddress, Component, Endpoint
from panacea.inventory.clinical import (
    ClinicalService,
    RedundancyGroup,
    ServiceAssetDependency,
    ServiceDependency,
)
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.people import StaffGroup, StaffWorkstation


@dataclass(frozen=True)
class EndpointView:
    id: int
    port: int
    protocol: str
    state: str
    service: str | None
    product: str | None
    version: str | None
    cpe: str | None


@dataclass(frozen=True)
class AssetView:
    id: int
    name: str
    kind: str
    zone: str | None
    hostname: str | None
    addresses: tuple[str, ...]
    os: str | None
    criticality: str
    patchable: str
    controls: tuple[str, ...]
    last_seen: datetime
    endpoints: tuple[EndpointView, ...]


def list_assets(session: Session, organisation_id: int) -> list[AssetView]:
    """Every asset of the organisation with its addresses and endpoints, ordered by name."""
    zones = dict(
        session.execute(
            select(Zone.id, Zone.name).where(Zone.organisation_id == organisation_id)
        ).all()
    )
    addresses: dict[int, list[str]] = defaultdict(list)
    for asset_id, value in session.execute(
        select(AssetAddress.asset_id, AssetAddress.value)
        .where(AssetAddress.organisation_id == organisation_id)
        .order_by(AssetAddress.kind, AssetAddress.value)
    ):
        addresses[asset_id].append(value)
    endpoints: dict[int, list[EndpointView]] = defaultdict(list)
    for e in session.scalars(
        select(Endpoint)
        .where(Endpoint.organisation_id == organisation_id)
        .order_by(Endpoint.port, Endpoint.protocol)
    ):
        endpoints[e.asset_id].append(
            EndpointView(e.id, e.port, e.protocol, e.state, e.service, e.product, e.version, e.cpe)
        )
    rows = session.scalars(
        select(Asset).where(Asset.organisation_id == organisation_id).order_by(Asset.name)
    )
    return [
        AssetView(
            id=a.id,
            name=a.name,
            kind=a.kind,
            zone=zones.get(a.zone_id) if a.zone_id is not None else None,
            hostname=a.hostname,
            addresses=tuple(addresses[a.id]),
            os=a.os,
            criticality=a.criticality,
            patchable=a.patchable,
            controls=tuple(a.controls),
            last_seen=a.last_seen,
            endpoints=tuple(endpoints[a.id]),
        )
        for a in rows.unique()
    ]


@dataclass(frozen=True)
class InventorySummary:
    assets_by_kind: dict[str, int]
    assets_by_zone: dict[str, int]
    endpoints_open: int
    unpatchable_assets: int


def summarise_inventory(session: Session, organisation_id: int) -> InventorySummary:
    """Counts of the organisation's inventory for the CLI and the dashboard."""
    by_kind = session.execute(
        select(Asset.kind, func.count())
        .where(Asset.organisation_id == organisation_id)
        .group_by(Asset.kind)
    )
    by_zone = session.execute(
        select(func.coalesce(Zone.name, "(none)"), func.count())
        .select_from(Asset)
        .outerjoin(Zone, Zone.id == Asset.zone_id)
        .where(Asset.organisation_id == organisation_id)
        .group_by(Zone.name)
    )
    endpoints = session.scalar(
        select(func.count()).where(
            Endpoint.organisation_id == organisation_id, Endpoint.state == "open"
        )
    )
    unpatchable = session.scalar(
        select(func.count()).where(
            Asset.organisation_id == organisation_id, Asset.patchable == "no"
        )
    )
    return InventorySummary(
        assets_by_kind=dict(sorted(by_kind.all())),
        assets_by_zone=dict(sorted(by_zone.all())),
        endpoints_open=int(endpoints or 0),
        unpatchable_assets=int(unpatchable or 0),
    )


# --- statements and lookups for the API ----------------------------------------------------
# The API pages these by primary key (keyset pagination); every one is scoped to one
# organisation, so another organisation's rows can never appear in a page.


@dataclass(frozen=True)
class AssetFilter:
    """Filters of the asset list; None means any. ``search`` matches name, hostname or address."""

    kind: str | None = None
    zone_id: int | None = None
    department: str | None = None
    search: str | None = None


def zones_query(organisation_id: int) -> Select[Zone]:
    """The organisation's zones."""
    return select(Zone).where(Zone.organisation_id == organisation_id)


def zone_names(session: Session, organisation_id: int) -> dict[int, str]:
    """Zone id -> name for the organisation (zones are few: one query)."""
    rows = session.execute(
        select(Zone.id, Zone.name).where(Zone.organisation_id == organisation_id)
    )
    return dict(rows.all())


def rules_query(organisation_id: int) -> Select[ReachabilityRule]:
    """The organisation's reachability rules."""
    return select(ReachabilityRule).where(ReachabilityRule.organisation_id == organisation_id)


def assets_query(organisation_id: int, filters: AssetFilter) -> Select[Asset]:
    """The organisation's assets matching ``filters`` (addresses load with each asset)."""
    stmt = select(Asset).where(Asset.organisation_id == organisation_id)
    if filters.kind is not None:
        stmt = stmt.where(Asset.kind == filters.kind)
    if filters.zone_id is not None:
        stmt = stmt.where(Asset.zone_id == filters.zone_id)
    if filters.department is not None:
        stmt = stmt.where(func.lower(Asset.department) == filters.department.lower())
    if filters.search:
        # Case-insensitive substring; autoescape keeps % and _ in the search literal.
        needle = filters.search.lower()
        address = (
            select(AssetAddress.id)
            .where(
                AssetAddress.asset_id == Asset.id,
                func.lower(AssetAddress.value).contains(needle, autoescape=True),
            )
            .exists()
        )
        stmt = stmt.where(
            or_(
                func.lower(Asset.name).contains(needle, autoescape=True),
                func.lower(Asset.hostname).contains(needle, autoescape=True),
                address,
            )
        )
    return stmt


def asset_in(session: Session, organisation_id: int, asset_id: int) -> Asset | None:
    """Asset ``asset_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(Asset).where(Asset.id == asset_id, Asset.organisation_id == organisation_id)
    )


def endpoints_query(
    organisation_id: int,
    *,
    asset_id: int | None = None,
    port: int | None = None,
    state: str | None = None,
) -> Select[Endpoint]:
    """The organisation's network endpoints, optionally of one asset, port or state."""
    stmt = select(Endpoint).where(Endpoint.organisation_id == organisation_id)
    if asset_id is not None:
        stmt = stmt.where(Endpoint.asset_id == asset_id)
    if port is not None:
        stmt = stmt.where(Endpoint.port == port)
    if state is not None:
        stmt = stmt.where(Endpoint.state == state)
    return stmt


def components_query(
    organisation_id: int, *, asset_id: int | None = None, search: str | None = None
) -> Select[Component]:
    """The organisation's software components, optionally of one asset or matching a name."""
    stmt = select(Component).where(Component.organisation_id == organisation_id)
    if asset_id is not None:
        stmt = stmt.where(Component.asset_id == asset_id)
    if search:
        stmt = stmt.where(func.lower(Component.name).contains(search.lower(), autoescape=True))
    return stmt


def services_query(organisation_id: int) -> Select[ClinicalService]:
    """The organisation's clinical services."""
    return select(ClinicalService).where(ClinicalService.organisation_id == organisation_id)


def service_in(session: Session, organisation_id: int, service_id: int) -> ClinicalService | None:
    """Clinical service ``service_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(ClinicalService).where(
            ClinicalService.id == service_id, ClinicalService.organisation_id == organisation_id
        )
    )


@dataclass(frozen=True)
class ServiceAssetLink:
    """An asset a service needs; ``redundancy_group`` names its k-of-n group, if any."""

    asset_id: int
    asset: str
    needs: str
    redundancy_group: str | None
    k: int | None


@dataclass(frozen=True)
class ServiceLinks:
    """What one clinical service depends on: other services (by key) and assets."""

    depends_on: tuple[str, ...]
    assets: tuple[ServiceAssetLink, ...]


def service_links(
    session: Session, organisation_id: int, service_ids: Collection[int]
) -> dict[int, ServiceLinks]:
    """The dependencies of each of ``service_ids`` (two queries for the whole page)."""
    ids = sorted(service_ids)
    if not ids:
        return {}
    other = aliased(ClinicalService)
    depends: dict[int, list[str]] = defaultdict(list)
    for service_id, key in session.execute(
        select(ServiceDependency.service_id, other.key)
        .join(other, other.id == ServiceDependency.depends_on_id)
        .where(
            ServiceDependency.organisation_id == organisation_id,
            ServiceDependency.service_id.in_(ids),
        )
        .order_by(other.key)
    ):
        depends[service_id].append(key)
    assets: dict[int, list[ServiceAssetLink]] = defaultdict(list)
    for dep, name, group, k in session.execute(
        select(ServiceAssetDependency, Asset.name, RedundancyGroup.name, RedundancyGroup.k)
        .join(Asset, Asset.id == ServiceAssetDependency.asset_id)
        .outerjoin(
            RedundancyGroup, RedundancyGroup.id == ServiceAssetDependency.redundancy_group_id
        )
        .where(
            ServiceAssetDependency.organisation_id == organisation_id,
            ServiceAssetDependency.service_id.in_(ids),
        )
        .order_by(Asset.name)
    ):
        assets[dep.service_id].append(ServiceAssetLink(dep.asset_id, name, dep.needs, group, k))
    return {i: ServiceLinks(tuple(depends[i]), tuple(assets[i])) for i in ids}


def staff_groups_query(organisation_id: int) -> Select[StaffGroup]:
    """The organisation's staff groups."""
    return select(StaffGroup).where(StaffGroup.organisation_id == organisation_id)


@dataclass(frozen=True)
class WorkstationLink:
    """A workstation a staff group uses: one asset, or every asset of a zone."""

    asset_id: int | None
    zone_id: int | None


def staff_workstations(
    session: Session, organisation_id: int, group_ids: Collection[int]
) -> dict[int, tuple[WorkstationLink, ...]]:
    """The workstations of each of ``group_ids`` (one query for the whole page)."""
    ids = sorted(group_ids)
    links: dict[int, list[WorkstationLink]] = defaultdict(list)
    if ids:
        for row in session.scalars(
            select(StaffWorkstation)
            .where(
                StaffWorkstation.organisation_id == organisation_id,
                StaffWorkstation.staff_group_id.in_(ids),
            )
            .order_by(StaffWorkstation.id)
        ):
            links[row.staff_group_id].append(WorkstationLink(row.asset_id, row.zone_id))
    return {i: tuple(links[i]) for i in ids}
