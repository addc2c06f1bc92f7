"""Incidents at the API boundary: what the incident routes accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from panacea.inventory.vocabulary import AssetKind
from panacea.sharing.incident_models import Incident
from panacea.sharing.incident_vocabulary import (
    Determination,
    IncidentSeverity,
    IncidentStatus,
    IndicatorType,
)
from panacea.sharing.incidents import MAX_ITEMS, MAX_TEXT, MAX_TITLE, technique_name
from panacea.sharing.indicators import MAX_VALUE, IndicatorValue
from panacea.sharing.tlp import Tlp

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
TechniqueId = Annotated[
    str,
    Field(pattern=r"^[Tt]\d{4}(\.\d{3})?$", description="ATT&CK technique id (T1486, T1059.001)"),
]
CveId = Annotated[
    str, Field(pattern=r"^[Cc][Vv][Ee]-\d{4}-(0\d{3}|[1-9]\d{3,6})$", description="CVE id")
]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class IndicatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: IndicatorType
    value: str = Field(min_length=1, max_length=MAX_VALUE)


class IncidentFields(BaseModel):
    """Every field an incident has; in a PATCH, only those present are changed."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    summary: Text | None = Field(
        default=None, description="What happened; free text that may hold patient data"
    )
    status: IncidentStatus | None = None
    severity: IncidentSeverity | None = None
    determination: Determination | None = Field(
        default=None, description="Incident Core Extension determination"
    )
    detected_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    contained_at: AwareDatetime | None = None
    affected_asset_kinds: list[AssetKind] | None = Field(
        default=None, max_length=MAX_ITEMS["affected_asset_kinds"]
    )
    affected_service_ids: list[Id] | None = Field(
        default=None, max_length=MAX_ITEMS["affected_service_ids"]
    )
    techniques: list[TechniqueId] | None = Field(default=None, max_length=MAX_ITEMS["techniques"])
    indicators: list[IndicatorIn] | None = Field(default=None, max_length=MAX_ITEMS["indicators"])
    cves: list[CveId] | None = Field(default=None, max_length=MAX_ITEMS["cves"])
    lessons: Text | None = Field(default=None, description="Lessons learned")
    tlp: Tlp | None = Field(default=None, description="TLP 2.0 level of the incident's exports")
    share_finding_ids: list[Id] | None = Field(
        default=None,
        max_length=MAX_ITEMS["share_finding_ids"],
        description="Findings shared with the incident (none unless listed)",
    )
    mitigation_plan_id: Id | None = Field(
        default=None, description="Stored mitigation plan whose mitigations are shared"
    )

    def values(self) -> dict[str, Any]:
        """The fields the request set, as plain values for the incident service."""
        values = self.model_dump(exclude_unset=True, mode="python")
        for name in ("status", "severity", "determination", "tlp"):
            if values.get(name) is not None:
                values[name] = str(values[name])
        if values.get("affected_asset_kinds") is not None:
            values["affected_asset_kinds"] = [str(k) for k in values["affected_asset_kinds"]]
        if values.get("indicators") is not None:
            values["indicators"] = [
                {"type": str(i["type"]), "value": i["value"]} for i in values["indicators"]
            ]
        return values


class IncidentCreate(IncidentFields):
    """A new incident: a title and the time it was detected at least."""

    title: Title
    detected_at: AwareDatetime


class ServiceOut(BaseModel):
    id: int
    key: str
    name: str


class TechniqueOut(BaseModel):
    id: str
    name: str


class IndicatorOut(BaseModel):
    type: str
    value: str
    pattern: str = Field(description="The STIX 2.1 pattern it is shared as")


class IncidentOut(BaseModel):
    id: int
    title: str
    summary: str
    status: str
    severity: str
    determination: str
    detected_at: datetime
    started_at: datetime | None
    contained_at: datetime | None
    affected_asset_kinds: list[str]
    affected_services: list[ServiceOut]
    techniques: list[TechniqueOut]
    indicators: list[IndicatorOut]
    cves: list[str]
    lessons: str
    tlp: str
    share_finding_ids: list[int]
    mitigation_plan_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(
            id=incident.id,
            title=incident.title,
            summary=incident.summary,
            status=incident.status,
            severity=incident.severity,
            determination=incident.determination,
            detected_at=incident.detected_at,
            started_at=incident.started_at,
            contained_at=incident.contained_at,
            affected_asset_kinds=list(incident.affected_asset_kinds),
            affected_services=[ServiceOut(**s) for s in incident.affected_services],
            techniques=[TechniqueOut(id=t, name=technique_name(t)) for t in incident.techniques],
            indicators=[
                IndicatorOut(
                    type=i["type"],
                    value=i["value"],
                    # Stored values are canonical and were checked when written.
                    pattern=IndicatorValue(IndicatorType(i["type"]), i["value"]).pattern,
                )
                for i in incident.indicators
            ],
            cves=list(incident.cves),
            lessons=incident.lessons,
            tlp=incident.tlp,
            share_finding_ids=list(incident.share_finding_ids),
            mitigation_plan_id=incident.mitigation_plan_id,
            created_by=incident.created_by,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
        )
