"""Inventory routes: zones, rules, assets (and one audited edit), endpoints, components,
clinical services, staff groups. Everything is scoped to the organisation of the path.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.api.problems import ProblemError
from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.inventory import views
from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.people import StaffGroup
from panacea.inventory.schemas import (
    AssetOut,
    AssetPatch,
    AssetUpdateOut,
    ComponentOut,
    EndpointOut,
    InventorySummaryOut,
    RuleOut,
    ServiceOut,
    StaffGroupOut,
    ZoneOut,
)
from panacea.inventory.service import edit_asset
from panacea.inventory.vocabulary import AssetKind, EndpointState

T = TypeVar("T")
router = APIRouter(prefix="/orgs/{org_id}", tags=["inventory"])

Reader = Annotated[OrgAccess, Depends(require(Permission.INVENTORY_READ))]
Writer = Annotated[OrgAccess, Depends(require(Permission.INVENTORY_WRITE))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Text = Annotated[str | None, Query(min_length=1, max_length=200)]


def _asset(db: Db, access: OrgAccess, asset_id: int) -> Asset:
    asset = views.asset_in(db, access.organisation_id, asset_id)
    if asset is None:
        raise ProblemError(404, f"no asset {asset_id}", slug="not-found")
    return asset


@router.get("/inventory/summary", summary="Counts of the inventory")
def inventory_summary(access: Reader, db: Db) -> InventorySummaryOut:
    return InventorySummaryOut.of(views.summarise_inventory(db, access.organisation_id))


@router.get("/zones", summary="Network zones")
def list_zones(
    access: Reader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[ZoneOut]:
    stmt = views.zones_query(access.organisation_id)
    return paginate(db, stmt, Zone.id, cursor=cursor, limit=limit, convert=ZoneOut.of)


@router.get("/rules", summary="Reachability rules between zones (all else is denied)")
def list_rules(
    access: Reader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[RuleOut]:
    zones = views.zone_names(db, access.organisation_id)
    stmt = views.rules_query(access.organisation_id)
    return paginate(
        db,
        stmt,
        ReachabilityRule.id,
        cursor=cursor,
        limit=limit,
        convert=lambda r: RuleOut.of(r, zones),
    )


@router.get("/assets", summary="Assets, filtered by kind, zone, department or a search")
def list_assets(
    access: Reader,
    db: Db,
    kind: AssetKind | None = None,
    zone_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    department: Text = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Part of a name, hostname or address"),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AssetOut]:
    filters = views.AssetFilter(
        kind=kind.value if kind else None, zone_id=zone_id, department=department, search=q
    )
    zones = views.zone_names(db, access.organisation_id)
    stmt = views.assets_query(access.organisation_id, filters)
    return paginate(
        db, stmt, Asset.id, cursor=cursor, limit=limit, convert=lambda a: AssetOut.of(a, zones)
    )


@router.get("/assets/{asset_id}", summary="One asset")
def get_asset(access: Reader, db: Db, asset_id: Id) -> AssetOut:
    asset = _asset(db, access, asset_id)
    return AssetOut.of(asset, views.zone_names(db, access.organisation_id))


@router.patch(
    "/assets/{asset_id}",
    summary="Change an asset's criticality, patchability, controls or zone (audited)",
)
def update_asset(access: Writer, db: Db, asset_id: Id, patch: AssetPatch) -> AssetUpdateOut:
    asset = _asset(db, access, asset_id)
    changes = edit_asset(db, asset, patch.edit())
    if changes:
        append(db, access.event("asset.updated", target=f"asset:{asset.id}", changes=changes))
    zones = views.zone_names(db, access.organisation_id)
    return AssetUpdateOut(asset=AssetOut.of(asset, zones), changes=changes)


@router.get("/assets/{asset_id}/endpoints", summary="Network endpoints of one asset")
def list_asset_endpoints(
    access: Reader, db: Db, asset_id: Id, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[EndpointOut]:
    _asset(db, access, asset_id)
    stmt = views.endpoints_query(access.organisation_id, asset_id=asset_id)
    return paginate(db, stmt, Endpoint.id, cursor=cursor, limit=limit, convert=EndpointOut.of)


@router.get("/assets/{asset_id}/components", summary="Software components of one asset")
def list_asset_components(
    access: Reader, db: Db, asset_id: Id, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[ComponentOut]:
    _asset(db, access, asset_id)
    stmt = views.components_query(access.organisation_id, asset_id=asset_id)
    return paginate(db, stmt, Component.id, cursor=cursor, limit=limit, convert=ComponentOut.of)


@router.get("/endpoints", summary="Network endpoints, by port or state")
def list_endpoints(
    access: Reader,
    db: Db,
    port: Annotated[int | None, Query(ge=0, le=65535)] = None,
    state: EndpointState | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EndpointOut]:
    stmt = views.endpoints_query(
        access.organisation_id, port=port, state=state.value if state else None
    )
    return paginate(db, stmt, Endpoint.id, cursor=cursor, limit=limit, convert=EndpointOut.of)


@router.get("/components", summary="Software components, by name")
def list_components(
    access: Reader,
    db: Db,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Part of a name")] = (
        None
    ),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ComponentOut]:
    stmt = views.components_query(access.organisation_id, search=q)
    return paginate(db, stmt, Component.id, cursor=cursor, limit=limit, convert=ComponentOut.of)


@router.get("/services", summary="Clinical services and what they depend on")
def list_services(
    access: Reader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[ServiceOut]:
    stmt = views.services_query(access.organisation_id)
    page = paginate(db, stmt, ClinicalService.id, cursor=cursor, limit=limit, convert=_same)
    links = views.service_links(db, access.organisation_id, [s.id for s in page.items])
    return Page[ServiceOut](
        items=[ServiceOut.of(s, links.get(s.id)) for s in page.items], next=page.next
    )


@router.get("/services/{service_id}", summary="One clinical service")
def get_service(access: Reader, db: Db, service_id: Id) -> ServiceOut:
    service = views.service_in(db, access.organisation_id, service_id)
    if service is None:
        raise ProblemError(404, f"no clinical service {service_id}", slug="not-found")
    links = views.service_links(db, access.organisation_id, [service.id])
    return ServiceOut.of(service, links.get(service.id))


@router.get("/staff-groups", summary="Staff groups and the workstations they use")
def list_staff_groups(
    access: Reader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[StaffGroupOut]:
    stmt = views.staff_groups_query(access.organisation_id)
    page = paginate(db, stmt, StaffGroup.id, cursor=cursor, limit=limit, convert=_same)
    stations = views.staff_workstations(db, access.organisation_id, [g.id for g in page.items])
    return Page[StaffGroupOut](
        items=[StaffGroupOut.of(g, stations.get(g.id, ())) for g in page.items], next=page.next
    )


def _same(row: T) -> T:
    """Keep the ORM row: its page is described in bulk afterwards (no query per row)."""
    return row
