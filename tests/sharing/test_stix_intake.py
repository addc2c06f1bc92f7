"""Reading bundles that other platforms wrote: what is linked to an incident, TLP, versions,
and malformed content refused with the id at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stix2

from panacea.sharing.errors import StixError
from panacea.sharing.stix_intake import read_bundle
from panacea.sharing.tlp import Tlp, marking_definition

SOURCE = "identity--e5d3f8a0-6c1b-4f7e-9d2a-3b4c5d6e7f80"
WHEN = "2026-02-10T10:00:00.000Z"


def _foreign_bundle() -> dict[str, Any]:
    """As another CTI platform might share a phishing incident (stix2 objects, TLP 1.0 GREEN)."""
    common: dict[str, Any] = {
        "created_by_ref": SOURCE,
        "created": WHEN,
        "modified": WHEN,
        "object_marking_refs": [stix2.TLP_GREEN.id],
    }
    identity = stix2.Identity(
        id=SOURCE, name="Regional CERT", identity_class="organization", created=WHEN
    )
    incident = stix2.Incident(
        name="Phishing against billing", description="Macro dropper", **common
    )
    phishing = stix2.AttackPattern(
        name="Spearphishing Attachment",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566.001"}],
        **common,
    )
    ics = stix2.AttackPattern(
        name="Modify Parameter",
        external_references=[{"source_name": "mitre-ics-attack", "external_id": "T0836"}],
        **common,
    )
    lure = stix2.Indicator(
        pattern="[email-message:subject = 'Invoice overdue' AND email-message:is_multipart = true]",
        pattern_type="stix",
        valid_from=WHEN,
        **common,
    )
    sender = stix2.Indicator(
        pattern="[email-addr:value = 'billing@invoice-portal.example']",
        pattern_type="stix",
        valid_from=WHEN,
        **common,
    )
    unlinked = stix2.Indicator(
        pattern="[ipv4-addr:value = '203.0.113.9']", pattern_type="stix", valid_from=WHEN, **common
    )
    office = stix2.Vulnerability(
        name="Office RCE",
        external_references=[{"source_name": "cve", "external_id": "CVE-2017-11882"}],
        **common,
    )
    block = stix2.CourseOfAction(name="Block macros from the internet", **common)
    links = [
        stix2.Relationship(incident, "uses", phishing, **common),
        stix2.Relationship(incident, "related-to", ics, **common),
        stix2.Relationship(lure, "indicates", incident, **common),
        stix2.Relationship(incident, "related-to", sender, **common),
        stix2.Relationship(phishing, "targets", office, **common),
        stix2.Relationship(incident, "related-to", office, **common),
        stix2.Relationship(block, "mitigates", office, **common),
        stix2.Relationship(incident, "related-to", block, **common),
    ]
    seen = stix2.Sighting(
        sighting_of_ref=office.id,
        where_sighted_refs=[SOURCE],
        first_seen=WHEN,
        last_seen=WHEN,
        **common,
    )
    objects = [identity, incident, phishing, ics, lure, sender, unlinked, office, block, seen]
    bundle = stix2.Bundle(*objects, *links, stix2.TLP_GREEN)
    loaded: dict[str, Any] = json.loads(bundle.serialize())
    return loaded


def test_what_another_platform_links_to_its_incident_is_read() -> None:
    intel = read_bundle(_foreign_bundle())
    assert intel.publishers == {SOURCE: "Regional CERT"}
    (incident,) = intel.incidents
    assert incident.name == "Phishing against billing"
    assert incident.description == "Macro dropper"
    assert incident.created_by == SOURCE
    assert incident.tlp is Tlp.GREEN  # TLP 1.0 GREEN, read as its TLP 2.0 successor
    assert incident.status is None  # no extensions
    assert incident.determination is None
    assert incident.techniques == ("T0836", "T1566.001")
    by_pattern = {i.pattern: (i.type, i.value) for i in incident.indicators}
    assert by_pattern == {
        "[email-message:subject = 'Invoice overdue' AND email-message:is_multipart = true]": (
            None,
            None,
        ),
        "[email-addr:value = 'billing@invoice-portal.example']": (
            "email",
            "billing@invoice-portal.example",
        ),
    }
    assert incident.cves == ("CVE-2017-11882",)
    assert [s.cve for s in incident.sighted_cves] == ["CVE-2017-11882"]
    (action,) = incident.courses_of_action
    assert (action.name, action.mitigates_cves) == (
        "Block macros from the internet",
        ("CVE-2017-11882",),
    )
    # The bundle-wide view holds the indicator no incident is linked to.
    assert len(intel.indicators) == 3
    assert ("ipv4", "203.0.113.9") in {(i.type, i.value) for i in intel.indicators}


def test_the_latest_version_of_an_object_wins() -> None:
    bundle = _foreign_bundle()
    incident = next(o for o in bundle["objects"] if o["type"] == "incident")
    newer = {**incident, "modified": "2026-02-11T10:00:00.000Z", "name": "Phishing, contained"}
    bundle["objects"] = [newer, *bundle["objects"]]  # order in the bundle does not matter
    (read,) = read_bundle(bundle).incidents
    assert read.name == "Phishing, contained"
    assert read.techniques == ("T0836", "T1566.001")


def _with(bundle: dict[str, Any], kind: str, **changes: Any) -> dict[str, Any]:
    objects = []
    for obj in bundle["objects"]:
        if obj["type"] == kind:
            obj = {k: v for k, v in {**obj, **changes}.items() if v is not None}
        objects.append(obj)
    return {**bundle, "objects": objects}


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("{not json", "the bundle is not JSON"),
        ({"type": "report", "objects": []}, "not a STIX bundle"),
        ({"type": "bundle", "id": "bundle--1", "objects": {}}, "objects is not a list"),
        ({"type": "bundle", "objects": ["x"]}, "bundle object 0 is not a STIX object"),
    ],
)
def test_what_is_not_a_bundle_is_refused(bundle: Any, message: str) -> None:
    with pytest.raises(StixError, match=message):
        read_bundle(bundle)


def test_malformed_objects_are_refused_naming_them() -> None:
    bundle = _foreign_bundle()
    incident_id = next(o["id"] for o in bundle["objects"] if o["type"] == "incident")
    with pytest.raises(StixError, match=f"{incident_id}: 'created'"):
        read_bundle(_with(bundle, "incident", created=None))
    with pytest.raises(StixError, match=r"vulnerability--.* is not valid STIX 2\.1"):
        read_bundle(_with(bundle, "vulnerability", name=None))
    with pytest.raises(StixError, match=r"indicator--.* is not valid STIX 2\.1"):
        read_bundle(_with(bundle, "indicator", pattern="[ipv4-addr:value = '1.2.3.4'"))


def test_a_forged_tlp_definition_is_refused() -> None:
    forged = marking_definition(Tlp.AMBER_STRICT)
    forged["extensions"] = {
        key: {**value, "tlp_2_0": "clear"} for key, value in forged["extensions"].items()
    }
    bundle = _foreign_bundle()
    bundle["objects"].append(forged)
    with pytest.raises(StixError, match=Tlp.AMBER_STRICT.marking_id):
        read_bundle(bundle)
