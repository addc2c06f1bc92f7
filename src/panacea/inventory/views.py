"""Read-side views of the inventory: frozen dataclasses built with a few bulk queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset, AssetAddress, Endpoint
from panacea.inventory.network import Zone


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
