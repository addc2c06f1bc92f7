"""The STIX 2.1 extensions an exported incident carries, and the objects that define them.

The STIX 2.1 ``incident`` object is a stub (STIX 2.1 section 4.11: name and description only)
meant to be extended through extension definitions (section 7.3). An incident of PANACEA carries
two property extensions:

- the OASIS CTI TC's **Incident Core Extension** (``extension-definition--ef765651-...``,
  version 2.0, in the oasis-open/cti-stix-common-objects repository): ``determination``,
  ``investigation_status`` and ``criticality`` -- what any STIX consumer that knows it reads;
- the **PANACEA incident extension** defined here (:func:`incident_extension_definition`, its
  JSON schema in :data:`INCIDENT_EXTENSION_SCHEMA`): the status of the response, severity,
  timeline, affected asset kinds and clinical services, lessons learned.

The definition objects are constants: every PANACEA instance publishes the same ones, created
by the PANACEA project identity (:func:`project_identity`), never by a hospital, and marked
TLP:CLEAR (they describe a format, nothing about anyone).
"""

from __future__ import annotations

import json
from typing import Any, Final

from panacea.sharing.incident_vocabulary import (
    Determination,
    IncidentSeverity,
    IncidentStatus,
)
from panacea.sharing.signing import PANACEA_PROJECT_IDENTITY
from panacea.sharing.tlp import Tlp

INCIDENT_CORE_EXTENSION_ID: Final = "extension-definition--ef765651-680c-498d-9894-99799f2fa126"
INCIDENT_EXTENSION_ID: Final = "extension-definition--1d0a7eaa-4b5e-4760-b5d4-87e0a0303968"
_DEFINED: Final = "2026-11-29T00:00:00.000Z"

# Incident Core Extension, Appendix A, "5 Qualitative" scale: the representative criticality of
# each qualitative level (low 1-29 -> 15, moderate 30-49 -> 40, high 50-89 -> 70, extreme -> 95).
CRITICALITY: Final[dict[IncidentSeverity, int]] = {
    IncidentSeverity.LOW: 15,
    IncidentSeverity.MEDIUM: 40,
    IncidentSeverity.HIGH: 70,
    IncidentSeverity.CRITICAL: 95,
}
# incident-investigation-ov (section 3.2): "closed" only once all defender work is concluded,
# which for us is the post-incident review (status closed); until then the incident is worked.
INVESTIGATION_STATUS: Final[dict[IncidentStatus, str]] = {
    IncidentStatus.OPEN: "open",
    IncidentStatus.CONTAINED: "open",
    IncidentStatus.RESOLVED: "open",
    IncidentStatus.CLOSED: "closed",
}

_TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
INCIDENT_EXTENSION_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PANACEA incident extension",
    "type": "object",
    "required": ["extension_type", "status", "severity", "detected_at"],
    "additionalProperties": False,
    "properties": {
        "extension_type": {"const": "property-extension"},
        "status": {"enum": [s.value for s in IncidentStatus]},
        "severity": {"enum": [s.value for s in IncidentSeverity]},
        "detected_at": _TIMESTAMP,
        "started_at": _TIMESTAMP,
        "contained_at": _TIMESTAMP,
        "affected_asset_kinds": {"type": "array", "items": {"type": "string"}},
        "affected_services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "name"],
                "additionalProperties": False,
                "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
            },
        },
        "lessons_learned": {"type": "string"},
        "attack_version": {"type": "string"},
    },
}


def project_identity() -> dict[str, Any]:
    """The identity of the PANACEA project, creator of PANACEA's extension definitions."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": PANACEA_PROJECT_IDENTITY,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "PANACEA project",
        "description": "The open-source PANACEA platform; it defines extensions, shares nothing.",
        "identity_class": "system",
        "object_marking_refs": [Tlp.CLEAR.marking_id],
    }


def incident_extension_definition() -> dict[str, Any]:
    """The extension-definition object (STIX 2.1 section 7.3) of the PANACEA incident properties.

    ``schema`` holds the JSON schema itself as text (section 7.3 allows a URL or plain text):
    a recipient needs nothing but the bundle to check the extension.
    """
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": INCIDENT_EXTENSION_ID,
        "created_by_ref": PANACEA_PROJECT_IDENTITY,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "PANACEA incident",
        "description": (
            "Incident response details recorded by a hospital: status of the response (open, "
            "contained, resolved, closed), severity, detection/start/containment times, kinds "
            "of asset and clinical services affected, lessons learned."
        ),
        "schema": json.dumps(INCIDENT_EXTENSION_SCHEMA, sort_keys=True, separators=(",", ":")),
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [Tlp.CLEAR.marking_id],
    }


def incident_core(
    determination: Determination, status: IncidentStatus, severity: IncidentSeverity
) -> dict[str, Any]:
    """The Incident Core Extension properties of an incident."""
    return {
        "extension_type": "property-extension",
        "determination": determination.value,
        "investigation_status": INVESTIGATION_STATUS[status],
        "criticality": CRITICALITY[severity],
    }
