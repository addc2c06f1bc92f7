"""The inventory at the API boundary: what the inventory routes answer and accept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.people import StaffGroup
from panacea.inventory.service import AssetEdit, ZoneChoice
from panacea.inventory.views import InventorySummary, ServiceLinks, WorkstationLink
from panacea.inventory.vocabulary import Control, Criticality, Patchable


class ZoneOut(BaseModel):
    id: int
    name: str
    kind: str
    isolated: bool
    description: str

    @classmethod
    def of(cls, zone: Zone) -> ZoneOut:
        return cls(
            id=zone.id,
            name=zone.name,
            kind=zone.kind,
            isolated=zone.isolated,
            description=zone.description,
        )


class RuleOut(BaseModel):
    """``from_zone -> to_zone : protocol/ports`` is allowed; all else between zones is denied."""

    id: int
    from_zone_id: int
    from_zone: str
    to_zone_id: int
    to_zone: str
    protocol: str
    ports: str
    description: str

    @classmethod
    def of(cls, rule: ReachabilityRule, zones: Mapping[int, str]) -> RuleOut:
        return cls(
            id=rule.id,
            from_zone_id=rule.from_zone_id,
            from_zone=zones.get(rule.from_zone_id, ""),
            to_zone_id=rule.to_zone_id,
            to_zone=zones.get(rule.to_zone_id, ""),
            protocol=rule.protocol,
            ports=rule.ports,
            description=rule.description,
        )


class AddressOut(BaseModel):
    kind: str
    value: str
    vendor: str | None


class AssetOut(BaseModel):
    id: int
    name: str
    kind: str
    zone_id: int | None
    zone: str | None
    remote_access_zone_id: int | None
    hostname: str | None
    addresses: list[AddressOut]
    os: str | None
    os_cpe: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    department: str | None
    criticality: str
    patchable: str
    controls: list[str]
    known_cves: list[str]
    source: str
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, asset: Asset, zones: Mapping[int, str]) -> AssetOut:
        addresses = sorted(asset.addresses, key=lambda a: (a.kind, a.value))
        return cls(
            id=asset.id,
            name=asset.name,
            kind=asset.kind,
            zone_id=asset.zone_id,
            zone=zones.get(asset.zone_id) if asset.zone_id is not None else None,
            remote_access_zone_id=asset.remote_access_zone_id,
            hostname=asset.hostname,
            addresses=[AddressOut(kind=a.kind, value=a.value, vendor=a.vendor) for a in addresses],
            os=asset.os,
            os_cpe=asset.os_cpe,
            manufacturer=asset.manufacturer,
            model=asset.model,
            firmware=asset.firmware,
            department=asset.department,
            criticality=asset.criticality,
            patchable=asset.patchable,
            controls=list(asset.controls),
            known_cves=list(asset.known_cves),
            source=asset.source,
            first_seen=asset.first_seen,
            last_seen=asset.last_seen,
        )


class AssetPatch(BaseModel):
    """What a person may change on an asset. Absent fields stay; ``zone_id: null`` unzones it.

    An inventory re-import sets these fields again from the file: the file stays the source
    of truth for assets it lists.
    """

    model_config = ConfigDict(extra="forbid")

    criticality: Criticality | None = None
    patchable: Patchable | None = None
    controls: list[Control] | None = Field(default=None, max_length=len(Control))
    zone_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of criticality, patchable, controls, zone_id")
        for name in ("criticality", "patchable", "controls"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def edit(self) -> AssetEdit:
        """The service's form of this patch."""
        return AssetEdit(
            criticality=self.criticality,
            patchable=self.patchable,
            controls=frozenset(self.controls) if self.controls is not None else None,
            zone=ZoneChoice(self.zone_id) if "zone_id" in self.model_fields_set else None,
        )


class AssetUpdateOut(BaseModel):
    """The asset after a change, and what changed (``{field: {old, new}}``, empty if nothing)."""

    asset: AssetOut
    changes: dict[str, dict[str, str | int | list[str] | None]]


class EndpointOut(BaseModel):
    id: int
    asset_id: int
    port: int
    protocol: str
    state: str
    service: str | None
    product: str | None
    version: str | None
    cpe: str | None
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, e: Endpoint) -> EndpointOut:
        return cls(
            id=e.id,
            asset_id=e.asset_id,
            port=e.port,
            protocol=e.protocol,
            state=e.state,
            service=e.service,
            product=e.product,
            version=e.version,
            cpe=e.cpe,
            first_seen=e.first_seen,
            last_seen=e.last_seen,
        )


class ComponentOut(BaseModel):
    id: int
    asset_id: int
    name: str
    version: str | None
    purl: str | None
    cpe: str | None
    supplier: str | None
    source: str

    @classmethod
    def of(cls, c: Component) -> ComponentOut:
        return cls(
            id=c.id,
            asset_id=c.asset_id,
            name=c.name,
            version=c.version,
            purl=c.purl,
            cpe=c.cpe,
            supplier=c.supplier,
            source=c.source,
        )


class ServiceAssetOut(BaseModel):
    """An asset the service needs (``needs``: letters of C, I, A); k-of-n group if any."""

    asset_id: int
    asset: str
    needs: str
    redundancy_group: str | None
    k: int | None


class ServiceOut(BaseModel):
    id: int
    key: str
    name: str
    description: str
    patient_safety: str
    cost_per_hour: float
    recovery_hours: float
    records_at_stake: int
    cost_per_record: float
    depends_on: list[str]
    assets: list[ServiceAssetOut]

    @classmethod
    def of(cls, s: ClinicalService, links: ServiceLinks | None) -> ServiceOut:
        return cls(
            id=s.id,
            key=s.key,
            name=s.name,
            description=s.description,
            patient_safety=s.patient_safety,
            cost_per_hour=s.cost_per_hour,
            recovery_hours=s.recovery_hours,
            records_at_stake=s.records_at_stake,
            cost_per_record=s.cost_per_record,
            depends_on=list(links.depends_on) if links else [],
            assets=[
                ServiceAssetOut(
                    asset_id=a.asset_id,
                    asset=a.asset,
                    needs=a.needs,
                    redundancy_group=a.redundancy_group,
                    k=a.k,
                )
                for a in (links.assets if links else ())
            ],
        )


class WorkstationOut(BaseModel):
    """One asset, or every asset of a zone."""

    asset_id: int | None
    zone_id: int | None


class StaffGroupOut(BaseModel):
    id: int
    name: str
    size: int
    phishing_susceptibility: float
    department: str | None
    workstations: list[WorkstationOut]

    @classmethod
    def of(cls, g: StaffGroup, workstations: tuple[WorkstationLink, ...]) -> StaffGroupOut:
        return cls(
            id=g.id,
            name=g.name,
            size=g.size,
            phishing_susceptibility=g.phishing_susceptibility,
            department=g.department,
            workstations=[
                WorkstationOut(asset_id=w.asset_id, zone_id=w.zone_id) for w in workstations
            ],
        )


class InventorySummaryOut(BaseModel):
    assets_by_kind: dict[str, int]
    assets_by_zone: dict[str, int]
    endpoints_open: int
    unpatchable_assets: int

    @classmethod
    def of(cls, s: InventorySummary) -> InventorySummaryOut:
        return cls(
            assets_by_kind=s.assets_by_kind,
            assets_by_zone=s.assets_by_zone,
            endpoints_open=s.endpoints_open,
            unpatchable_assets=s.unpatchable_assets,
        )
