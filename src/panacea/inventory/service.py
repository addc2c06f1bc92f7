"""Service functions over the inventory tables. Plain functions taking a Session."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset, AssetAddress, Endpoint
from panacea.inventory.errors import InventoryError, UnknownAssetError, UnknownOrganisationError
from panacea.inventory.network import Zone
from panacea.inventory.organisation import Organisation
from panacea.inventory.vocabulary import AddressKind, Control, Criticality, Patchable


def get_organisation(session: Session, name: str) -> Organisation:
    """Return the organisation called ``name``; raise UnknownOrganisationError if there is none."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise UnknownOrganisationError(name)
    return org


def ensure_organisation(session: Session, name: str) -> Organisation:
    """Return the organisation called ``name``, creating it if needed."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name)
        session.add(org)
        session.flush()
    return org


def get_asset(session: Session, organisation: Organisation, ref: str) -> Asset:
    """Return the asset with id or name ``ref`` in ``organisation``; raise UnknownAssetError."""
    query = select(Asset).where(Asset.organisation_id == organisation.id)
    asset = None
    if ref.isdigit():
        asset = session.scalar(query.where(Asset.id == int(ref)))
    if asset is None:
        asset = session.scalar(query.where(Asset.name == ref))
    if asset is None:
        raise UnknownAssetError(ref, organisation.name)
    return asset


def address_kind(value: str) -> AddressKind:
    """Classify an address string; raise ValueError if it is neither an IP nor a MAC."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        parts = value.replace("-", ":").split(":")
        if len(parts) == 6 and all(len(p) == 2 for p in parts):
            int("".join(parts), 16)
            return AddressKind.MAC
        raise ValueError(f"not an IP or MAC address: {value!r}") from None
    return AddressKind.IPV4 if ip.version == 4 else AddressKind.IPV6


def normalise_address(value: str) -> str:
    """Canonical text of an address: compressed IP, upper-case colon-separated MAC."""
    kind = address_kind(value)
    if kind is AddressKind.MAC:
        return value.replace("-", ":").upper()
    return str(ipaddress.ip_address(value))


def find_asset_by_addresses(
    session: Session,
    organisation_id: int,
    *,
    macs: Iterable[str] = (),
    ips: Iterable[str] = (),
    hostname: str | None = None,
) -> Asset | None:
    """Find the asset a scanned host is: by MAC first, then by IP (and hostname if both known).

    An IP alone matches when the stored asset has no hostname or the same one, since DHCP may
    have given the address to another machine with another name.
    """
    for mac in macs:
        asset = _asset_with_address(session, organisation_id, normalise_address(mac))
        if asset is not None:
            return asset
    for ip in ips:
        asset = _asset_with_address(session, organisation_id, normalise_address(ip))
        if asset is None:
            continue
        if hostname is None or asset.hostname is None or asset.hostname == hostname:
            return asset
    if hostname is not None:
        return session.scalar(
            select(Asset).where(
                Asset.organisation_id == organisation_id, Asset.hostname == hostname
            )
        )
    return None


def _asset_with_address(session: Session, organisation_id: int, value: str) -> Asset | None:
    return session.scalar(
        select(Asset)
        .join(AssetAddress, AssetAddress.asset_id == Asset.id)
        .where(AssetAddress.organisation_id == organisation_id, AssetAddress.value == value)
    )


def set_address(
    session: Session, asset: Asset, value: str, *, vendor: str | None = None
) -> AssetAddress:
    """Attach the address ``value`` to ``asset``, moving it from another asset if needed."""
    canonical = normalise_address(value)
    existing = session.scalar(
        select(AssetAddress).where(
            AssetAddress.organisation_id == asset.organisation_id, AssetAddress.value == canonical
        )
    )
    if existing is None:
        existing = AssetAddress(
            organisation_id=asset.organisation_id,
            kind=address_kind(canonical).value,
            value=canonical,
            vendor=vendor,
        )
        asset.addresses.append(existing)
    elif existing.asset_id != asset.id:
        existing.asset = asset
    if vendor:
        existing.vendor = vendor
    return existing


def upsert_endpoint(
    session: Session,
    asset: Asset,
    *,
    port: int,
    protocol: str,
    seen_at: datetime,
    service: str | None = None,
    product: str | None = None,
    version: str | None = None,
    cpe: str | None = None,
) -> tuple[Endpoint, bool]:
    """Create or update endpoint ``port/protocol`` of ``asset`` as open; return (it, created)."""
    endpoint = session.scalar(
        select(Endpoint).where(
            Endpoint.asset_id == asset.id, Endpoint.port == port, Endpoint.protocol == protocol
        )
    )
    created = endpoint is None
    if endpoint is None:
        endpoint = Endpoint(
            organisation_id=asset.organisation_id,
            asset_id=asset.id,
            port=port,
            protocol=protocol,
            first_seen=seen_at,
        )
        session.add(endpoint)
    endpoint.state = "open"
    endpoint.last_seen = seen_at
    endpoint.service = service or endpoint.service
    endpoint.product = product or endpoint.product
    endpoint.version = version or endpoint.version
    endpoint.cpe = cpe or endpoint.cpe
    session.flush()
    return endpoint, created


@dataclass(frozen=True)
class ZoneChoice:
    """The zone an asset is moved to; ``zone_id`` None takes it out of every zone."""

    zone_id: int | None


@dataclass(frozen=True)
class AssetEdit:
    """What a person changes on an asset; a None field is left as it is."""

    criticality: Criticality | None = None
    patchable: Patchable | None = None
    controls: frozenset[Control] | None = None
    zone: ZoneChoice | None = None


def edit_asset(session: Session, asset: Asset, edit: AssetEdit) -> dict[str, dict[str, Any]]:
    """Apply ``edit`` to ``asset``; return ``{field: {"old": ..., "new": ...}}`` of what changed.

    Raises InventoryError if the zone is not one of the asset's organisation (the same message
    whether it exists elsewhere or not at all).
    """
    changes: dict[str, dict[str, Any]] = {}

    def put(name: str, old: Any, new: Any) -> None:
        if old != new:
            changes[name] = {"old": old, "new": new}
            setattr(asset, name, new)

    if edit.criticality is not None:
        put("criticality", asset.criticality, edit.criticality.value)
    if edit.patchable is not None:
        put("patchable", asset.patchable, edit.patchable.value)
    if edit.controls is not None:
        put("controls", list(asset.controls), sorted(c.value for c in edit.controls))
    if edit.zone is not None:
        zone_id = edit.zone.zone_id
        if zone_id is not None and not _zone_of(session, asset.organisation_id, zone_id):
            raise InventoryError(f"zone_id: no zone {zone_id} in this organisation")
        put("zone_id", asset.zone_id, zone_id)
    session.flush()
    return changes


def _zone_of(session: Session, organisation_id: int, zone_id: int) -> bool:
    found = session.scalar(
        select(Zone.id).where(Zone.id == zone_id, Zone.organisation_id == organisation_id)
    )
    return found is not None


def organisation_by_id(session: Session, organisation_id: int) -> Organisation:
    """The organisation with id ``organisation_id``; raise UnknownOrganisationError if none."""
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise UnknownOrganisationError(str(organisation_id))
    return org
