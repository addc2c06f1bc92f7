"""Closed vocabularies of incident records: status, severity, determination, indicator types.

TLP levels are :class:`panacea.sharing.tlp.Tlp`."""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    """Where the response stands.

    ``contained``: the attacker can no longer act (isolated, blocked); ``resolved``: service
    restored; ``closed``: the post-incident review is done (NIST SP 800-61r2, section 3.4).
    """

    OPEN = "open"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IncidentSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Determination(StrEnum):
    """What the incident turned out to be: the Incident Core Extension's determination enum."""

    SUSPECTED = "suspected"
    SUCCESSFUL_ATTEMPT = "successful-attempt"
    FAILED_ATTEMPT = "failed-attempt"
    BLOCKED = "blocked"
    FALSE_POSITIVE = "false-positive"
    LOW_VALUE = "low-value"


class IndicatorType(StrEnum):
    """Kinds of indicator an incident records; each becomes one STIX pattern."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    SHA256 = "sha256"
    MD5 = "md5"
    EMAIL = "email"
