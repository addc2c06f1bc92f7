"""CSV asset lists: documented header, both delimiters, upsert by name or address."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.db.engine import session_scope
from panacea.inventory.assets import Asset
from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.csv_assets import COLUMNS, parse_rows
from panacea.inventory.imports import import_bytes, import_file
from panacea.inventory.network import Zone
from panacea.inventory.service import ensure_organisation, set_address
from tests.conftest import TEST_DATA, table_snapshot

ORG = "Azienda Ospedaliera Santa Chiara"
ZONES = ("dmz", "clinical-lan", "medical-devices")
CMDB_EXPORT = TEST_DATA / "csv_assets_cmdb_export.csv"
EXCEL_EXPORT = TEST_DATA / "csv_assets_excel_semicolon_bom.csv"
UNKNOWN_ZONE = TEST_DATA / "csv_assets_unknown_zone.csv"


@pytest.fixture
def hospital(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The organisation with its zones, as the inventory file would have made them."""
    with session_scope(factory) as session:
        org = ensure_organisation(session, ORG)
        session.add_all(Zone(organisation_id=org.id, name=name, kind="other") for name in ZONES)
    return factory


def _assets(factory: sessionmaker[Session]) -> dict[str, Asset]:
    """Every asset by name, addresses loaded (``selectin``)."""
    with factory() as session:
        return {asset.name: asset for asset in session.scalars(select(Asset))}


def _zone_of(factory: sessionmaker[Session], asset: Asset) -> str | None:
    with factory() as session:
        return session.scalar(select(Zone.name).where(Zone.id == asset.zone_id))


def _addresses(asset: Asset) -> list[str]:
    return sorted(address.value for address in asset.addresses)


def _import(factory: sessionmaker[Session], text: str, source: str = "assets.csv") -> object:
    return import_bytes(factory, "csv", text.encode(), organisation=ORG, source=source)


def test_cmdb_export(hospital: sessionmaker[Session]) -> None:
    report = import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)

    assets = _assets(hospital)
    assert (report.kind, report.records, report.assets_added, report.assets_updated) == (
        "csv",
        5,
        5,
        0,
    )
    assert report.touched_asset_ids == {a.id for a in assets.values()}
    pacs = assets["pacs-01"]
    assert (pacs.kind, _zone_of(hospital, pacs)) == ("server", "dmz")
    assert _addresses(pacs) == ["00:50:56:9A:10:01", "10.20.1.10", "10.20.1.11"]
    assert pacs.os_cpe == "cpe:2.3:o:microsoft:windows_server_2016:-:*:*:*:*:*:*:*"
    assert (pacs.criticality, pacs.patchable) == ("critical", "vendor_approval")
    assert (pacs.controls, pacs.known_cves) == (["edr", "backups"], ["CVE-2021-44228"])
    assert (pacs.source, pacs.hostname, pacs.firmware) == ("csv", "pacs01.hospital.local", "5.2.0")
    gateway = assets["alaris-gw-icu"]
    assert (gateway.kind, gateway.patchable, gateway.manufacturer) == ("medical_device", "no", "BD")
    assert _zone_of(hospital, gateway) == "medical-devices"
    assert gateway.os_cpe == "cpe:2.3:o:bd:alaris_gateway_workstation_firmware:1.3.1:13:*:*:*:*:*:*"
    nurse_call = assets["nurse-call-gw"]
    assert (nurse_call.kind, nurse_call.criticality, nurse_call.patchable) == ("iot", "low", "yes")
    assert (nurse_call.controls, nurse_call.known_cves, nurse_call.os) == ([], [], None)


def test_excel_export_with_bom_semicolons_and_crlf(hospital: sessionmaker[Session]) -> None:
    report = import_file(hospital, "csv", EXCEL_EXPORT, organisation=ORG)

    assets = _assets(hospital)
    assert report.records == report.assets_added == 3
    pump = assets["Pompa infusione TI-03"]
    assert (pump.kind, pump.patchable) == ("medical_device", "vendor_approval")
    assert _zone_of(hospital, pump) == "medical-devices"
    assert _addresses(pump) == ["00:0A:5E:AB:CD:03", "10.30.5.33"]
    echo = assets["Ecografo cardiologia"]
    assert (echo.kind, echo.criticality) == ("medical_device", "high")
    assert echo.department == "Cardiologia – Emodinamica"
    assert _addresses(echo) == ["10.30.7.4", "10.30.7.5"]
    workstation = assets["Postazione reparto 2° piano"]
    assert workstation.controls == ["edr", "disk_encryption"]


def test_reimport_updates_and_never_duplicates(hospital: sessionmaker[Session]) -> None:
    import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)
    first = _assets(hospital)

    again = import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)

    second = _assets(hospital)
    assert (again.assets_added, again.assets_updated) == (0, 5)
    assert {n: a.id for n, a in second.items()} == {n: a.id for n, a in first.items()}
    for name, asset in second.items():
        assert asset.first_seen == first[name].first_seen
        assert asset.last_seen > first[name].last_seen


