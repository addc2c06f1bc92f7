"""Clinical impact: expected annual loss and an ISO 14971-style risk class for each service.

P(service disrupted) is a node of the attack graph itself (C/I/A needs, k-of-n redundancy and
services on services are gates there), so it is computed with the same semantics as the rest.
Expected annual loss = P x (cost per hour x recovery hours + records at stake x cost per record).
The risk class comes from a severity x probability-band matrix, and ranks first, so that a
critical-safety service at a meaningful probability is never averaged away by a cost figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import ServiceRecord

SEVERITIES = ("none", "minor", "serious", "critical")
# Upper bounds of the probability bands over the horizon; the last band is open.
BAND_NAMES = ("improbable", "remote", "occasional", "probable", "frequent")


class RiskClass(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


_L, _M, _H, _C = RiskClass.LOW, RiskClass.MEDIUM, RiskClass.HIGH, RiskClass.CRITICAL


@dataclass(frozen=True)
class RiskMatrix:
    """Severity (rows: none, minor, serious, critical) x probability band (columns)."""

    band_limits: tuple[float, ...] = (0.01, 0.1, 0.3, 0.7)
    cells: tuple[tuple[RiskClass, ...], ...] = field(
        default=(
            (_L, _L, _L, _L, _M),
            (_L, _L, _M, _M, _H),
            (_L, _M, _H, _H, _C),
            (_M, _H, _C, _C, _C),
        )
    )

    def __post_init__(self) -> None:
        if list(self.band_limits) != sorted(self.band_limits) or len(self.band_limits) != 4:
            raise RiskModelError("a risk matrix needs four increasing probability band limits")
        if len(self.cells) != len(SEVERITIES) or any(len(r) != 5 for r in self.cells):
            raise RiskModelError("a risk matrix needs 4 severities x 5 probability bands")

    def band(self, probability: float) -> int:
        return sum(probability >= limit for limit in self.band_limits)

    def classify(self, severity: str, probability: float) -> RiskClass:
        if severity not in SEVERITIES:
            raise RiskModelError(f"unknown patient-safety severity {severity!r}")
        return self.cells[SEVERITIES.index(severity)][self.band(probability)]


@dataclass(frozen=True)
class ServiceImpact:
    service: ServiceRecord
    probability: float
    low: float
    high: float
    risk_class: RiskClass
    band: str
    expected_loss: float
    loss_if_disrupted: float


def loss_if_disrupted(service: ServiceRecord) -> float:
    """Cost of one disruption: outage hours at the hourly cost plus the records exposed."""
    outage = service.cost_per_hour * service.recovery_hours
    return outage + service.records_at_stake * service.cost_per_record


def assess_service(
    service: ServiceRecord, probability: float, low: float, high: float, matrix: RiskMatrix
) -> ServiceImpact:
    loss = loss_if_disrupted(service)
    return ServiceImpact(
        service=service,
        probability=probability,
        low=low,
        high=high,
        risk_class=matrix.classify(service.patient_safety, probability),
        band=BAND_NAMES[matrix.band(probability)],
        expected_loss=probability * loss,
        loss_if_disrupted=loss,
    )


def rank(impacts: list[ServiceImpact]) -> list[ServiceImpact]:
    """Risk class first (critical first), then expected loss, then name."""
    return sorted(impacts, key=lambda s: (-s.risk_class, -s.expected_loss, s.service.name))
