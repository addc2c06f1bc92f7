"""The inventory file: what a hospital writes by hand or exports from its CMDB (pydantic models).

Documented in ``docs/inventory.md``. Names are references: an asset's ``zone`` names a zone of the
file or one already stored; a service's ``assets`` name assets; and so on. References are checked
after the shape is (see ``inventory_yaml``), and every error names the path of the bad field.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from panacea.inventory.vocabulary import (
    AccountKind,
    AssetKind,
    Control,
    Criticality,
    LogonLevel,
    MitigationKind,
    Patchable,
    PatientSafety,
    Protocol,
    ZoneKind,
)

CVE_PATTERN = re.compile(r"^CVE-\d{4}-\d{4,}$")
PORTS_PATTERN = re.compile(r"^(\*|\d{1,5}(-\d{1,5})?(\s*,\s*\d{1,5}(-\d{1,5})?)*)$")
Name = Annotated[str, Field(min_length=1, max_length=200)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently drop data."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ZoneSpec(Strict):
    name: Name
    kind: ZoneKind = ZoneKind.OTHER
    isolated: bool = False
    description: str = ""


class RuleSpec(Strict):
    model_config = ConfigDict(populate_by_name=True)

    from_zone: Name = Field(alias="from")
    to_zone: Name = Field(alias="to")
    protocol: Protocol = Protocol.TCP
    ports: str = "*"
    description: str = ""

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: object) -> object:
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if isinstance(value, str) and not PORTS_PATTERN.match(value.strip()):
            raise ValueError(
                f"ports must be '*' or ports and ranges like '22,443,8000-8100', not {value!r}"
            )
        return value.replace(" ", "") if isinstance(value, str) else value

    @field_validator("ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        for part in value.split(","):
            if part == "*":
                continue
            bounds = [int(p) for p in part.split("-")]
            if any(b < 0 or b > 65535 for b in bounds) or bounds != sorted(bounds):
                raise ValueError(f"port range {part!r} is not within 0-65535 in order")
        return value


class EndpointSpec(Strict):
    port: Annotated[int, Field(ge=0, le=65535)]
    protocol: Literal["tcp", "udp"] = "tcp"
    service: str | None = None
    product: str | None = None
    version: str | None = None
    cpe: str | None = None


class ComponentSpec(Strict):
    name: Name
    version: str | None = None
    purl: str | None = None
    cpe: str | None = None
    supplier: str | None = None


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class AssetSpec(Strict):
    name: Name
    kind: AssetKind = AssetKind.OTHER
    zone: Name | None = None
    remote_access_zone: Name | None = None
    ip: list[str] = Field(default_factory=list)
    mac: list[str] = Field(default_factory=list)
    hostname: str | None = None
    os: str | None = None
    os_cpe: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    department: str | None = None
    criticality: Criticality = Criticality.MEDIUM
    patchable: Patchable = Patchable.YES
    controls: list[Control] = Field(default_factory=list)
    endpoints: list[EndpointSpec] = Field(default_factory=list)
    components: list[ComponentSpec] = Field(default_factory=list)
    known_cves: list[str] = Field(default_factory=list)

    _single_ip = field_validator("ip", "mac", "known_cves", mode="before")(_as_list)

    @field_validator("patchable", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted ``no``/``yes`` as a boolean; hospitals write them unquoted.
        if isinstance(value, bool):
            return Patchable.YES if value else Patchable.NO
        return value

    @field_validator("known_cves")
    @classmethod
    def _cves(cls, value: list[str]) -> list[str]:
        for cve in value:
            if not CVE_PATTERN.match(cve):
                raise ValueError(f"{cve!r} is not a CVE id like CVE-2017-0144")
        return value


class LogonSpec(Strict):
    asset: Name | None = None
    zone: Name | None = None
    level: LogonLevel = LogonLevel.USER

    @model_validator(mode="after")
    def _one_target(self) -> LogonSpec:
        if (self.asset is None) == (self.zone is None):
            raise ValueError("give exactly one of 'asset' or 'zone'")
        return self


class AccountSpec(Strict):
    name: Name
    kind: AccountKind = AccountKind.USER
    mfa: bool = False
    description: str = ""
    logons: list[LogonSpec] = Field(default_factory=list)


class WorkstationSpec(Strict):
    asset: Name | None = None
    zone: Name | None = None
    account: Name | None = None

    @model_validator(mode="after")
    def _one_target(self) -> WorkstationSpec:
        if (self.asset is None) == (self.zone is None):
            raise ValueError("give exactly one of 'asset' or 'zone'")
        return self


class StaffGroupSpec(Strict):
    name: Name
    size: Annotated[int, Field(ge=1)] = 1
    phishing_susceptibility: Probability = 0.1
    department: str | None = None
    workstations: list[WorkstationSpec] = Field(default_factory=list)


def _cia_letters(value: str) -> str:
    letters = value.upper()
    if not letters or set(letters) - set("CIA") or len(set(letters)) != len(letters):
        raise ValueError(f"needs must be letters of 'CIA' (e.g. 'IA'), not {value!r}")
    return "".join(c for c in "CIA" if c in letters)


class ServiceAssetSpec(Strict):
    asset: Name
    needs: str = "CIA"

    _needs = field_validator("needs")(_cia_letters)


class RedundancyGroupSpec(Strict):
    name: Name
    k: Annotated[int, Field(ge=1)] = 1
    needs: str = "A"
    assets: list[Name] = Field(min_length=1)

    _needs = field_validator("needs")(_cia_letters)

    @model_validator(mode="after")
    def _k_of_n(self) -> RedundancyGroupSpec:
        if self.k > len(self.assets):
            raise ValueError(f"k={self.k} is more than the {len(self.assets)} assets of the group")
        return self


class ServiceSpec(Strict):
    key: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_\-]+$")]
    name: Name
    description: str = ""
    patient_safety: PatientSafety = PatientSafety.NONE
    cost_per_hour: Money = 0.0
    recovery_hours: Money = 0.0
    records_at_stake: Annotated[int, Field(ge=0)] = 0
    cost_per_record: Money = 0.0
    assets: list[ServiceAssetSpec] = Field(default_factory=list)
    redundancy_groups: list[RedundancyGroupSpec] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)


class MitigationCostSpec(Strict):
    kind: MitigationKind
    target: str = "*"
    cost: Money
    effort_days: Money = 0.0


class PurlCpeSpec(Strict):
    purl_type: Name
    namespace: str = ""
    name: Name
    cpe_vendor: Name
    cpe_product: Name


class InventoryDocument(Strict):
    """The whole inventory file."""

    version: Literal[1] = 1
    organisation: str | None = None
    zones: list[ZoneSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    assets: list[AssetSpec] = Field(default_factory=list)
    accounts: list[AccountSpec] = Field(default_factory=list)
    staff_groups: list[StaffGroupSpec] = Field(default_factory=list)
    services: list[ServiceSpec] = Field(default_factory=list)
    mitigation_costs: list[MitigationCostSpec] = Field(default_factory=list)
    purl_cpe: list[PurlCpeSpec] = Field(default_factory=list)