def test_empty_cells_leave_stored_values(hospital: sessionmaker[Session]) -> None:
    import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)

    _import(hospital, "name,criticality,os,controls\npacs-01,high,,\n")

    pacs = _assets(hospital)["pacs-01"]
    assert (pacs.criticality, pacs.os, pacs.controls) == (
        "high",
        "Windows Server 2016",
        ["edr", "backups"],
    )


def test_row_matches_a_scanned_asset_by_address(hospital: sessionmaker[Session]) -> None:
    with session_scope(hospital) as session:
        org = ensure_organisation(session, ORG)
        scanned = Asset(organisation_id=org.id, name="10.30.5.21", source="nmap", hostname=None)
        session.add(scanned)
        session.flush()
        set_address(session, scanned, "00:0a:5e:12:34:56")
        scanned_id = scanned.id

    report = import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)

    gateway = _assets(hospital)["alaris-gw-icu"]
    assert gateway.id == scanned_id
    assert gateway.source == "nmap"
    assert (report.assets_added, report.assets_updated) == (4, 1)
    assert "line 3: renamed asset '10.30.5.21' to 'alaris-gw-icu'" in report.notes


def test_address_moves_from_another_asset(hospital: sessionmaker[Session]) -> None:
    with session_scope(hospital) as session:
        org = ensure_organisation(session, ORG)
        old = Asset(organisation_id=org.id, name="old-pacs", source="nmap")
        session.add_all([old, Asset(organisation_id=org.id, name="pacs-01")])
        session.flush()
        set_address(session, old, "10.20.1.11")

    report = _import(hospital, 'name,ip\npacs-01,"10.20.1.10;10.20.1.11"\n')

    assets = _assets(hospital)
    assert _addresses(assets["pacs-01"]) == ["10.20.1.10", "10.20.1.11"]
    assert assets["old-pacs"].addresses == []
    assert report.notes == ["line 2: moved address 10.20.1.11 from 'old-pacs' to 'pacs-01'"]


def test_unknown_zone_names_line_and_column(hospital: sessionmaker[Session]) -> None:
    before = table_snapshot(hospital)

    with pytest.raises(ImportFileError) as caught:
        import_file(hospital, "csv", UNKNOWN_ZONE, organisation=ORG)

    assert str(caught.value) == (
        f"{UNKNOWN_ZONE}: line 7, column zone: unknown zone 'icu' "
        "(zones: clinical-lan, dmz, medical-devices)"
    )
    assert table_snapshot(hospital) == before


HEADER = "name,kind,zone,ip,mac,criticality,patchable,controls,known_cves,os_cpe\n"
HOSTILE = {
    "patchable not in the vocabulary": (
        HEADER + "ws-1,workstation,,,,,maybe,,,\n",
        r"^hostile.csv: line 2, column patchable: Input should be 'yes', 'vendor_approval' or "
        r"'no', not 'maybe'$",
    ),
    "kind not in the vocabulary": (
        HEADER + "ws-1,toaster,,,,,,,,\n",
        r"line 2, column kind: Input should be .*, not 'toaster'",
    ),
    "criticality as a number": (
        HEADER + "ws-1,,,,,5,,,,\n",
        r"line 2, column criticality: Input should be 'low', 'medium', 'high' or 'critical', "
        r"not '5'",
    ),
    "IP out of range": (
        HEADER + "ws-1,,,10.0.0.300,,,,,,\n",
        r"line 2, column ip: '10\.0\.0\.300' is not an IP address",
    ),
    "MAC in the ip column": (
        HEADER + "ws-1,,,00:11:22:33:44:55,,,,,,\n",
        r"line 2, column ip: '00:11:22:33:44:55' is not an IP address",
    ),
    "bad MAC": (
        HEADER + "ws-1,,,,zz:11:22:33:44:55,,,,,\n",
        r"line 2, column mac: 'zz:11:22:33:44:55' is not a MAC address",
    ),
    "unknown control": (
        HEADER + "ws-1,,,,,,,edr;antivirus,,\n",
        r"line 2, column controls: Input should be .*, not 'antivirus'",
    ),
    "malformed CVE id": (
        HEADER + "ws-1,,,,,,,,CVE-2017-0144;CVE-17-1,\n",
        r"line 2, column known_cves: 'CVE-17-1' is not a CVE id like CVE-2017-0144",
    ),
    "OS CPE that is not one": (
        HEADER + "ws-1,,,,,,,,,Windows 10\n",
        r"line 2, column os_cpe: not a CPE name \(expected 'cpe:2\.3:' or 'cpe:/'\): 'Windows 10'",
    ),
    "OS CPE that names nothing": (
        HEADER + "ws-1,,,,,,,,,cpe:/o\n",
        r"line 2, column os_cpe: a CPE name needs a vendor and a product: 'cpe:/o'",
    ),
    "name longer than the column": (
        HEADER + "x" * 201 + ",,,,,,,,,\n",
        r"line 2, column name: String should have at most 200 characters, not 'xxx",
    ),
    "row without a name": (
        HEADER + "ws-1,,,,,,,,,\n,server,,,,,,,,\n",
        r"line 3, column name: a value is required",
    ),
    "unknown zone on a later line": (
        HEADER + "ws-1,,dmz,,,,,,,\n\nws-2,,icu,,,,,,,\n",
        r"^hostile.csv: line 4, column zone: unknown zone 'icu'",
    ),
    "same name twice": (
        HEADER + "ws-1,,,,,,,,,\nws-1,,,,,,,,,\n",
        r"line 3, column name: asset 'ws-1' is already on line 2",
    ),
    "same IP on two rows": (
        HEADER + "ws-1,,,10.1.1.1,,,,,,\nws-2,,,10.1.1.1,,,,,,\n",
        r"line 3, column ip: this is asset 'ws-1', already given on line 2",
    ),
    "same MAC on two rows": (
        "name,mac\nws-1,00:11:22:33:44:55\nws-2,00-11-22-33-44-55\n",
        r"line 3, column mac: this is asset 'ws-1', already given on line 2",
    ),
    "more values than columns": (
        "name,kind\nws-1,workstation,clinical-lan\n",
        r"line 2, column 3: value 'clinical-lan' is in no column of the header",
    ),
    "misspelt column": (
        "nmae,kind\nws-1,workstation\n",
        r"line 1, column 1: unknown column 'nmae' \(columns: name, kind, zone,",
    ),
    "no name column": ("kind,zone\nworkstation,dmz\n", r"line 1: the header needs a 'name' column"),
    "column twice": ("name,ip,ip\nws-1,,\n", r"line 1, column 3: column 'ip' given twice"),
    "stray quote": ('name,os\nws-1,"Windows" 10\n', r"line 2: not valid CSV"),
    "NUL byte": (
        "name,os\nws-1,Win\x0010\n",
        r"line 2, column os: control character U\+0000 in 'Win\\x0010'",
    ),
    "empty file": ("", r"^hostile.csv: empty file: expected a header line with 'name'$"),
}


