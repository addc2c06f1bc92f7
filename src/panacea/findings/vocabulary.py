"""Statuses, confidences and sources of findings."""

from __future__ import annotations

from enum import StrEnum


class FindingStatus(StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"
    ACCEPTED = "accepted"
    FALSE_POSITIVE = "false_positive"
    RESOLVED = "resolved"


class Confidence(StrEnum):
    """``confirmed``: a scanner proved it or a person said so; ``potential``: version matching."""

    CONFIRMED = "confirmed"
    POTENTIAL = "potential"


class FindingSource(StrEnum):
    NVD_MATCH = "nvd_match"
    SCANNER = "scanner"
    INVENTORY = "inventory"
    USER = "user"


class Severity(StrEnum):
    """CVSS qualitative severity (CVSS v3.1 specification, section 5; v4.0 uses the same)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# Score bounds of each severity: lower (inclusive) and upper (exclusive); "none" is 0.0 only,
# "low" is 0.1-3.9 (CVSS v3.1 specification, table 14). Half-open so that no score falls between.
SEVERITY_BOUNDS: dict[Severity, tuple[float, float]] = {
    Severity.NONE: (0.0, 0.05),
    Severity.LOW: (0.05, 4.0),
    Severity.MEDIUM: (4.0, 7.0),
    Severity.HIGH: (7.0, 9.0),
    Severity.CRITICAL: (9.0, 10.05),
}


def severity_of(score: float | None) -> Severity | None:
    """The qualitative severity of a CVSS base score (0.0-10.0); None for an unscored CVE."""
    if score is None:
        return None
    for severity, (low, high) in SEVERITY_BOUNDS.items():
        if low <= score < high:
            return severity
    return None
