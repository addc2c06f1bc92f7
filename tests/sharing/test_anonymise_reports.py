"""Realistic incident reports in English, Italian, German and Greek, anonymised end to end.

Each report (tests/data/sharing/incident_*.txt) plants names, record numbers, national ids,
e-mails, phones, internal addresses and host names (listed in planted.json). They are
anonymised as text and inside a STIX 2.1 bundle, and the exported bytes (UTF-8 JSON, with and
without ASCII escapes) must contain none of them, in any case or JSON-escaped form; the
public indicators (C2 addresses, domains, hashes, CVE and ATT&CK ids) must all survive.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2validator import validate_instance

from panacea.sharing.anonymise import (
    AnonymisedObjects,
    Anonymiser,
    Dictionary,
    anonymise_objects,
)
from panacea.sharing.pii_patterns import Kind
from panacea.sharing.tlp import Tlp, marking_definition
from tests.conftest import TEST_DATA
from tests.sharing.stix_checks import DEFAULT, keep_validator_offline, messages

DATA = TEST_DATA / "sharing"
PLANTED: dict[str, Any] = {
    k: v
    for k, v in json.loads((DATA / "planted.json").read_text("utf-8")).items()
    if k != "_comment"
}
REPORTS = sorted(PLANTED)
KEY_SAN_MARCO = bytes.fromhex("5a" * 32)
KEY_NORDSTADT = bytes.fromhex("a5" * 32)
# Generated values (pseudonyms, STIX ids) are random-looking hex: a planted "4471" could
# occur in one by chance without anything having leaked, so they are cut out first.
GENERATED = re.compile(
    r"\[[a-z-]+-[0-9a-f]{8}\]|[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
IDENTITY = "identity--0f4b7c1e-2d3a-4b5c-8d9e-0a1b2c3d4e5f"
CREATED = "2024-03-20T10:00:00.000Z"


def read(name: str) -> str:
    return (DATA / name).read_text("utf-8")


def anonymiser_for(name: str, key: bytes = KEY_SAN_MARCO) -> Anonymiser:
    spec = PLANTED[name]["dictionary"]
    return Anonymiser(
        key,
        Dictionary(
            persons=frozenset(spec.get("persons", [])),
            domains=frozenset(spec.get("domains", [])),
        ),
    )


def forms(value: str) -> set[str]:
    """A value as it could appear in exported bytes: as is, case-folded, JSON-escaped."""
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return {value, value.casefold(), *escaped, *(e.casefold() for e in escaped)}


def assert_nothing_planted_in(exported: str, planted: list[str]) -> None:
    visible = GENERATED.sub(" ", exported)
    folded = visible.casefold()
    for value in planted:
        for form in forms(value):
            assert form not in visible, f"{value!r} leaked as {form!r}"
            assert form.casefold() not in folded, f"{value!r} leaked (case-folded) as {form!r}"


def bundle_for(name: str, anon: Anonymiser) -> AnonymisedObjects:
    """The report as a hospital would share it: report, note, indicators, observables."""
    text = read(name)
    title = text.splitlines()[0]
    spec = PLANTED[name]
    public_ips = [k for k in spec["kept"] if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", k)]
    internal_ips = [p for p in spec["planted"] if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", p)]
    cves = [k for k in spec["kept"] if k.startswith("CVE-")]
    marking = [marking_definition(Tlp.GREEN)["id"]]
    common = {
        "spec_version": "2.1",
        "created": CREATED,
        "modified": CREATED,
        "created_by_ref": IDENTITY,
    }
    indicator_pattern = " OR ".join(
        f"[ipv4-addr:value = '{ip}']" for ip in [*public_ips, *internal_ips]
    )
    objects: list[dict[str, Any]] = [
        marking_definition(Tlp.GREEN),
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": IDENTITY,
            "created": CREATED,
            "modified": CREATED,
            "name": "Hospital CERT",
            "identity_class": "organization",
            "sectors": ["healthcare"],
        },
        {
            **common,
            "type": "note",
            "id": "note--1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
            "abstract": title,
            "content": text,
            "object_refs": ["report--2c3d4e5f-6071-4829-93a4-b5c6d7e8f901"],
            "object_marking_refs": marking,
        },
        {
            **common,
            "type": "report",
            "id": "report--2c3d4e5f-6071-4829-93a4-b5c6d7e8f901",
            "name": title,
            "description": text,
            "published": CREATED,
            "report_types": ["threat-report"],
            "object_refs": ["indicator--3d4e5f60-7182-493a-84b5-c6d7e8f90a1b"],
            "object_marking_refs": marking,
            "labels": [p for p in spec["planted"] if "@" in p][:1],
            "external_references": [
                {
                    "source_name": "cve",
                    "external_id": cve,
                    "url": f"https://nvd.nist.gov/vuln/detail/{cve}",
                }
                for cve in cves
            ],
            "x_hospital_contact": [p for p in spec["planted"] if "@" in p],
        },
        {
            **common,
            "type": "indicator",
            "id": "indicator--3d4e5f60-7182-493a-84b5-c6d7e8f90a1b",
            "name": "Addresses seen in the incident",
            "indicator_types": ["malicious-activity"],
            "pattern": indicator_pattern,
            "pattern_type": "stix",
            "valid_from": CREATED,
            "object_marking_refs": marking,
        },
        *(
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": f"ipv4-addr--4e5f6071-8293-4a4b-95c6-d7e8f90a1b{i:02d}",
                "value": ip,
            }
            for i, ip in enumerate([*public_ips, *internal_ips])
        ),
    ]
    return anonymise_objects(objects, anon)


@pytest.mark.parametrize("name", REPORTS)
def test_no_planted_identifier_survives_in_the_text(name: str) -> None:
    out = anonymiser_for(name).text(read(name))
    assert_nothing_planted_in(out, PLANTED[name]["planted"])
    for kept in PLANTED[name]["kept"]:
        assert kept in out, f"public indicator {kept} was lost"


@pytest.mark.parametrize("name", REPORTS)
def test_no_planted_identifier_is_in_any_exported_byte(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    anonymised = bundle_for(name, anonymiser_for(name))
    objects = anonymised.objects
    # The observables of internal addresses are withheld (their UUIDv5 ids would reveal them).
    internal = [p for p in PLANTED[name]["planted"] if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", p)]
    assert len(anonymised.withheld) == len(internal) > 0
    bundle = {
        "type": "bundle",
        "id": "bundle--5f607182-93a4-4b5c-86d7-e8f90a1b2c3d",
        "objects": objects,
    }
    for exported in (
        json.dumps(bundle, ensure_ascii=False).encode("utf-8"),
        json.dumps(bundle).encode("ascii"),
        json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8"),
    ):
        text = exported.decode("utf-8")
        assert_nothing_planted_in(text, PLANTED[name]["planted"])
        for kept in PLANTED[name]["kept"]:
            assert kept in text, f"public indicator {kept} was lost"
    # Still STIX 2.1 that a recipient can parse and the OASIS validator accepts.
    parsed = stix2.parse(json.dumps(bundle, ensure_ascii=False), allow_custom=True)
    assert len(parsed.objects) == len(objects)
    keep_validator_offline(monkeypatch)
    errors, _ = messages(validate_instance(bundle, DEFAULT))
    assert errors == []


@pytest.mark.parametrize("name", REPORTS)
def test_the_report_still_reads(name: str) -> None:
    """Anonymising removes identifiers, not the report: most of the text is unchanged."""
    text = read(name)
    out = anonymiser_for(name).text(text)
    kept_words = set(re.findall(r"[^\W\d_]{6,}", GENERATED.sub(" ", out)))
    all_words = set(re.findall(r"[^\W\d_]{6,}", text))
    assert len(kept_words & all_words) / len(all_words) > 0.75


def pseudonyms_of(text: str, anon: Anonymiser) -> dict[str, str]:
    """What the anonymiser replaced, as written, and its pseudonym."""
    return {
        text[m.start : m.end]: anon.pseudonym(m.kind, m.value)
        for m in anon.matches(text)
        if m.kind is not None
    }


SHARED = [
    "PC-CARDIO-112",
    "192.168.30.112",
    "ris-prod02.sanmarco.local",
    "SANMARCO\\cesposito",
    "FW-EDGE-01",
    "Chiara Esposito",
]


def test_the_same_value_gets_the_same_pseudonym_in_two_reports_of_one_organisation() -> None:
    anon = anonymiser_for("incident_it.txt")
    italian = pseudonyms_of(read("incident_it.txt"), anon)
    english = pseudonyms_of(read("incident_it_followup_en.txt"), anon)
    for value in SHARED:
        assert italian[value] == english[value], value
    followup = anon.text(read("incident_it_followup_en.txt"))
    for value in SHARED:
        assert value not in followup
        assert italian[value] in followup


def test_another_organisation_gets_other_pseudonyms_for_the_same_values() -> None:
    ours = pseudonyms_of(read("incident_it_followup_en.txt"), anonymiser_for("incident_it.txt"))
    theirs = pseudonyms_of(
        read("incident_it_followup_en.txt"), anonymiser_for("incident_it.txt", KEY_NORDSTADT)
    )
    assert set(ours) == set(theirs) >= set(SHARED)
    for value in ours:
        assert ours[value] != theirs[value], value


def test_pseudonyms_say_what_they_stand_for() -> None:
    anon = anonymiser_for("incident_de.txt")
    replaced = pseudonyms_of(read("incident_de.txt"), anon)
    expected = {
        "KIS-DB-01": Kind.HOST,
        "172.16.10.20": Kind.IP,
        "86095742719": Kind.NATIONAL_ID,
        "2023-445566": Kind.MRN,
        "03.07.1961": Kind.DOB,
        "0171 2345678": Kind.PHONE,
        "3C-52-82-1A-7F-09": Kind.MAC,
        "KLINIKUM\\s.hoffmann-adm": Kind.ACCOUNT,
        "sabine.wagner@klinikum-nordstadt.de": Kind.EMAIL,
        "Sabine Wagner": Kind.PERSON,
    }
    for written, kind in expected.items():
        assert replaced[written].startswith(f"[{kind.value}-"), written


def test_every_report_language_is_covered() -> None:
    languages = {Path(n).stem.rsplit("_", 1)[-1] for n in REPORTS}
    assert languages == {"en", "it", "de", "el"}
    for name in REPORTS:
        assert len(read(name).split("\n\n")) >= 4, f"{name}: several paragraphs"
        assert len(PLANTED[name]["planted"]) >= 25
