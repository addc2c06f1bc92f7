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
