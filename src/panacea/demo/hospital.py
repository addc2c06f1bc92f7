"""Builds the demo hospital as an inventory document (the same shape a hospital's file has).

``build_demo(seed=..., assets=...)`` is deterministic for a seed. The named core systems carry the
planted weaknesses (SSL-VPN, Citrix, Exchange, the EHR database on Windows Server 2008 R2, Mirth
Connect, DCMTK, infusion gateway...); generated workstations, servers and devices fill the rest
up to ``assets`` in realistic proportions.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from typing import TypeVar

from panacea.demo.catalogue import DEVICE_MIX, SERVER_MIX, WORKSTATION_MIX, DeviceProfile, OsProfile
from panacea.demo.core import core_assets, validated
from panacea.demo.organisation import (
    ACCOUNTS,
    DEPARTMENTS,
    RULES,
    ZONES,
    services,
    staff_groups,
)
from panacea.inventory.importers.inventory_schema import AssetSpec, InventoryDocument

DEFAULT_ASSETS = 300
MIN_ASSETS = 60
T = TypeVar("T")

SUBNETS = {
    "dmz": "10.10.0.0/16",
    "vendor-access": "10.11.0.0/16",
    "clinical-lan": "10.16.0.0/14",
    "device-vlan": "10.32.0.0/14",
    "admin-lan": "10.40.0.0/16",
    "management": "10.50.0.0/16",
}
OUIS = {
    "BD": "00:0E:8C",
    "GE Healthcare": "00:00:F0",
    "Siemens Healthineers": "00:1B:1B",
    "Philips": "00:09:FB",
    "Axis": "00:40:8C",
    "HID": "00:06:8E",
    "HP": "3C:D9:2B",
    "B. Braun": "00:1C:7E",
}


class _Addresses:
    """Hands out unique addresses per zone and MACs, deterministically."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next: dict[str, int] = {}
        self._macs: set[str] = set()

    def ip(self, zone: str) -> str:
        network = ipaddress.ip_network(SUBNETS[zone])
        index = self._next.get(zone, 10)
        self._next[zone] = index + 1
        return str(network.network_address + index)

    def mac(self, manufacturer: str | None) -> str:
        prefix = OUIS.get(manufacturer or "", "00:50:56")
        while True:
            tail = ":".join(f"{self._rng.randrange(256):02X}" for _ in range(3))
            mac = f"{prefix}:{tail}"
            if mac not in self._macs:
                self._macs.add(mac)
                return mac


def _pick(rng: random.Random, mix: Sequence[tuple[T, float]]) -> T:
    items, weights = zip(*mix, strict=True)
    chosen: T = rng.choices(items, weights=weights, k=1)[0]
    return chosen


def build_demo(
    *, seed: int = 7, assets: int = DEFAULT_ASSETS, organisation: str = "Demo General Hospital"
) -> InventoryDocument:
    """The demo hospital with about ``assets`` assets (at least MIN_ASSETS)."""
    if assets < MIN_ASSETS:
        raise ValueError(f"the demo hospital needs at least {MIN_ASSETS} assets, not {assets}")
    rng = random.Random(seed)
    addresses = _Addresses(rng)
    specs = [_with_addresses(fields, addresses) for fields in core_assets()]
    remaining = assets - len(specs)
    specs += _workstations(rng, addresses, int(remaining * 0.55))
    specs += _servers(rng, addresses, int(remaining * 0.10))
    specs += _devices(rng, addresses, assets - len(specs))
    return InventoryDocument.model_validate(
        {
            "organisation": organisation,
            "zones": ZONES,
            "rules": RULES,
            "assets": specs,
            "accounts": ACCOUNTS,
            "staff_groups": staff_groups(specs),
            "services": services(specs),
        }
    )


def _with_addresses(fields: dict[str, object], addresses: _Addresses) -> AssetSpec:
    zone = str(fields["zone"])
    manufacturer = fields.get("manufacturer")
    return validated(
        fields,
        ip=[addresses.ip(zone)],
        mac=[addresses.mac(manufacturer if isinstance(manufacturer, str) else None)],
    )


def _workstations(rng: random.Random, addresses: _Addresses, count: int) -> list[AssetSpec]:
    out = []
    for i in range(count):
        department, zone, code = DEPARTMENTS[i % len(DEPARTMENTS)]
        profile: OsProfile = _pick(rng, WORKSTATION_MIX)
        name = f"ws-{code}-{i + 1:05d}"
        controls = ["edr"] if rng.random() < 0.6 else []
        out.append(
            AssetSpec(
                name=name,
                kind="workstation",
                zone=zone,
                hostname=f"{name}.hospital.local",
                ip=[addresses.ip(zone)],
                mac=[addresses.mac(None)],
                os=profile.name,
                os_cpe=profile.os_cpe,
                department=department,
                criticality="medium",
                controls=controls,
                endpoints=list(profile.endpoints),
                components=list(profile.components),
            )
        )
    return out


def _servers(rng: random.Random, addresses: _Addresses, count: int) -> list[AssetSpec]:
    out = []
    for i in range(count):
        profile: OsProfile = _pick(rng, SERVER_MIX)
        zone = "clinical-lan" if i % 3 else "admin-lan"
        name = f"srv-{i + 1:05d}"
        out.append(
            AssetSpec(
                name=name,
                kind="server",
                zone=zone,
                hostname=f"{name}.hospital.local",
                ip=[addresses.ip(zone)],
                mac=[addresses.mac(None)],
                os=profile.name,
                os_cpe=profile.os_cpe,
                department="IT",
                criticality="medium",
                controls=["backups"] + (["edr"] if rng.random() < 0.7 else []),
                endpoints=list(profile.endpoints),
                components=list(profile.components),
            )
        )
    return out


def _devices(rng: random.Random, addresses: _Addresses, count: int) -> list[AssetSpec]:
    out = []
    for i in range(count):
        profile: DeviceProfile = _pick(rng, DEVICE_MIX)
        zone = "device-vlan" if profile.kind == "medical_device" else "clinical-lan"
        slug = profile.label.replace(" ", "-").lower()
        name = f"{slug}-{i + 1:05d}"
        out.append(
            AssetSpec(
                name=name,
                kind=profile.kind,
                zone=zone,
                ip=[addresses.ip(zone)],
                mac=[addresses.mac(profile.manufacturer)],
                os=profile.os,
                os_cpe=profile.os_cpe,
                manufacturer=profile.manufacturer,
                model=profile.model,
                firmware=profile.firmware,
                department=profile.department,
                criticality="high",
                patchable=profile.patchable,
                endpoints=list(profile.endpoints),
                components=list(profile.components),
            )
        )
    return out
