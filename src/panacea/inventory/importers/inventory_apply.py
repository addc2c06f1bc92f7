"""Applying a validated inventory document to the stored inventory of one organisation.

Semantics (documented in docs/inventory.md): zones, assets, accounts, staff groups, services,
cost overrides and purl mappings are upserted by name (key for services); for each one in the
file, its nested lists (endpoints, components of source ``inventory``, logons, workstations,
dependencies) are replaced by the file's. ``rules``, when the file has that section, replace the
organisation's rules. Nothing absent from the file is deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset, AssetAddress, Component, Endpoint
from panacea.inventory.clinical import (
    ClinicalService,
    RedundancyGroup,
    ServiceAssetDependency,
    ServiceDependency,
)
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.importers.inventory_schema import (
    AccountSpec,
    AssetSpec,
    InventoryDocument,
    ServiceSpec,
    StaffGroupSpec,
)
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.overrides import MitigationCost, PurlCpeRule
from panacea.inventory.people import Account, AccountLogon, StaffGroup, StaffWorkstation
from panacea.inventory.service import address_kind, normalise_address


def _by(session: Session, entity: Any, key: str, organisation_id: int) -> dict[str, Any]:
    rows = session.scalars(select(entity).where(entity.organisation_id == organisation_id))
    return {getattr(row, key): row for row in rows}


def _upsert(
    session: Session, existing: dict[str, Any], key: str, entity: Any, values: dict[str, Any]
) -> tuple[Any, bool]:
    row = existing.get(key)
    created = row is None
    if row is None:
        row = entity(**values)
        session.add(row)
        existing[key] = row
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row, created


def apply_document(
    session: Session, context: ImportContext, doc: InventoryDocument, report: ImportReport
) -> None:
    """Write ``doc`` into ``context.organisation``; count what changed in ``report``."""
    org_id = context.organisation.id
    zones = _apply_zones(session, org_id, doc)
    if "rules" in doc.model_fields_set:
        _apply_rules(session, org_id, doc, zones)
    assets = _apply_assets(session, context, doc, zones, report)
    accounts = _apply_accounts(session, org_id, doc.accounts, zones, assets)
    _apply_staff(session, org_id, doc.staff_groups, zones, assets, accounts)
    _apply_services(session, org_id, doc.services, assets)
    _apply_overrides(session, org_id, doc)
    session.flush()
    report.records = len(doc.assets)


def _apply_zones(session: Session, org_id: int, doc: InventoryDocument) -> dict[str, Zone]:
    zones: dict[str, Zone] = _by(session, Zone, "name", org_id)
    for spec in doc.zones:
        values = spec.model_dump()
        _upsert(session, zones, spec.name, Zone, {"organisation_id": org_id, **values})
    session.flush()
    return zones


def _apply_rules(
    session: Session, org_id: int, doc: InventoryDocument, zones: dict[str, Zone]
) -> None:
    stored = list(
        session.scalars(select(ReachabilityRule).where(ReachabilityRule.organisation_id == org_id))
    )
    fields = ("from_zone_id", "to_zone_id", "protocol", "ports")
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for spec in doc.rules:
        values = {
            "organisation_id": org_id,
            "from_zone_id": zones[spec.from_zone].id,
            "to_zone_id": zones[spec.to_zone].id,
            "protocol": spec.protocol.value,
            "ports": spec.ports,
            "description": spec.description,
        }
        wanted[_key(values, *fields)] = values
    _sync(session, ReachabilityRule, stored, fields, wanted)


def _asset_values(spec: AssetSpec, org_id: int, zones: dict[str, Zone]) -> dict[str, Any]:
    return {
        "organisation_id": org_id,
        "name": spec.name,
        "kind": spec.kind.value,
        "zone_id": zones[spec.zone].id if spec.zone else None,
        "remote_access_zone_id": (
            zones[spec.remote_access_zone].id if spec.remote_access_zone else None
        ),
        "hostname": spec.hostname,
        "os": spec.os,
        "os_cpe": spec.os_cpe,
        "manufacturer": spec.manufacturer,
        "model": spec.model,
        "firmware": spec.firmware,
        "department": spec.department,
        "criticality": spec.criticality.value,
        "patchable": spec.patchable.value,
        "controls": [c.value for c in spec.controls],
        "known_cves": sorted(set(spec.known_cves)),
    }


def _apply_assets(
    session: Session,
    context: ImportContext,
    doc: InventoryDocument,
    zones: dict[str, Zone],
    report: ImportReport,
) -> dict[str, Asset]:
    org_id = context.organisation.id
    assets: dict[str, Asset] = _by(session, Asset, "name", org_id)
    for spec in doc.assets:
        values = _asset_values(spec, org_id, zones)
        values["last_seen"] = context.started_at
        asset, created = _upsert(session, assets, spec.name, Asset, values)
        if created:
            asset.first_seen = context.started_at
            asset.source = "inventory"
        report.assets_added += created
        report.assets_updated += not created
    session.flush()
    _apply_addresses(session, org_id, doc.assets, assets)
    _apply_endpoints(session, context, doc.assets, assets, report)
    _apply_components(session, org_id, doc.assets, assets, report)
    report.touched_asset_ids.update(assets[spec.name].id for spec in doc.assets)
    return assets


def _apply_addresses(
    session: Session, org_id: int, specs: list[AssetSpec], assets: dict[str, Asset]
) -> None:
    stored = _by(session, AssetAddress, "value", org_id)
    for spec in specs:
        asset = assets[spec.name]
        for value in (*spec.ip, *spec.mac):
            canonical = normalise_address(value)
            row = stored.get(canonical)
            if row is None:
                row = AssetAddress(
                    organisation_id=org_id,
                    asset_id=asset.id,
                    kind=address_kind(canonical).value,
                    value=canonical,
                )
                session.add(row)
                stored[canonical] = row
            else:
                row.asset_id = asset.id


def _apply_endpoints(
    session: Session,
    context: ImportContext,
    specs: list[AssetSpec],
    assets: dict[str, Asset],
    report: ImportReport,
) -> None:
    ids = [assets[s.name].id for s in specs if s.endpoints]
    stored = {
        (e.asset_id, e.port, e.protocol): e
        for e in _rows_of_assets(session, Endpoint, Endpoint.asset_id, ids)
    }
    for spec in specs:
        asset = assets[spec.name]
        for ep in spec.endpoints:
            row = stored.get((asset.id, ep.port, ep.protocol))
            if row is None:
                row = Endpoint(
                    organisation_id=asset.organisation_id,
                    asset_id=asset.id,
                    port=ep.port,
                    protocol=ep.protocol,
                    first_seen=context.started_at,
                )
                session.add(row)
                stored[(asset.id, ep.port, ep.protocol)] = row
                report.endpoints_added += 1
            row.state = "open"
            row.last_seen = context.started_at
            row.service, row.product, row.version, row.cpe = (
                ep.service,
                ep.product,
                ep.version,
                ep.cpe,
            )


def _rows_of_assets(session: Session, entity: Any, column: Any, ids: list[int]) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(ids), 5000):  # stay under the bound-parameter limits
        chunk = ids[start : start + 5000]
        rows.extend(session.scalars(select(entity).where(column.in_(chunk))))
    return rows


def _apply_components(
    session: Session,
    org_id: int,
    specs: list[AssetSpec],
    assets: dict[str, Asset],
    report: ImportReport,
) -> None:
    ids = [assets[s.name].id for s in specs if s.components]
    stored: dict[tuple[Any, ...], Component] = {}
    for row in _rows_of_assets(session, Component, Component.asset_id, ids):
        if row.source == "inventory":
            stored[(row.asset_id, row.name, row.version, row.purl, row.cpe)] = row
    keep: set[int] = set()
    for spec in specs:
        asset = assets[spec.name]
        for c in spec.components:
            key = (asset.id, c.name, c.version, c.purl, c.cpe)
            row = stored.get(key)
            if row is None:
                row = Component(organisation_id=org_id, asset_id=asset.id, source="inventory")
                row.name, row.version, row.purl, row.cpe = c.name, c.version, c.purl, c.cpe
                session.add(row)
                stored[key] = row
                report.components_added += 1
            row.supplier = c.supplier
            keep.add(id(row))
    for row in stored.values():
        if id(row) not in keep:
            session.delete(row)


def _apply_accounts(
    session: Session,
    org_id: int,
    specs: list[AccountSpec],
    zones: dict[str, Zone],
    assets: dict[str, Asset],
) -> dict[str, Account]:
    accounts: dict[str, Account] = _by(session, Account, "name", org_id)
    for spec in specs:
        values = spec.model_dump(exclude={"logons"})
        values["kind"] = spec.kind.value
        _upsert(session, accounts, spec.name, Account, {"organisation_id": org_id, **values})
    session.flush()
    ids = [accounts[spec.name].id for spec in specs]
    stored = _rows_of_assets(session, AccountLogon, AccountLogon.account_id, ids)
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for spec in specs:
        account = accounts[spec.name]
        for logon in spec.logons:
            values = {
                "organisation_id": org_id,
                "account_id": account.id,
                "asset_id": assets[logon.asset].id if logon.asset else None,
                "zone_id": zones[logon.zone].id if logon.zone else None,
                "level": logon.level.value,
            }
            wanted[_key(values, "account_id", "asset_id", "zone_id", "level")] = values
    _sync(session, AccountLogon, stored, ("account_id", "asset_id", "zone_id", "level"), wanted)
    return accounts


def _apply_staff(
    session: Session,
    org_id: int,
    specs: list[StaffGroupSpec],
    zones: dict[str, Zone],
    assets: dict[str, Asset],
    accounts: dict[str, Account],
) -> None:
    groups: dict[str, StaffGroup] = _by(session, StaffGroup, "name", org_id)
    for spec in specs:
        values = spec.model_dump(exclude={"workstations"})
        _upsert(session, groups, spec.name, StaffGroup, {"organisation_id": org_id, **values})
    session.flush()
    ids = [groups[spec.name].id for spec in specs]
    stored = _rows_of_assets(session, StaffWorkstation, StaffWorkstation.staff_group_id, ids)
    fields = ("staff_group_id", "asset_id", "zone_id", "account_id")
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for spec in specs:
        for ws in spec.workstations:
            values = {
                "organisation_id": org_id,
                "staff_group_id": groups[spec.name].id,
                "asset_id": assets[ws.asset].id if ws.asset else None,
                "zone_id": zones[ws.zone].id if ws.zone else None,
                "account_id": accounts[ws.account].id if ws.account else None,
            }
            wanted[_key(values, *fields)] = values
    _sync(session, StaffWorkstation, stored, fields, wanted)


def _key(values: dict[str, Any], *fields: str) -> tuple[Any, ...]:
    return tuple(values[f] for f in fields)


def _sync(
    session: Session,
    entity: Any,
    stored: list[Any],
    fields: tuple[str, ...],
    wanted: dict[tuple[Any, ...], dict[str, Any]],
) -> None:
    """Make the rows ``stored`` exactly ``wanted`` (keyed by ``fields``), keeping equal rows."""
    existing = {tuple(getattr(row, f) for f in fields): row for row in stored}
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
    for key, values in wanted.items():
        row = existing.get(key)
        if row is None:
            session.add(entity(**values))
        else:
            for name, value in values.items():
                setattr(row, name, value)


def _apply_services(
    session: Session, org_id: int, specs: list[ServiceSpec], assets: dict[str, Asset]
) -> None:
    services: dict[str, ClinicalService] = _by(session, ClinicalService, "key", org_id)
    for spec in specs:
        values = spec.model_dump(exclude={"assets", "redundancy_groups", "depends_on"})
        values["patient_safety"] = spec.patient_safety.value
        _upsert(session, services, spec.key, ClinicalService, {"organisation_id": org_id, **values})
    session.flush()
    for spec in specs:
        _replace_service_dependencies(session, org_id, spec, services, assets)


def _replace_service_dependencies(
    session: Session,
    org_id: int,
    spec: ServiceSpec,
    services: dict[str, ClinicalService],
    assets: dict[str, Asset],
) -> None:
    service = services[spec.key]
    groups = _sync_groups(session, org_id, spec, service)
    deps = list(
        session.scalars(
            select(ServiceAssetDependency).where(ServiceAssetDependency.service_id == service.id)
        )
    )
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    base = {"organisation_id": org_id, "service_id": service.id}
    for dep in spec.assets:
        values = {**base, "asset_id": assets[dep.asset].id, "needs": dep.needs}
        wanted[(values["asset_id"],)] = {**values, "redundancy_group_id": None}
    for group_spec in spec.redundancy_groups:
        for name in group_spec.assets:
            values = {**base, "asset_id": assets[name].id, "needs": group_spec.needs}
            values["redundancy_group_id"] = groups[group_spec.name].id
            wanted[(values["asset_id"],)] = values
    _sync(session, ServiceAssetDependency, deps, ("asset_id",), wanted)
    stored = list(
        session.scalars(select(ServiceDependency).where(ServiceDependency.service_id == service.id))
    )
    wanted_services = {
        (services[key].id,): {**base, "depends_on_id": services[key].id} for key in spec.depends_on
    }
    _sync(session, ServiceDependency, stored, ("depends_on_id",), wanted_services)


def _sync_groups(
    session: Session, org_id: int, spec: ServiceSpec, service: ClinicalService
) -> dict[str, RedundancyGroup]:
    stored = {
        g.name: g
        for g in session.scalars(
            select(RedundancyGroup).where(RedundancyGroup.service_id == service.id)
        )
    }
    groups: dict[str, RedundancyGroup] = {}
    for group_spec in spec.redundancy_groups:
        group = stored.pop(group_spec.name, None)
        if group is None:
            group = RedundancyGroup(
                organisation_id=org_id, service_id=service.id, name=group_spec.name
            )
            session.add(group)
        group.k = group_spec.k
        groups[group_spec.name] = group
    for group in stored.values():
        session.delete(group)
    session.flush()
    return groups


def _apply_overrides(session: Session, org_id: int, doc: InventoryDocument) -> None:
    costs: dict[str, MitigationCost] = {
        f"{c.kind}|{c.target}": c for c in _by(session, MitigationCost, "id", org_id).values()
    }
    for spec in doc.mitigation_costs:
        values = {"organisation_id": org_id, **spec.model_dump()}
        values["kind"] = spec.kind.value
        _upsert(session, costs, f"{spec.kind.value}|{spec.target}", MitigationCost, values)
    rules: dict[str, PurlCpeRule] = {
        f"{r.purl_type}|{r.namespace}|{r.name}": r
        for r in _by(session, PurlCpeRule, "id", org_id).values()
    }
    for rule in doc.purl_cpe:
        key = f"{rule.purl_type}|{rule.namespace}|{rule.name}"
        _upsert(session, rules, key, PurlCpeRule, {"organisation_id": org_id, **rule.model_dump()})
