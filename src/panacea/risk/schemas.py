"""The risk capability at the API boundary: assessment and plan requests, and their documents.

The ``panacea.assessment/1`` and ``panacea.plan/1`` documents (docs/risk-model.md,
docs/mitigation.md) are modelled field by field, so the OpenAPI states them precisely and every
answer is checked against them before it leaves.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.snapshot import RiskSnapshot
from panacea.risk.stored_plans import RiskPlan

# The Monte Carlo trials a request may ask for: below 64 the 95% interval is too wide to rank
# services; above 16,384 a request holds a worker for long on a large hospital.
MIN_TRIALS = 64
MAX_TRIALS = 16_384
MAX_SEED = 2**31 - 1
_DOCUMENT = ConfigDict(protected_namespaces=(), populate_by_name=True)


class EntryProfile(StrEnum):
    """Attacker profiles (panacea.risk.parameters.ENTRY_PROFILES)."""

    INTERNET = "internet"
    PHISHING = "phishing"
    INSIDER = "insider"
    VENDOR = "vendor"


ALL_ENTRIES = list(EntryProfile)


def entries_of(profiles: list[EntryProfile]) -> tuple[str, ...]:
    """The profiles as the engine takes them: values, once each, in the order given."""
    return tuple(dict.fromkeys(p.value for p in profiles))


class AssessmentIn(BaseModel):
    """How to assess: attacker profiles, Monte Carlo trials and seed, scenarios per service."""

    model_config = ConfigDict(extra="forbid")

    entries: list[EntryProfile] = Field(
        default_factory=lambda: list(ALL_ENTRIES), min_length=1, max_length=len(EntryProfile)
    )
    trials: int = Field(default=4096, ge=MIN_TRIALS, le=MAX_TRIALS)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    scenarios: int = Field(default=3, ge=0, le=10, description="Top scenarios per service")

    def options(self) -> AssessmentOptions:
        return AssessmentOptions(
            entries=entries_of(self.entries),
            trials=self.trials,
            seed=self.seed,
            scenarios=self.scenarios,
        )


class StepOut(BaseModel):
    action: str
    asset: str | None
    asset_id: int | None
    cve: str | None
    # an exploit's other flaws: any one of them would do as well (docs/risk-model.md)
    other_cves: list[str] = []
    account: str | None
    probability: float
    evidence: str
    text: str


class ScenarioOut(BaseModel):
    """A minimal attack scenario: all its steps succeed with ``probability``."""

    probability: float
    steps: list[StepOut]


class RankedScenarioOut(ScenarioOut):
    rank: int = Field(description="1 for the most probable scenario")


class RiskCellOut(BaseModel):
    model_config = _DOCUMENT

    severity: str
    band: str
    class_: str = Field(alias="class")


class ServiceRiskOut(BaseModel):
    id: int
    key: str
    name: str
    probability: float
    interval: list[float] = Field(min_length=2, max_length=2, description="95% interval")
    patient_safety: str
    risk_class: str
    risk: RiskCellOut
    expected_loss: float
    loss_if_disrupted: float
    top_paths: list[ScenarioOut]


class AssetRiskOut(BaseModel):
    id: int
    name: str
    probability: float


class AssessmentDocument(BaseModel):
    """The ``panacea.assessment/1`` document."""

    model_config = _DOCUMENT

    schema_: Literal["panacea.assessment/1"] = Field(alias="schema")
    model_version: str
    generated_at: str
    entries: list[str]
    trials: int
    total_expected_loss: float
    services: list[ServiceRiskOut]
    assets: list[AssetRiskOut]


class AssessmentOut(BaseModel):
    """The stored snapshot's id and the full assessment document."""

    snapshot_id: int
    document: AssessmentDocument

    @classmethod
    def of(cls, snapshot: RiskSnapshot, document: dict[str, Any]) -> AssessmentOut:
        return cls(snapshot_id=snapshot.id, document=AssessmentDocument.model_validate(document))


class ServiceSnapshotOut(BaseModel):
    probability: float
    risk_class: str
    expected_loss: float


class SnapshotOut(BaseModel):
    """The stored summary of one assessment."""

    model_config = ConfigDict(protected_namespaces=())

    id: int
    generated_at: datetime
    model_version: str
    entries: list[str]
    trigger: str
    total_expected_loss: float
    services: dict[str, ServiceSnapshotOut] = Field(description="By service key")

    @classmethod
    def of(cls, s: RiskSnapshot) -> SnapshotOut:
        return cls(
            id=s.id,
            generated_at=s.generated_at,
            model_version=s.model_version,
            entries=list(s.entries),
            trigger=s.trigger,
            total_expected_loss=s.total_expected_loss,
            services={k: ServiceSnapshotOut.model_validate(v) for k, v in s.services.items()},
        )


class PlanIn(BaseModel):
    """Plan within a ``budget`` (greedy, with its curve) or the cheapest ``cut`` of a service."""

    model_config = ConfigDict(extra="forbid")

    budget: float | None = Field(default=None, ge=0.0, le=1e12)
    cut: str | None = Field(default=None, min_length=1, max_length=100, description="Service key")
    entries: list[EntryProfile] = Field(
        default_factory=lambda: list(ALL_ENTRIES), min_length=1, max_length=len(EntryProfile)
    )
    trials: int = Field(default=4096, ge=MIN_TRIALS, le=MAX_TRIALS)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _budget_or_cut(self) -> Self:
        if (self.budget is None) == (self.cut is None):
            raise ValueError("give either budget or cut (exactly one of them)")
        return self

    def options(self) -> AssessmentOptions:
        # Plans compare totals; they need no scenarios (as ``panacea plan``).
        return AssessmentOptions(
            entries=entries_of(self.entries), trials=self.trials, seed=self.seed, scenarios=0
        )


class MitigationOut(BaseModel):
    kind: str
    target: str
    cost: float
    effort_days: float
    subjects: list[int]
    flags: list[str]


class CurvePointOut(BaseModel):
    """The plan after its first mitigations: cost so far and the expected annual loss left."""

    cost: float
    risk: float
    risk_classes: dict[str, int]
    mitigation: MitigationOut | None
    rosi: float | None


class PlanDocument(BaseModel):
    """The ``panacea.plan/1`` document."""

    model_config = _DOCUMENT

    schema_: Literal["panacea.plan/1"] = Field(alias="schema")
    organisation: str
    mode: Literal["budget", "cut"]
    budget: float | None
    service: str | None
    entries: list[str]
    trials: int
    candidates: int
    mitigations: list[MitigationOut]
    total_cost: float
    total_effort_days: float
    risk_before: float
    risk_after: float
    rosi: float | None
    curve: list[CurvePointOut]


class PlanSummaryOut(BaseModel):
    id: int
    created_at: datetime
    created_by: str
    mode: str
    budget: float | None
    service: str | None
    total_cost: float
    risk_before: float
    risk_after: float

    @classmethod
    def of(cls, p: RiskPlan) -> PlanSummaryOut:
        return cls(
            id=p.id,
            created_at=p.created_at,
            created_by=p.created_by,
            mode=p.mode,
            budget=p.budget,
            service=p.service,
            total_cost=p.total_cost,
            risk_before=p.risk_before,
            risk_after=p.risk_after,
        )


class PlanOut(PlanSummaryOut):
    document: PlanDocument

    @classmethod
    def full(cls, p: RiskPlan) -> PlanOut:
        summary = PlanSummaryOut.of(p).model_dump()
        return cls(**summary, document=PlanDocument.model_validate(p.document))