@pytest.mark.parametrize(("text", "message"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_csv_changes_nothing(
    hospital: sessionmaker[Session], text: str, message: str
) -> None:
    import_file(hospital, "csv", CMDB_EXPORT, organisation=ORG)
    before = table_snapshot(hospital)

    with pytest.raises(ImportFileError, match=message):
        _import(hospital, text, source="hostile.csv")

    assert table_snapshot(hospital) == before


def test_text_not_utf8_names_line() -> None:
    raw = "name,department\nws-1,Radiologia\nws-2,Sal\xe9 operatorie\n".encode("cp1252")
    with pytest.raises(ImportFileError, match=r"x.csv: line 3: byte 0xe9 is not UTF-8"):
        list(parse_rows(raw, "x.csv"))


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("name\nws-1\n", None),
        ("name;department\nws-1;Radiologia, piano 2\n", "Radiologia, piano 2"),
        ("name,department\nws-1,Radiologia; piano 2\n", "Radiologia; piano 2"),
        ("name\tdepartment\nws-1\tRadiologia, piano 2; ala B\n", "Radiologia, piano 2; ala B"),
    ],
)
def test_delimiter_from_header(text: str, department: str | None) -> None:
    """The header's delimiter splits the rows; the other delimiters are ordinary text."""
    rows = list(parse_rows(text.encode(), "d.csv"))
    assert [(line, row.name, row.department) for line, row in rows] == [(2, "ws-1", department)]


# Cell text as people type it, with the characters CSV must quote; no blank at either end.
CELL = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(["\n", '"', ";", ","])
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(CELL, st.one_of(st.none(), CELL)), min_size=1, max_size=5).filter(
        lambda rows: len({name for name, _ in rows}) == len(rows)
    ),
    delimiter=st.sampled_from([",", ";"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_rows_written_by_csv_writer_read_back(
    rows: list[tuple[str, str | None]], delimiter: str, bom: bool, newline: str
) -> None:
    """Whatever a spreadsheet writes with quoting (delimiters, quotes, newlines in cells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["name", "department"])
    writer.writerows([name, department or ""] for name, department in rows)
    raw = ("\ufeff" if bom else "") + buffer.getvalue()

    parsed = [row for _, row in parse_rows(raw.encode(), "p.csv")]

    assert [(row.name, row.department) for row in parsed] == rows


def test_columns_are_the_documented_ones() -> None:
    documented = (TEST_DATA.parent.parent / "docs" / "csv-assets.md").read_text()
    for column in COLUMNS:
        assert f"| `{column}` |" in documented


def test_last_seen_is_the_import_time(hospital: sessionmaker[Session]) -> None:
    started = utcnow()
    _import(hospital, "name\nws-1\n")
    asset = _assets(hospital)["ws-1"]
    assert started <= asset.last_seen <= utcnow() + timedelta(seconds=1)
    assert asset.first_seen == asset.last_seen
