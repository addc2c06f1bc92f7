"""CSV asset lists, as exported from a CMDB or a spreadsheet (documented in docs/csv-assets.md).

One asset per row; the header names the columns (``name`` is required, the others optional and
in any order). Comma, semicolon (Excel in Italy or Germany) and tab delimiters are told apart
from the header line; UTF-8 with or without a byte order mark. A row is matched to a stored asset
by name, then by MAC, IP or hostname (``find_asset_by_addresses``), so re-importing never
duplicates; an empty cell leaves the stored value unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset
from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.identifiers import canonical_cpe
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.network import Zone
from panacea.inventory.service import (
    address_kind,
    find_asset_by_addresses,
    normalise_address,
    set_address,
)
from panacea.inventory.vocabulary import AddressKind, AssetKind, Control, Criticality, Patchable

SOURCE = "csv"
COLUMNS = (
    "name",
    "kind",
    "zone",
    "ip",
    "mac",
    "hostname",
    "os",
    "os_cpe",
    "manufacturer",
    "model",
    "firmware",
    "department",
    "criticality",
    "patchable",
    "controls",
    "known_cves",
)
DELIMITERS = (",", ";", "\t")
CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
# Inside a cell, several values are separated by ';' (or ',' when the file is ';'-delimited).
_LIST_SEPARATOR = re.compile(r"[;,]")
# No spreadsheet cell holds these; NUL in particular cannot be stored in PostgreSQL text.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASSET_FIELDS = (
    "kind",
    "hostname",
    "os",
    "os_cpe",
    "manufacturer",
    "model",
    "firmware",
    "department",
    "criticality",
    "patchable",
)


# Widths of the ``Asset`` columns: longer values are refused rather than cut.
Text100 = Annotated[str, Field(min_length=1, max_length=100)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text255 = Annotated[str, Field(min_length=1, max_length=255)]
Text500 = Annotated[str, Field(min_length=1, max_length=500)]


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in _LIST_SEPARATOR.split(value) if part.strip()]
    return value


def _vocabulary_word(value: object) -> object:
    """'Medical device' and 'vendor-approval' mean medical_device and vendor_approval."""
    if isinstance(value, str):
        return re.sub(r"[\s\-]+", "_", value.strip().lower())
    return value


class CsvAssetRow(BaseModel):
    """One row of the asset list; fields left out are ``None`` (leave the stored value)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Text200
    kind: AssetKind | None = None
    zone: Text100 | None = None
    ip: list[str] = Field(default_factory=list)
    mac: list[str] = Field(default_factory=list)
    hostname: Text255 | None = None
    os: Text200 | None = None
    os_cpe: Text500 | None = None
    manufacturer: Text200 | None = None
    model: Text200 | None = None
    firmware: Text100 | None = None
    department: Text100 | None = None
    criticality: Criticality | None = None
    patchable: Patchable | None = None
    controls: list[Control] | None = None
    known_cves: list[str] | None = None

    _lists = field_validator("ip", "mac", "controls", "known_cves", mode="before")(_split)
    _words = field_validator("kind", "criticality", "patchable", mode="before")(_vocabulary_word)

    @field_validator("controls", mode="before")
    @classmethod
    def _control_words(cls, value: object) -> object:
        return [_vocabulary_word(v) for v in value] if isinstance(value, list) else value

    @field_validator("ip")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return [_address(v, AddressKind.IPV4, AddressKind.IPV6) for v in value]

    @field_validator("mac")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        return [_address(v, AddressKind.MAC) for v in value]

    @field_validator("os_cpe")
    @classmethod
    def _cpe(cls, value: str | None) -> str | None:
        return None if value is None else canonical_cpe(value)

    @field_validator("known_cves")
    @classmethod
    def _cves(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cves = [cve.upper() for cve in value]
        for cve in cves:
            if not CVE_ID.match(cve):
                raise ValueError(f"{cve!r} is not a CVE id like CVE-2017-0144")
        return sorted(set(cves))


def _address(value: str, *kinds: AddressKind) -> str:
    try:
        kind = address_kind(value)
    except ValueError:
        kind = None
    if kind not in kinds:
        wanted = "a MAC address" if kinds == (AddressKind.MAC,) else "an IP address"
        raise ValueError(f"{value!r} is not {wanted}")
    return normalise_address(value)


@dataclass
class _Run:
    """What one import has seen so far: which line gave each name and each asset."""

    session: Session
    context: ImportContext
    zones: dict[str, Zone]
    report: ImportReport
    line_of_name: dict[str, int] = field(default_factory=dict)
    line_of_asset: dict[int, int] = field(default_factory=dict)

    def error(self, line: int, column: str | None, message: str) -> ImportFileError:
        where = f"line {line}, column {column}" if column else f"line {line}"
        return ImportFileError(self.context.source, where, message)


class CsvAssetImporter:
    """Create or update the assets listed in a CSV file."""

    kind: ClassVar[str] = "csv"

    def run(self, session: Session, raw: bytes, context: ImportContext) -> ImportReport:
        """Upsert every row's asset; return what changed.

        Raises ImportFileError naming file, line, column and value for the first bad cell.
        """
        zones = session.scalars(
            select(Zone).where(Zone.organisation_id == context.organisation.id)
        ).all()
        report = ImportReport(kind=self.kind, source=context.source)
        run = _Run(session, context, {zone.name: zone for zone in zones}, report)
        for line, row in parse_rows(raw, context.source):
            run.report.records += 1
            _apply(run, line, row)
        session.flush()
        return run.report


def parse_rows(raw: bytes, source: str) -> Iterator[tuple[int, CsvAssetRow]]:
    """Yield (line number, validated row) for each non-blank row of the CSV ``raw``.

    Raises ImportFileError naming ``source``, the line and the column of the first problem.
    """
    text = _decode(raw, source)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    header: list[str] | None = None
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _header(cells, line, source)
                continue
            yield line, _row(header, cells, line, source)
    except csv.Error as e:
        raise ImportFileError(source, f"line {reader.line_num}", f"not valid CSV: {e}") from e
    if header is None:
        raise ImportFileError(source, None, "empty file: expected a header line with 'name'")


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        message = f"byte {raw[e.start]:#04x} is not UTF-8: save the sheet as 'CSV UTF-8'"
        raise ImportFileError(source, f"line {line}", message) from e


def _delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of ',', ';' and tab."""
    first = text.split("\n", 1)[0]
    return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


def _header(cells: list[str], line: int, source: str) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    for index, name in enumerate(header):
        where = f"line {line}, column {index + 1}"
        if name and name not in COLUMNS:
            known = ", ".join(COLUMNS)
            message = f"unknown column {cells[index].strip()!r} (columns: {known})"
            raise ImportFileError(source, where, message)
        if name and header.index(name) != index:
            raise ImportFileError(source, where, f"column {name!r} given twice")
    if "name" not in header:
        raise ImportFileError(source, f"line {line}", "the header needs a 'name' column")
    return header


def _row(header: list[str], cells: list[str], line: int, source: str) -> CsvAssetRow:
    values: dict[str, str] = {}
    for index, cell in enumerate(cells):
        name = header[index] if index < len(header) else ""
        control = _CONTROL_CHARACTER.search(cell)
        if control:
            message = f"control character U+{ord(control.group()):04X} in {cell!r}"
            raise ImportFileError(source, f"line {line}, column {name or index + 1}", message)
        if name and cell.strip():
            values[name] = cell
        elif cell.strip():
            message = f"value {cell.strip()!r} is in no column of the header"
            raise ImportFileError(source, f"line {line}, column {index + 1}", message)
    try:
        return CsvAssetRow.model_validate(values)
    except ValidationError as e:
        error = e.errors()[0]
        column = str(error["loc"][0]) if error["loc"] else None
        where = f"line {line}, column {column}" if column else f"line {line}"
        raise ImportFileError(source, where, _describe(error)) from e


def _describe(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str) and error["type"] != "value_error":
        shown = value if len(value) <= 60 else value[:60] + "..."
        return f"{message}, not {shown!r}"
    if error["type"] == "missing":
        return "a value is required"
    return message


def _apply(run: _Run, line: int, row: CsvAssetRow) -> None:
    if row.name in run.line_of_name:
        first = run.line_of_name[row.name]
        raise run.error(line, "name", f"asset {row.name!r} is already on line {first}")
    run.line_of_name[row.name] = line
    zone = _zone(run, line, row.zone)
    asset = _find_or_create(run, line, row)
    for name in _ASSET_FIELDS:
        value = getattr(row, name)
        if value is not None:
            setattr(asset, name, str(value))
    if zone is not None:
        asset.zone_id = zone.id
    if row.controls is not None:
        asset.controls = [control.value for control in row.controls]
    if row.known_cves is not None:
        asset.known_cves = row.known_cves
    asset.last_seen = run.context.started_at
    _set_addresses(run, line, asset, row)
    run.report.touched_asset_ids.add(asset.id)


def _zone(run: _Run, line: int, name: str | None) -> Zone | None:
    if name is None:
        return None
    zone = run.zones.get(name)
    if zone is None:
        known = ", ".join(sorted(run.zones)) or "none defined yet"
        raise run.error(line, "zone", f"unknown zone {name!r} (zones: {known})")
    return zone


def _find_or_create(run: _Run, line: int, row: CsvAssetRow) -> Asset:
    """The stored asset this row is (by name, then address), or a new one."""
    org_id = run.context.organisation.id
    asset = run.session.scalar(
        select(Asset).where(Asset.organisation_id == org_id, Asset.name == row.name)
    )
    if asset is None:
        asset = find_asset_by_addresses(
            run.session, org_id, macs=row.mac, ips=row.ip, hostname=row.hostname
        )
        if asset is not None:
            _claim(run, line, asset, "ip" if row.ip else "mac" if row.mac else "hostname")
            run.report.notes.append(f"line {line}: renamed asset {asset.name!r} to {row.name!r}")
            asset.name = row.name
    if asset is None:
        return _create(run, line, row)
    _claim(run, line, asset, "name")
    run.report.assets_updated += 1
    return asset


def _claim(run: _Run, line: int, asset: Asset, column: str) -> None:
    """Refuse two rows that describe the same stored asset."""
    first = run.line_of_asset.get(asset.id)
    if first is not None and first != line:
        message = f"this is asset {asset.name!r}, already given on line {first}"
        raise run.error(line, column, message)
    run.line_of_asset[asset.id] = line


def _create(run: _Run, line: int, row: CsvAssetRow) -> Asset:
    seen = run.context.started_at
    asset = Asset(
        organisation_id=run.context.organisation.id,
        name=row.name,
        kind=AssetKind.OTHER.value,
        criticality=Criticality.MEDIUM.value,
        patchable=Patchable.YES.value,
        controls=[],
        known_cves=[],
        source=SOURCE,
        first_seen=seen,
        last_seen=seen,
    )
    run.session.add(asset)
    run.session.flush()
    run.line_of_asset[asset.id] = line
    run.report.assets_added += 1
    return asset


def _set_addresses(run: _Run, line: int, asset: Asset, row: CsvAssetRow) -> None:
    org_id = run.context.organisation.id
    for column, values in (("mac", row.mac), ("ip", row.ip)):
        for value in values:
            owner = (
                find_asset_by_addresses(run.session, org_id, macs=[value])
                if column == "mac"
                else find_asset_by_addresses(run.session, org_id, ips=[value])
            )
            if owner is not None and owner.id != asset.id:
                first = run.line_of_asset.get(owner.id)
                if first is not None:
                    message = (
                        f"address {value!r} is already given to {owner.name!r} on line {first}"
                    )
                    raise run.error(line, column, message)
                run.report.notes.append(
                    f"line {line}: moved address {value} from {owner.name!r} to {asset.name!r}"
                )
            set_address(run.session, asset, value)
