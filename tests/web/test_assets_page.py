"""The assets pages: server-side paging, sorting and filtering, the detail, the scoping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panacea.findings.views import list_findings
from panacea.identity.roles import Role
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.network import Zone
from panacea.web.asset_rows import (
    AssetQuery,
    asset_detail,
    asset_page,
    filter_choices,
    finding_summary,
)
from panacea.web.table_paging import DEFAULT_PAGE_SIZE, MAX_PAGE, TableRequest
from tests.api.conftest import ApiWorld
from tests.api.hospital import small_hospital
from tests.web.conftest import elements, find, signed_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")
SORTABLE = ("name", "id", "kind")
EXTRA_ASSETS = 23


def _names(world: ApiWorld, org: int, query: AssetQuery, request: TableRequest) -> list[str]:
    with world.sessions() as db:
        return [row["name"] for row in asset_page(db, org, query, request).rows]


def _add_assets(world: ApiWorld, org: int, count: int) -> None:
    with world.sessions.begin() as db:
        for n in range(count):
            db.add(Asset(organisation_id=org, name=f"zz-ward-{n:03d}", kind="workstation"))


def test_table_request_keeps_only_what_the_table_offers() -> None:
    request = TableRequest.of(
        {"page": True, "rowsPerPage": 13, "sortBy": "password_hash", "descending": "yes"},
        sortable=SORTABLE,
        default_sort="name",
    )
    assert request == TableRequest(1, DEFAULT_PAGE_SIZE, "name", False)
    far = TableRequest.of(
        {"page": 10**9, "rowsPerPage": 50, "sortBy": "kind", "descending": True},
        sortable=SORTABLE,
        default_sort="name",
    )
    assert far == TableRequest(MAX_PAGE, 50, "kind", True)
    assert TableRequest.of({"page": -3}, sortable=SORTABLE, default_sort="id").page == 1
    assert far.pagination(7)["rowsNumber"] == 7


def test_pages_cover_every_asset_once_in_order(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    _add_assets(api_world, org, EXTRA_ASSETS)
    with api_world.sessions() as db:
        everything = sorted(db.scalars(select(Asset.name).where(Asset.organisation_id == org)))
        first = asset_page(db, org, AssetQuery(), TableRequest(1, 10, "name", False))
    assert first.total == len(everything) == EXTRA_ASSETS + 5
    pages = [
        _names(api_world, org, AssetQuery(), TableRequest(page, 10, "name", False))
        for page in range(1, 4)  # 28 assets: pages of 10, 10 and 8
    ]
    assert [name for page in pages for name in page] == everything
    descending = _names(api_world, org, AssetQuery(), TableRequest(1, 10, "name", True))
    assert descending == everything[::-1][:10]
    # Past the end (a filter shrank the set): the last page, not an empty one.
    with api_world.sessions() as db:
        past = asset_page(db, org, AssetQuery(), TableRequest(40, 10, "name", False))
    assert past.request.page == 3
    assert [r["name"] for r in past.rows] == everything[20:]


def test_sorting_by_kind_and_zone_breaks_ties_by_id(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    with api_world.sessions() as db:
        rows = asset_page(db, org, AssetQuery(), TableRequest(1, 10, "kind", False)).rows
        zones = asset_page(db, org, AssetQuery(), TableRequest(1, 10, "zone", True)).rows
    keys = [(r["kind"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    zone_keys = [(r["zone"], r["id"]) for r in zones]
    assert zone_keys == sorted(zone_keys, reverse=True)


def test_filters_match_the_inventory_and_the_findings(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    page = TableRequest(1, 100, "name", False)
    with api_world.sessions() as db:
        choices = filter_choices(db, org)
        dmz = db.scalar(select(Zone.id).where(Zone.organisation_id == org, Zone.name == "dmz"))
        open_findings = list_findings(db, org, statuses=frozenset({"open"}))
        servers = asset_page(db, org, AssetQuery(kind="server"), page).rows
        in_dmz = asset_page(db, org, AssetQuery(zone_id=dmz), page).rows
        searched = asset_page(db, org, AssetQuery(search="EHR"), page).rows
        kev = asset_page(db, org, AssetQuery(open_kev=True), page).rows
    assert "server" in choices.kinds
    assert servers
    assert all(r["kind"] == "server" for r in servers)
    assert in_dmz
    assert all(r["zone"] == "dmz" for r in in_dmz)
    assert searched
    assert all("ehr" in r["name"] for r in searched)
    expected_kev = {f.asset_id for f in open_findings if f.kev}
    assert expected_kev, "the documented hospital has open KEV findings"
    assert {r["id"] for r in kev} == expected_kev
    assert all(r["kev"] == "KEV" for r in kev)


def test_finding_columns_summarise_open_findings(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    with api_world.sessions() as db:
        open_findings = list_findings(db, org, statuses=frozenset({"open"}))
        ids = sorted({f.asset_id for f in open_findings})
        summary = finding_summary(db, org, ids)
    for asset_id in ids:
        mine = [f for f in open_findings if f.asset_id == asset_id]
        assert summary[asset_id].open == len(mine)
        scores = [f.cvss for f in mine if f.cvss is not None]
        assert summary[asset_id].max_cvss == (max(scores) if scores else None)
        assert summary[asset_id].kev == any(f.kev for f in mine)


def test_another_organisation_is_never_seen(api_world: ApiWorld) -> None:
    mine = small_hospital(api_world, "Hospital A")
    theirs = small_hospital(api_world, "Hospital B")
    request = TableRequest(1, 100, "id", False)
    with api_world.sessions() as db:
        my_ids = {r["id"] for r in asset_page(db, mine, AssetQuery(), request).rows}
        their_ids = {r["id"] for r in asset_page(db, theirs, AssetQuery(), request).rows}
        assert my_ids
        assert their_ids
        assert not my_ids & their_ids
        stranger = min(their_ids)
        assert asset_detail(db, mine, stranger) is None
        assert finding_summary(db, mine, sorted(their_ids)) == {}


def test_asset_detail_lists_endpoints_and_counts(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    with api_world.sessions() as db:
        asset = db.scalars(
            select(Asset).where(Asset.organisation_id == org).order_by(Asset.name)
        ).first()
        assert asset is not None
        detail = asset_detail(db, org, asset.id)
        ports = sorted(db.scalars(select(Endpoint.port).where(Endpoint.asset_id == asset.id)).all())
    assert detail is not None
    assert detail.fields["name"] == asset.name
    assert [e["port"] for e in detail.endpoints] == ports
    assert detail.endpoint_count == len(ports)


def test_assets_page_and_detail_over_http(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    other = small_hospital(api_world, "Hospital B")
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    tree = elements(viewer.get("/assets?kind=server&kev=true"))
    for testid in ("assets-table", "assets-kind", "assets-zone", "assets-search", "assets-kev"):
        assert find(tree, testid) is not None, testid
    kind = find(tree, "assets-kind")
    assert kind is not None
    assert kind["props"]["model-value"]["label"] == "server"
    with api_world.sessions() as db:
        own = db.scalar(select(Asset.id).where(Asset.organisation_id == org))
        foreign = db.scalar(select(Asset.id).where(Asset.organisation_id == other))
    detail = elements(viewer.get(f"/assets/{own}"))
    assert find(detail, "asset-detail") is not None
    assert find(detail, "asset-probability") is not None
    missing = elements(viewer.get(f"/assets/{foreign}"))
    assert find(missing, "asset-detail") is None
    assert find(missing, "asset-missing") is not None
