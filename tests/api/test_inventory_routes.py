"""Inventory routes: lists with filters and cursors, details, the audited asset edit, scoping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from panacea.identity.roles import Role
from panacea.inventory.assets import Asset
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, problem, small_hospital, walk


def _base(org_id: int) -> str:
    return f"/api/v1/orgs/{org_id}"


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_assets_filter_by_kind_zone_department_and_search(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    client = api_world.session_client(api_world.user("viewer@a.example", {a: Role.VIEWER}))
    base = _base(a)

    def names(**params: Any) -> list[str]:
        response = client.get(f"{base}/assets", params=params)
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["items"])

    everything = names()
    assert everything == ["ehr-db-01", "infusion-gw-01", "pacs-01", "vpn-gw-01", "ws-ed-001"]
    zones = _by_name(client.get(f"{base}/zones").json()["items"])
    assert names(kind="server") == ["ehr-db-01", "pacs-01"]
    assert names(zone_id=zones["clinical-lan"]["id"]) == ["ehr-db-01", "pacs-01", "ws-ed-001"]
    assert names(department="it") == ["ehr-db-01"]
    assert names(q="10.16.0.2") == ["ehr-db-01"]  # an address
    assert names(q="00:50:56:12") == ["ehr-db-01"]  # a MAC, whatever the case
    assert names(q="EHR-DB") == ["ehr-db-01"]  # a name
    assert names(q="hospital.local") == ["ehr-db-01"]  # a hostname
    assert names(q="%") == []  # a literal, not a LIKE wildcard
    assert names(kind="server", q="pacs") == ["pacs-01"]
    problem(client.get(f"{base}/assets", params={"kind": "toaster"}), 422)

    ehr = _by_name(client.get(f"{base}/assets").json()["items"])["ehr-db-01"]
    assert ehr["zone"] == "clinical-lan"
    assert ehr["patchable"] == "vendor_approval"
    assert {(x["kind"], x["value"]) for x in ehr["addresses"]} == {
        ("ipv4", "10.16.0.20"),
        ("mac", "00:50:56:12:34:56"),
    }
    assert client.get(f"{base}/assets/{ehr['id']}").json() == ehr


def test_every_list_walks_with_cursors_once_in_id_order(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    client = api_world.session_client(api_world.user("viewer@a.example", {a: Role.VIEWER}))
    expected = {
        "assets": 5,
        "zones": 6,
        "rules": 4,
        "endpoints": 4,
        "components": 1,
        "services": 4,
        "staff-groups": 1,
    }
    for path, count in expected.items():
        whole = client.get(f"{_base(a)}/{path}").json()
        walked = walk(client, f"{_base(a)}/{path}", limit=2)
        ids = [item["id"] for item in walked]
        assert ids == sorted(ids), path
        assert len(ids) == len(set(ids)) == count, path
        assert walked == whole["items"], path
        assert whole["next"] is None
    assert problem(client.get(f"{_base(a)}/assets", params={"cursor": "bm9wZQ"}), 400)
    problem(client.get(f"{_base(a)}/assets", params={"limit": 0}), 422)


def test_rules_services_staff_groups_endpoints_and_components(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    client = api_world.session_client(api_world.user("viewer@a.example", {a: Role.VIEWER}))
    base = _base(a)
    rules = client.get(f"{base}/rules").json()["items"]
    assert {(r["from_zone"], r["to_zone"], r["ports"]) for r in rules} == {
        ("internet", "dmz", "443"),
        ("dmz", "clinical-lan", "443,1433"),
        ("vpn-pool", "clinical-lan", "443,445,3389"),
        ("clinical-lan", "device-vlan", "104,2575"),
    }
    assets = _by_name(client.get(f"{base}/assets").json()["items"])
    ehr, pacs, ws = assets["ehr-db-01"], assets["pacs-01"], assets["ws-ed-001"]
    ports = client.get(f"{base}/assets/{ehr['id']}/endpoints").json()["items"]
    assert sorted(e["port"] for e in ports) == [445, 1433]
    assert {
        e["port"] for e in client.get(f"{base}/endpoints", params={"port": 104}).json()["items"]
    } == {104}
    components = client.get(f"{base}/assets/{pacs['id']}/components").json()["items"]
    assert [(c["name"], c["version"]) for c in components] == [("dcmtk", "3.6.6")]
    assert client.get(f"{base}/components", params={"q": "DCM"}).json()["items"] == components
    assert client.get(f"{base}/components", params={"q": "openssl"}).json()["items"] == []

    services = {s["key"]: s for s in client.get(f"{base}/services").json()["items"]}
    triage = services["emergency_triage"]
    assert triage["depends_on"] == ["ehr"]
    assert triage["patient_safety"] == "critical"
    assert triage["assets"] == [
        {
            "asset_id": ws["id"],
            "asset": "ws-ed-001",
            "needs": "A",
            "redundancy_group": "ed-workstations",
            "k": 1,
        }
    ]
    assert [x["needs"] for x in services["infusion_therapy"]["assets"]] == ["IA"]
    assert client.get(f"{base}/services/{triage['id']}").json() == triage

    (nurses,) = client.get(f"{base}/staff-groups").json()["items"]
    assert nurses["name"] == "Emergency nurses"
    assert nurses["size"] == 140
    assert nurses["workstations"] == [{"asset_id": ws["id"], "zone_id": None}]

    summary = client.get(f"{base}/inventory/summary").json()
    assert summary["assets_by_kind"] == {
        "medical_device": 1,
        "network_device": 1,
        "server": 2,
        "workstation": 1,
    }
    assert summary["endpoints_open"] == 4
    assert summary["unpatchable_assets"] == 1


def test_asset_edit_is_audited_checked_and_permissioned(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    b = small_hospital(api_world, "Hospital B")
    operator = api_world.session_client(api_world.user("op@a.example", {a: Role.IT_OPERATOR}))
    viewer = api_world.session_client(api_world.user("viewer@a.example", {a: Role.VIEWER}))
    base = _base(a)
    pacs = _by_name(operator.get(f"{base}/assets").json()["items"])["pacs-01"]
    zones = _by_name(operator.get(f"{base}/zones").json()["items"])
    foreign_zone = _by_name(
        api_world.session_client(api_world.user("b@b.example", {b: Role.VIEWER}))
        .get(f"{_base(b)}/zones")
        .json()["items"]
    )["dmz"]
    url = f"{base}/assets/{pacs['id']}"

    response = operator.patch(
        url,
        json={"criticality": "high", "controls": ["edr", "backups"], "zone_id": zones["dmz"]["id"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["asset"]["criticality"] == "high"
    assert body["asset"]["controls"] == ["backups", "edr"]
    assert body["asset"]["zone"] == "dmz"
    assert body["changes"] == {
        "criticality": {"old": "medium", "new": "high"},
        "controls": {"old": [], "new": ["backups", "edr"]},
        "zone_id": {"old": zones["clinical-lan"]["id"], "new": zones["dmz"]["id"]},
    }
    (entry,) = audit_of(api_world, a, "asset.updated")
    assert entry.target == f"asset:{pacs['id']}"
    assert entry.actor == "op@a.example"
    assert entry.details["changes"] == body["changes"]

    # The same values again change nothing and record nothing.
    again = operator.patch(url, json={"criticality": "high"})
    assert again.json()["changes"] == {}
    assert len(audit_of(api_world, a, "asset.updated")) == 1

    # Another organisation's zone is refused like a zone that does not exist.
    refused = problem(operator.patch(url, json={"zone_id": foreign_zone["id"]}), 422)
    assert f"no zone {foreign_zone['id']}" in refused["detail"]
    problem(operator.patch(url, json={}), 422)
    problem(operator.patch(url, json={"criticality": None}), 422)
    problem(operator.patch(url, json={"owner": "x"}), 422)
    problem(viewer.patch(url, json={"criticality": "low"}), 403)

    unzoned = operator.patch(url, json={"zone_id": None}).json()["asset"]
    assert (unzoned["zone_id"], unzoned["zone"]) == (None, None)
    with api_world.sessions() as s:
        stored = s.scalars(select(Asset).where(Asset.id == pacs["id"])).one()
        assert (stored.criticality, stored.zone_id) == ("high", None)


def test_other_organisations_objects_are_404_and_never_listed(api_world: ApiWorld) -> None:
    a = small_hospital(api_world, "Hospital A")
    b = small_hospital(api_world, "Hospital B")
    client_a = api_world.session_client(api_world.user("op@a.example", {a: Role.IT_OPERATOR}))
    client_b = api_world.session_client(api_world.user("op@b.example", {b: Role.IT_OPERATOR}))
    for path in ("assets", "zones", "rules", "endpoints", "components", "services", "staff-groups"):
        ids_a = {x["id"] for x in walk(client_a, f"{_base(a)}/{path}", 100)}
        ids_b = {x["id"] for x in walk(client_b, f"{_base(b)}/{path}", 100)}
        assert ids_a, path
        assert ids_b, path
        assert not ids_a & ids_b, path
    b_asset = walk(client_b, f"{_base(b)}/assets", 100)[0]
    b_service = walk(client_b, f"{_base(b)}/services", 100)[0]
    for url in (
        f"{_base(a)}/assets/{b_asset['id']}",
        f"{_base(a)}/assets/{b_asset['id']}/endpoints",
        f"{_base(a)}/assets/{b_asset['id']}/components",
        f"{_base(a)}/services/{b_service['id']}",
        f"{_base(b)}/assets",  # not a member of B at all
    ):
        problem(client_a.get(url), 404)
    problem(client_a.patch(f"{_base(a)}/assets/{b_asset['id']}", json={"criticality": "low"}), 404)
    assert client_b.get(f"{_base(b)}/assets/{b_asset['id']}").json() == b_asset
    assert audit_of(api_world, a, "asset.updated") == []
