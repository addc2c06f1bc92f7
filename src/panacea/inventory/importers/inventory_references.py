"""Reference checks of an inventory file against itself and what is already stored."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.importers.inventory_schema import InventoryDocument
from panacea.inventory.network import Zone
from panacea.inventory.people import Account
from panacea.vulndb.cpe import CpeError, parse_cpe


class ReferenceError(Exception):
    """A name that refers to nothing, at ``loc`` (a pydantic-style location tuple)."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _stored(session: Session, column: object, organisation_id: int) -> set[str]:
    entity = column.class_  # type: ignore[attr-defined]
    return set(session.scalars(select(column).where(entity.organisation_id == organisation_id)))  # type: ignore[call-overload]


def _duplicates(names: Iterable[str], section: str, field: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ReferenceError((section, i, field), f"duplicate {field} {name!r}")
        seen.add(name)


def check_references(session: Session, organisation_id: int, doc: InventoryDocument) -> None:
    """Raise ReferenceError at the first unknown or duplicate name in ``doc``."""
    _duplicates((z.name for z in doc.zones), "zones", "name")
    _duplicates((a.name for a in doc.assets), "assets", "name")
    _duplicates((a.name for a in doc.accounts), "accounts", "name")
    _duplicates((s.key for s in doc.services), "services", "key")
    zones = {z.name for z in doc.zones} | _stored(session, Zone.name, organisation_id)
    assets = {a.name for a in doc.assets} | _stored(session, Asset.name, organisation_id)
    accounts = {a.name for a in doc.accounts} | _stored(session, Account.name, organisation_id)
    services = {s.key for s in doc.services} | _stored(
        session, ClinicalService.key, organisation_id
    )
    _check_rules(doc, zones)
    _check_assets(doc, zones)
    _check_people(doc, zones, assets, accounts)
    _check_services(doc, assets, services)


def _known(value: str | None, known: set[str], loc: tuple[int | str, ...], what: str) -> None:
    if value is not None and value not in known:
        raise ReferenceError(loc, f"unknown {what} {value!r}")


def _check_rules(doc: InventoryDocument, zones: set[str]) -> None:
    for i, rule in enumerate(doc.rules):
        _known(rule.from_zone, zones, ("rules", i, "from"), "zone")
        _known(rule.to_zone, zones, ("rules", i, "to"), "zone")


def _check_cpe(value: str | None, loc: tuple[int | str, ...]) -> None:
    if value is None:
        return
    try:
        parse_cpe(value)
    except CpeError as e:
        raise ReferenceError(loc, str(e)) from e


def _check_assets(doc: InventoryDocument, zones: set[str]) -> None:
    from panacea.inventory.service import normalise_address

    for i, asset in enumerate(doc.assets):
        _known(asset.zone, zones, ("assets", i, "zone"), "zone")
        _known(asset.remote_access_zone, zones, ("assets", i, "remote_access_zone"), "zone")
        _check_cpe(asset.os_cpe, ("assets", i, "os_cpe"))
        for field, values in (("ip", asset.ip), ("mac", asset.mac)):
            for j, value in enumerate(values):
                try:
                    normalise_address(value)
                except ValueError as e:
                    raise ReferenceError(("assets", i, field, j), str(e)) from e
        for j, endpoint in enumerate(asset.endpoints):
            _check_cpe(endpoint.cpe, ("assets", i, "endpoints", j, "cpe"))
        for j, component in enumerate(asset.components):
            _check_cpe(component.cpe, ("assets", i, "components", j, "cpe"))


def _check_people(
    doc: InventoryDocument, zones: set[str], assets: set[str], accounts: set[str]
) -> None:
    for i, account in enumerate(doc.accounts):
        for j, logon in enumerate(account.logons):
            _known(logon.asset, assets, ("accounts", i, "logons", j, "asset"), "asset")
            _known(logon.zone, zones, ("accounts", i, "logons", j, "zone"), "zone")
    for i, group in enumerate(doc.staff_groups):
        for j, ws in enumerate(group.workstations):
            loc: tuple[int | str, ...] = ("staff_groups", i, "workstations", j)
            _known(ws.asset, assets, (*loc, "asset"), "asset")
            _known(ws.zone, zones, (*loc, "zone"), "zone")
            _known(ws.account, accounts, (*loc, "account"), "account")


def _check_services(doc: InventoryDocument, assets: set[str], services: set[str]) -> None:
    for i, service in enumerate(doc.services):
        for j, dep in enumerate(service.assets):
            _known(dep.asset, assets, ("services", i, "assets", j, "asset"), "asset")
        for j, group in enumerate(service.redundancy_groups):
            for m, name in enumerate(group.assets):
                loc = ("services", i, "redundancy_groups", j, "assets", m)
                _known(name, assets, loc, "asset")
        for j, key in enumerate(service.depends_on):
            _known(key, services, ("services", i, "depends_on", j), "service")
            if key == service.key:
                raise ReferenceError(
                    ("services", i, "depends_on", j), "a service cannot depend on itself"
                )
