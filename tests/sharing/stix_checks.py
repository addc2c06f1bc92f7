"""Checking STIX output with the OASIS validator (``stix2-validator``), and incidents to check.

Every bundle PANACEA emits must validate with no errors in the validator's default mode, and
with no warnings either in its strict mode except check 103 ("UUIDv4 SHOULD be used"): our ids
are UUIDv5 on purpose, so that exporting an incident again updates rather than duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stix2validator.validator
from stix2validator import ValidationOptions, validate_instance

from panacea.sharing.attack import technique
from panacea.sharing.incident_vocabulary import Determination, IncidentSeverity, IncidentStatus
from panacea.sharing.indicators import indicator
from panacea.sharing.stix import (
    IncidentRecord,
    PlannedMitigation,
    Publisher,
    ServiceRef,
    SharedFinding,
)

DEFAULT = ValidationOptions(version="2.1")
# Strict: every SHOULD is an error, but for UUIDv4 (103), which deterministic ids cannot be.
STRICT = ValidationOptions(version="2.1", strict=True, disabled=["103"])
T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
PUBLISHER = Publisher(
    identity_id="identity--6f1e5a8e-4a07-4d0e-9a4c-6a1f0c5b7e21",
    name="Hôpital Général de Démo",
    created=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
)


def keep_validator_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validator resolves its schemas from disk: make it fail loudly if it ever reaches for
    the web (a remote ``$ref``) rather than depend on the network unnoticed."""

    def refuse(url: str, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"stix2-validator tried to fetch {url}")

    monkeypatch.setattr(stix2validator.validator.requests, "get", refuse)


def messages(results: Any) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a validation result (one object or a bundle)."""
    found = results if isinstance(results, list) else [results]
    errors = [str(e) for r in found for e in r.errors]
    warnings = [str(w) for r in found for w in r.warnings]
    return errors, warnings


def assert_valid(bundle: dict[str, Any]) -> None:
    """No error in default mode; no error either in strict mode (all SHOULDs but 103)."""
    errors, _ = messages(validate_instance(bundle, DEFAULT))
    assert errors == [], errors
    strict_errors, strict_warnings = messages(validate_instance(bundle, STRICT))
    assert strict_errors == [], strict_errors
    assert strict_warnings == [], strict_warnings


def realistic_record(**changes: Any) -> IncidentRecord:
    """A ransomware attack on a PACS through a VPN appliance, with every kind of object."""
    values: dict[str, Any] = {
        "local_id": 42,
        "title": "Ransomware on the PACS archive",
        "summary": "PACS images encrypted after exploitation of the VPN gateway; radiology "
        "moved to paper requests for 9 hours. Patient Jane Roe's MRI was delayed.",
        "status": IncidentStatus.CONTAINED,
        "severity": IncidentSeverity.CRITICAL,
        "determination": Determination.SUCCESSFUL_ATTEMPT,
        "detected_at": T0,
        "created_at": T0 + timedelta(minutes=20),
        "updated_at": T0 + timedelta(hours=30, microseconds=456789),
        "started_at": T0 - timedelta(days=3),
        "contained_at": T0 + timedelta(hours=9),
        "affected_asset_kinds": ("server", "medical_device"),
        "affected_services": (ServiceRef("imaging", "PACS imaging"),),
        "techniques": (technique("T1190"), technique("T1486"), technique("T1059.001")),
        "indicators": (
            indicator("ipv4", "198.51.100.23"),
            indicator("ipv6", "2001:db8::dead:beef"),
            indicator("domain", "update-check.example"),
            indicator("url", "https://update-check.example/payload.bin?id=7'x"),
            indicator("sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
            indicator("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            indicator("email", "invoice@billing-update.example"),
        ),
        "cves": ("CVE-2023-4966",),
        "lessons": "Segment the PACS from the VPN; patch edge devices within 48 hours.",
        "mitigations": (
            PlannedMitigation(5, 0, "patch", "CVE-2023-4966 on vpn-gw-01", T0 - timedelta(days=9)),
            PlannedMitigation(5, 1, "move_zone", "pacs-archive-01", T0 - timedelta(days=9)),
        ),
        "findings": (
            SharedFinding(301, "CVE-2023-4966", T0 - timedelta(days=20), T0 - timedelta(days=1)),
            SharedFinding(302, "CVE-2019-0708", T0 - timedelta(days=60), T0),
        ),
    }
    values.update(changes)
    return IncidentRecord(**values)
