"""The anonymiser's rules, pseudonyms and STIX walk, one behaviour at a time."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.sharing.anonymise import (
    Anonymiser,
    Dictionary,
    anonymise_object,
    anonymise_objects,
    identifiers_in,
)
from panacea.sharing.errors import AnonymisationError, InternalObservableError
from panacea.sharing.pii_patterns import (
    Kind,
    amka_valid,
    icao_check_digit,
    luhn_valid,
    steuer_id_valid,
)
from panacea.sharing.signing import SIGNATURE_PROPERTY

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PSEUDONYM = re.compile(r"\[(?P<kind>[a-z-]+)-[0-9a-f]{8}\]")


@pytest.fixture
def anon() -> Anonymiser:
    return Anonymiser(KEY)


def kinds(text: str) -> list[str]:
    return [m["kind"] for m in PSEUDONYM.finditer(text)]


# --------------------------------------------------------------------------- pseudonyms


def test_a_pseudonym_is_the_truncated_keyed_hmac_of_kind_and_canonical_value(
    anon: Anonymiser,
) -> None:
    expected = hmac.new(KEY, b"host\x00pacs01", hashlib.sha256).hexdigest()[:8]
    assert anon.pseudonym(Kind.HOST, "PACS01") == f"[host-{expected}]"


def test_pseudonyms_are_stable_case_and_accent_insensitive(anon: Anonymiser) -> None:
    assert anon.pseudonym(Kind.PERSON, "Ελένη Παπαδοπούλου") == anon.pseudonym(
        Kind.PERSON, "ΕΛΕΝΗ  ΠΑΠΑΔΟΠΟΥΛΟΥ"
    )
    assert anon.pseudonym(Kind.PERSON, "José Müller") == anon.pseudonym(Kind.PERSON, "jose muller")


def test_pseudonyms_differ_per_key_and_per_kind(anon: Anonymiser) -> None:
    other = Anonymiser(OTHER_KEY)
    assert anon.pseudonym(Kind.HOST, "pacs01") != other.pseudonym(Kind.HOST, "pacs01")
    assert anon.pseudonym(Kind.HOST, "mrossi") != anon.pseudonym(Kind.ACCOUNT, "mrossi")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(AnonymisationError, match="at least 16 bytes"):
        Anonymiser(b"short")


def test_the_key_never_shows_in_repr(anon: Anonymiser) -> None:
    assert KEY.hex() not in repr(anon)
    assert repr(KEY) not in repr(anon)


def test_anonymising_twice_changes_nothing(anon: Anonymiser) -> None:
    text = "Dr. Anna Weber (anna.weber@klinik.example, +49 30 1234567) on WS-ICU-0231, 10.1.2.3"
    once = anon.text(text)
    assert anon.text(once) == once
    assert kinds(once) == ["person", "email", "phone", "host", "ip"]


def test_redaction_counts_kinds_not_values(anon: Anonymiser) -> None:
    result = anon.redact("10.0.0.1 and 10.0.0.2 and mario@osp.example")
    assert result.counts == {Kind.IP: 2, Kind.EMAIL: 1}


def test_identifiers_in_previews_what_would_be_replaced(anon: Anonymiser) -> None:
    assert identifiers_in("MRN: 4455661 on 10.9.8.7 via 8.8.8.8", anon) == [
        (Kind.MRN, "4455661"),
        (Kind.IP, "10.9.8.7"),
    ]


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.40.5",
        "172.31.255.254",
        "192.168.0.1",
        "100.64.12.1",  # RFC 6598 shared address space (CGNAT)
        "169.254.10.10",
        "127.0.0.1",
        "10.20.0.0/16",
        "fe80::1ff:fe23:4567:890a",
        "fd12:3456:789a:1::17",
        "::1",
        "10.0.0[.]5",
    ],
)
def test_internal_addresses_are_pseudonymised(anon: Anonymiser, address: str) -> None:
    out = anon.text(f"seen from {address}.")
    assert address not in out
    assert kinds(out) == ["ip"]
    assert out.endswith(".")


@pytest.mark.parametrize(
    "address",
    ["185.220.101.47", "8.8.8.8", "45.142.212.61", "2a0b:4d07:2::15", "2001:4860:4860::8888"],
)
def test_public_addresses_are_indicators_and_stay(anon: Anonymiser, address: str) -> None:
    assert anon.text(f"C2 at {address}:443") == f"C2 at {address}:443"


def test_the_organisations_own_public_networks_are_pseudonymised() -> None:
    own = Anonymiser(KEY, Dictionary(addresses=frozenset({"93.184.216.0/24", "2a0b:4d07:2::15"})))
    out = own.text("VPN 93.184.216.34 and web 2a0b:4d07:2::15; attacker 185.220.101.47")
    assert kinds(out) == ["ip", "ip"]
    assert "185.220.101.47" in out


def test_macs_are_pseudonymised(anon: Anonymiser) -> None:
    out = anon.text("MAC 00:1B:63:84:45:E6, 3C-52-82-1A-7F-09 and 001b.6384.45e6.")
    assert kinds(out) == ["mac", "mac", "mac"]
    assert anon.text("00:1b:63:84:45:e6") == anon.text("00-1B-63-84-45-E6")


def test_times_and_versions_are_not_addresses(anon: Anonymiser) -> None:
    text = "At 10:45:00 on 15.03.2024 build 10.0.19045.3930 was patched (1.2.3)."
    assert anon.text(text) == text


# --------------------------------------------------------------------------- hosts and accounts


@pytest.mark.parametrize(
    "host",
    [
        "pacs01.osp.local",
        "ris-prod02.sanmarco.local",
        "dc1.corp",
        "printer7.home.arpa",
        "SRV-PACS-01",
        "WS-ICU-0231",
        "PACS01",
        "DC02",
    ],
)
def test_internal_hosts_are_pseudonymised(anon: Anonymiser, host: str) -> None:
    out = anon.text(f"host {host} was encrypted")
    assert host not in out
    assert kinds(out) == ["host"]


@pytest.mark.parametrize(
    "token",
    [
        "CVE-2024-21887",
        "CWE-79",
        "T1566.001",
        "TA0008",
        "APT28",
        "FIN7",
        "TA505",
        "DEV-0537",
        "SHA-256",
        "AES-256",
        "COVID-19",
        "MS17-010",
        "KB5034441",
        "IR-2024-0117",
        "RFC 1918",
        "X.509",
        "evil-c2.example.org",
        "update-check.cloudfront-cdn.net",
    ],
)
def test_technical_and_public_identifiers_stay(anon: Anonymiser, token: str) -> None:
    text = f"see {token} for details"
    assert anon.text(text) == text


def test_a_single_label_host_after_a_label_is_internal_but_a_dotted_one_is_not_assumed(
    anon: Anonymiser,
) -> None:
    out = anon.text("the server pacs02 and the C2 server evil-c2.example.org; Windows Server 2019")
    assert "pacs02" not in out
    assert "evil-c2.example.org" in out
    assert "Server 2019" in out


def test_hosts_under_the_organisations_own_domain_are_pseudonymised() -> None:
    own = Anonymiser(KEY, Dictionary(domains=frozenset({"klinikum-nordstadt.de"})))
    out = own.text(
        "VPN vpn01.klinikum-nordstadt.de exploited; "
        "phishing from klinikum-nordstadt.de.evil.example"
    )
    assert "vpn01" not in out
    assert "klinikum-nordstadt.de.evil.example" in out


def test_paths_and_logons_reveal_no_account_or_server(anon: Anonymiser) -> None:
    out = anon.text(
        r"Dropped C:\Users\mrossi\AppData\x.exe, copied to \\FILESRV02\scans, logon OSPSM\m.rossi"
        r" and /home/jdoe/.ssh; HKLM\Software\Run untouched; NT AUTHORITY\SYSTEM ran it"
    )
    assert kinds(out) == ["account", "host", "account", "account"]
    for value in ("mrossi", "FILESRV02", "m.rossi", "jdoe", "OSPSM"):
        assert value not in out
    assert r"HKLM\Software\Run" in out
    assert r"NT AUTHORITY\SYSTEM" in out


def test_labelled_accounts(anon: Anonymiser) -> None:
    out = anon.text("user m.verdi, utente 'bianchi', Benutzer s_meier2; the user clicked")
    assert kinds(out) == ["account", "account", "account"]
    assert "the user clicked" in out


# --------------------------------------------------------------------------- e-mails and phones


@pytest.mark.parametrize(
    "address",
    [
        "maria.rossi@ospedalesanmarco.it",
        "Anna.Weber+ticket@klinikum-nordstadt.de",
        "k.dimitriou@agiosloukas.gr",
        "m.rossi [at] osp[.]it",
        "m.rossi(at)osp(dot)it",
    ],
)
def test_e_mail_addresses_are_pseudonymised(anon: Anonymiser, address: str) -> None:
    out = anon.text(f"from {address}, please")
    assert kinds(out) == ["email"]
    assert out.endswith(", please")


@pytest.mark.parametrize(
    "phone",
    [
        "+39 06 6859 1234",
        "0039 06 68591234",
        "+49 30 12345678",
        "(089) 1234-5678",
        "030/12345678",
        "0171 2345678",
        "+30 210 7771234",
        "210 7771234",
        "6944 123456",
        "333 123 4567",
        "+1 (617) 555-0142",
    ],
)
def test_phone_numbers_are_pseudonymised(anon: Anonymiser, phone: str) -> None:
    out = anon.text(f"call {phone} now")
    assert out == f"call {anon.pseudonym(Kind.PHONE, phone)} now"
    # One number, one pseudonym, however it is written.
    assert anon.pseudonym(Kind.PHONE, phone) == anon.pseudonym(Kind.PHONE, re.sub(r"\D", "", phone))


@pytest.mark.parametrize(
    "text",
    [
        "on 01.03.2024 and 2024-03-01",
        "ports 1024-65535",
        "25.000.000 euro",
        "event 4625 x 1234",
        "epoch 1710212040",
        "CVE-2024-21887",
        "version 10.0.19045.3930",
    ],
)
def test_numbers_that_are_not_phones_stay(anon: Anonymiser, text: str) -> None:
    assert anon.text(text) == text


def test_labelled_extensions_and_numbers(anon: Anonymiser) -> None:
    out = anon.text("interno 4471, Durchwahl -4312, εσωτ. 2217, Tel.: 06 1234567")
    assert kinds(out) == ["phone"] * 4
    assert not re.search(r"4471|4312|2217|1234567", PSEUDONYM.sub("", out))


# --------------------------------------------------------------------------- identifiers


def test_validators() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert amka_valid("27116804561")
    assert not amka_valid("27116804562")  # wrong check digit
    assert not amka_valid("32136804561")  # no such date
    assert steuer_id_valid("86095742719")
    assert steuer_id_valid("65929970489")
    assert not steuer_id_valid("86095742718")
    assert not steuer_id_valid("06095742719")
    assert icao_check_digit("L01X00T47") == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("codice fiscale RSSMRA80A01H501U.", "RSSMRA80A01H501U"),
        ("CF: rssmra80a01h501u", "rssmra80a01h501u"),
        ("Steuer-ID 86095742719", "86095742719"),
        ("Steuer-ID: 86 095 742 719", "86 095 742 719"),
        ("Ausweis L01X00T471", "L01X00T471"),
        ("Personalausweis T22000129", "T22000129"),
        ("ΑΜΚΑ 27116804561", "27116804561"),
        ("το 27116804561 του ασθενούς", "27116804561"),
        ("ΑΔΤ ΑΚ 123456", "ΑΚ 123456"),
        ("SSN 219-09-9999", "219-09-9999"),
        ("tessera sanitaria 80380000500012345678", "80380000500012345678"),
    ],
)
def test_national_ids_are_pseudonymised(anon: Anonymiser, text: str, value: str) -> None:
    out = anon.text(text)
    assert value not in out
    assert kinds(out) == ["national-id"]


@pytest.mark.parametrize(
    "text",
    [
        "ticket 27116804562 closed",  # not an AMKA (check digit), not a tax id
        "range 000-12-3456 and 666-12-3456 and 900-12-3456",  # never SSNs
        "Windows build PASSWORDSPRAYING",
    ],
)
def test_numbers_that_do_not_validate_stay(anon: Anonymiser, text: str) -> None:
    assert anon.text(text) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("MRN: 004518277", "004518277"),
        ("medical record no. A-77812", "a-77812"),
        ("cartella clinica n. 2023/004512", "2023/004512"),
        ("n. nosologico 24-001122", "24-001122"),
        ("Patientennummer 2023-445566", "2023-445566"),
        ("Fallnummer: 88120977", "88120977"),
        ("αριθμός μητρώου ασθενούς 556677", "556677"),
        ("ΑΡΙΘΜΟΣ ΜΗΤΡΩΟΥ: 556677", "556677"),
    ],
)
def test_record_numbers_after_their_labels(anon: Anonymiser, text: str, value: str) -> None:
    out = anon.text(text)
    assert kinds(out) == ["mrn"]
    assert value.casefold() not in out.casefold()


def test_record_labels_without_a_number_change_nothing(anon: Anonymiser) -> None:
    text = "the MRN of the patient and la cartella del paziente; process PID 4312"
    assert anon.text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "DOB: 07/14/1958",
        "date of birth 1958-07-14",
        "born on 14 July 1958",
        "nata a Napoli il 05/11/1947",
        "data di nascita: 5 novembre 1947",
        "geb. 03.07.1961",
        "Geburtsdatum 3. Juli 1961",
        "ημερομηνία γέννησης 27/11/1968",
        "γεννήθηκε στις 27 Νοεμβρίου 1968",
    ],
)
def test_dates_of_birth(anon: Anonymiser, text: str) -> None:
    out = anon.text(text)
    assert kinds(out) == ["dob"]
    assert not re.search(r"19[456]\d", out)


def test_other_dates_stay(anon: Anonymiser) -> None:
    text = "Detected on 15.03.2024 at 02:30, reported 2024-03-16T08:00:00Z, 18 Μαρτίου 2024"
    assert anon.text(text) == text


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("call Dr. Helen Carter today", "Helen Carter"),
        ("Mr. Robert Hayes was informed", "Robert Hayes"),
        ("Nurse Linda Alvarez said", "Linda Alvarez"),
        ("radiographer James O'Neill opened it", "James O'Neill"),
        ("la dott.ssa Chiara Esposito ha aperto", "Chiara Esposito"),
        ("la Sig.ra Giuseppina Russo, nata", "Giuseppina Russo"),
        ("il collega Marco De Luca ha", "Marco De Luca"),
        ("der Patient Herr Klaus-Dieter Schmidt, geb.", "Klaus-Dieter Schmidt"),
        ("Frau Dr. med. Sabine Wagner wurde", "Sabine Wagner"),
        ("ο κ. Κωνσταντίνος Δημητρίου άλλαξε", "Κωνσταντίνος Δημητρίου"),
        ("η κα Ελένη Παπαδοπούλου", "Ελένη Παπαδοπούλου"),
        ("Δρ. Νικόλαος Γεωργίου, Υπεύθυνος", "Νικόλαος Γεωργίου"),
        ("Nome: ROSSI, Mario\n", "ROSSI, Mario"),
        ("Von: Julia Becker\n", "Julia Becker"),
        ("> Da: Paolo Ferri\n", "Paolo Ferri"),
    ],
)
def test_names_after_titles_roles_and_labels(anon: Anonymiser, text: str, name: str) -> None:
    out = anon.text(text)
    assert kinds(out) == ["person"]
    for part in re.split(r"[ ,]+", name):
        assert part not in out


@pytest.mark.parametrize(
    "text",
    [
        "the patient data was encrypted",
        "MS Teams and MR scanner",
        "Patient ID: unknown",
        "Dr. med. was not available",
        "access was granted to: Domain Admins",
    ],
)
def test_no_name_where_there_is_none(anon: Anonymiser, text: str) -> None:
    assert "person" not in kinds(anon.text(text))


def test_a_sentence_end_ends_a_name(anon: Anonymiser) -> None:
    assert anon.text("We spoke with Dr. Rossi. The attack stopped.").endswith(
        "]. The attack stopped."
    )


def test_the_same_person_with_or_without_title_and_in_another_order() -> None:
    staff = Anonymiser(KEY, Dictionary(persons=frozenset({"Maria Rossi"})))
    out = staff.text("Maria Rossi; Dr. Maria Rossi; ROSSI MARIA; Rossi, Maria; Rossi; rossi")
    person = staff.pseudonym(Kind.PERSON, "Maria Rossi")
    assert out == f"{person}; Dr. {person}; {person}; {person}; {person}; rossi"


# --------------------------------------------------------------------------- dictionary


def test_dictionary_hosts_accounts_and_emails() -> None:
    d = Dictionary(
        hosts=frozenset({"nurse-station7.osp.example", "localhost"}),
        accounts=frozenset({"OSPSM\\m.verdi", "administrator"}),
        emails=frozenset({"privacy@osp.example"}),
    )
    a = Anonymiser(KEY, d)
    out = a.text(
        "nurse-station7 and NURSE-STATION7.osp.example; m.verdi logged in as administrator "
        "on localhost; privacy@osp.example"
    )
    assert kinds(out) == ["host", "host", "account", "email"]
    assert "administrator" in out
    assert "localhost" in out
    assert out.count(a.pseudonym(Kind.HOST, "nurse-station7.osp.example")) == 2


# --------------------------------------------------------------------------- indicator mode


def test_indicator_mode_keeps_public_values_and_replaces_internal_ones() -> None:
    own = Anonymiser(KEY, Dictionary(domains=frozenset({"osp.example"})))
    pattern = (
        "[ipv4-addr:value = '10.1.2.3'] OR [ipv4-addr:value = '185.220.101.47'] OR "
        "[email-addr:value = 'fattura@pagamenti-evil.com'] OR "
        "[email-addr:value = 'mario@osp.example']"
        " OR [domain-name:value = 'pacs01.osp.local'] OR [domain-name:value = 'evil.example.net']"
    )
    out = own.redact(pattern, indicator=True).text
    assert kinds(out) == ["ip", "email", "host"]
    for kept in ("185.220.101.47", "fattura@pagamenti-evil.com", "evil.example.net"):
        assert kept in out
    # The text rules do not apply in a pattern: no names, phones or labels.
    assert own.redact("[x-custom:value = 'Dr. Who 06 1234567']", indicator=True).text == (
        "[x-custom:value = 'Dr. Who 06 1234567']"
    )


# --------------------------------------------------------------------------- STIX objects


def test_anonymise_object_keeps_what_must_stay(anon: Anonymiser) -> None:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--b5437a8a-4e0c-4c9b-a3a2-6b2d4d5e7f10",
        "created": "2024-03-12T03:14:00.000Z",
        "modified": "2024-03-12T03:14:00.000Z",
        "name": "Beacon from WS-ICU-0231",
        "description": "Dr. Anna Weber saw 10.1.2.3 talk to 185.220.101.47",
        "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '185.220.101.47'] OR [ipv4-addr:value = '10.1.2.3']",
        "pattern_type": "stix",
        "valid_from": "2024-03-12T03:14:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
        "kill_chain_phases": [
            {"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}
        ],
        "external_references": [
            {"source_name": "cve", "external_id": "CVE-2024-21887"},
            {"source_name": "ticket", "url": "https://helpdesk.osp.local/ticket/4471"},
        ],
        "labels": ["reported by nurse Anna Weber"],
        "x_hospital_notes": {"ward": "ICU", "contact": ["anna.weber@osp.example"], "beds": 12},
        "extensions": {
            "extension-definition--92cbcf05-0387-450d-8cb4-8033079dc22d": {
                "extension_type": "toplevel-property-extension"
            }
        },
        SIGNATURE_PROPERTY: "eyJhbGciOiJFZDI1NTE5In0..c2lnbmF0dXJl",
    }
    original = repr(obj)
    out = anonymise_object(obj, anon)
    assert repr(obj) == original  # the input is not modified
    for key in (
        "type",
        "id",
        "created_by_ref",
        "created",
        "valid_from",
        "object_marking_refs",
        "indicator_types",
        "kill_chain_phases",
        "pattern_type",
        "extensions",
    ):
        assert out[key] == obj[key]
    assert SIGNATURE_PROPERTY not in out
    assert out["external_references"][0] == obj["external_references"][0]
    assert "helpdesk.osp.local" not in out["external_references"][1]["url"]
    assert "185.220.101.47" in out["pattern"]
    assert "10.1.2.3" not in out["pattern"]
    assert kinds(out["description"]) == ["person", "ip"]
    assert kinds(out["name"]) == ["host"]
    assert kinds(out["labels"][0]) == ["person"]
    assert kinds(out["x_hospital_notes"]["contact"][0]) == ["email"]
    assert out["x_hospital_notes"]["beds"] == 12


def test_observables_of_the_organisation_are_withheld_not_pseudonymised(anon: Anonymiser) -> None:
    """An observable's id is a UUIDv5 of its value: pseudonymising the value would leave an id
    from which anyone recomputes it (2^24 guesses cover 10.0.0.0/8)."""
    internal = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--1b2c3d4e-0000-5000-8000-000000000001",
        "value": "10.1.2.3",
    }
    public = {
        **internal,
        "id": "ipv4-addr--1b2c3d4e-0000-5000-8000-000000000002",
        "value": "185.220.101.47",
    }
    account = {
        "type": "user-account",
        "spec_version": "2.1",
        "id": "user-account--1b2c3d4e-0000-5000-8000-000000000003",
        "account_login": "OSPSM\\m.verdi",
        "display_name": "Dr. Mario Verdi",
    }
    assert anonymise_object(public, anon) == public
    for observable in (internal, account):
        with pytest.raises(InternalObservableError, match="withheld"):
            anonymise_object(observable, anon)


def test_a_batch_withholds_internal_observables_and_what_depends_on_them(anon: Anonymiser) -> None:
    internal = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--a",
        "value": "10.1.2.3",
    }
    public = {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--b", "value": "8.8.4.4"}
    observed_internal = {
        "type": "observed-data",
        "id": "observed-data--c",
        "object_refs": ["ipv4-addr--a"],
    }
    observed_both = {
        "type": "observed-data",
        "id": "observed-data--d",
        "object_refs": ["ipv4-addr--a", "ipv4-addr--b"],
    }
    sighting = {"type": "sighting", "id": "sighting--e", "sighting_of_ref": "observed-data--c"}
    report = {
        "type": "report",
        "id": "report--f",
        "name": "Beacon from 10.1.2.3",
        "object_refs": ["observed-data--c", "observed-data--d", "sighting--e"],
    }
    result = anonymise_objects(
        [internal, public, observed_internal, observed_both, sighting, report], anon
    )
    assert result.withheld == {"ipv4-addr--a", "observed-data--c", "sighting--e"}
    assert [o["id"] for o in result.objects] == ["ipv4-addr--b", "observed-data--d", "report--f"]
    assert result.objects[1]["object_refs"] == ["ipv4-addr--b"]
    assert result.objects[2]["object_refs"] == ["observed-data--d"]
    assert kinds(result.objects[2]["name"]) == ["ip"]


def test_anonymise_object_refuses_what_is_not_json(anon: Anonymiser) -> None:
    with pytest.raises(AnonymisationError, match="not JSON"):
        anonymise_object({"type": "note", "content": b"bytes"}, anon)
    deep: dict[str, Any] = {"type": "note"}
    node = deep
    for _ in range(40):
        node["x_nested"] = {}
        node = node["x_nested"]
    with pytest.raises(AnonymisationError, match="deeper than"):
        anonymise_object(deep, anon)


FRAGMENTS = st.sampled_from(
    [
        "10.42.17.23",
        "fd12:3456:789a:1::17",
        "185.220.101.47",
        "m.rossi@osp.example",
        "Dr. Anna Weber",
        "κ. Ελένη Παπαδοπούλου",
        "MRN: 004518277",
        "+39 06 6859 1234",
        "WS-ICU-0231",
        "CVE-2024-21887",
        "T1566.001",
        "Herr Klaus Müller",
        "cartella clinica n. 2023/004512",
        "codice fiscale RSSMRA80A01H501U",
        "ΑΜΚΑ 27116804561",
        "SANMARCO\\cesposito",
        "pacs01.osp.local",
        "00:1B:63:84:45:E6",
        "APT28",
        "on 2024-03-12",
        "the",
        "server",
        "patient",
        "Tel.",
        ",",
        ".",
        "(",
        ")",
        "\n",
    ]
)
SECRETS = (
    "10.42.17.23",
    "fd12:3456:789a:1::17",
    "m.rossi@osp.example",
    "Weber",
    "004518277",
    "Müller",
    "2023/004512",
    "RSSMRA80A01H501U",
    "27116804561",
    "cesposito",
    "pacs01",
    "00:1B:63:84:45:E6",
    "Παπαδοπούλου",
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(FRAGMENTS, max_size=25),
    separators=st.lists(st.sampled_from([" ", "\t", "\n", ", "]), min_size=25, max_size=25),
)
def test_any_mix_of_identifiers_is_anonymised_and_stays_so(
    parts: list[str], separators: list[str]
) -> None:
    # Identifiers glued to each other ("10.0.0.1+39 06...") are not text anyone writes.
    anon = Anonymiser(KEY)
    text = "".join(p + separators[i] for i, p in enumerate(parts))
    once = anon.text(text)
    assert anon.text(once) == once
    spaced = " ".join(parts)
    out = anon.text(spaced)
    for secret in SECRETS:
        assert secret not in out
    for public in ("185.220.101.47", "CVE-2024-21887", "T1566.001", "APT28"):
        assert spaced.count(public) == out.count(public)


@pytest.mark.parametrize(
    ("text", "expected_kinds", "kept"),
    [
        # Found by the property test above; each once leaked or destroyed something.
        ("Dr. Anna Weber Herr Klaus Müller", ["person", "person"], ""),
        ("Dr. Anna Weber T1566.001", ["person"], "T1566.001"),
        ("Dr. Anna Weber Storm-0558", ["person"], "Storm-0558"),
        ("+39 06 6859 1234 00:1B:63:84:45:E6", ["phone", "mac"], ""),
        ("codice fiscale RSSMRA80A01H501U 185.220.101.47", ["national-id"], "185.220.101.47"),
        ("Tel. 10.42.17.23 185.220.101.47", ["ip"], "185.220.101.47"),
        ("server CVE-2024-21887", [], "CVE-2024-21887"),
    ],
)
def test_neighbouring_identifiers_do_not_hide_each_other(
    anon: Anonymiser, text: str, expected_kinds: list[str], kept: str
) -> None:
    out = anon.text(text)
    assert kinds(out) == expected_kinds
    assert kept in out
    for secret in ("Weber", "Müller", "6859", "00:1B", "RSSMRA", "10.42.17.23"):
        assert secret not in out
