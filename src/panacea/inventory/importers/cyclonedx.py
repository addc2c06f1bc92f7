"""CycloneDX JSON SBOMs (spec 1.4, 1.5, 1.6): the software components of one asset.

The document is first validated against the official CycloneDX JSON schema of its
``specVersion`` (shipped with cyclonedx-python-lib), so every error names the JSON path of the
bad field. Then every component is read, nested ones and ``metadata.component`` (the firmware or
product itself) included: name, version, purl, CPE and supplier (or publisher).

Re-importing replaces the asset's components of source ``sbom``: a component whose
(name, version, purl) is unchanged keeps its row, so its findings and their history stay; a
component no longer in the SBOM is deleted and its findings go with it (database cascade),
which the report's notes list. Components of other sources (inventory file) are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, ClassVar

from cyclonedx.schema import SchemaVersion
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding
from panacea.inventory.assets import Asset, Component
from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.identifiers import canonical_cpe, canonical_purl, purl_version
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.service import get_asset

SOURCE = "sbom"
SUPPORTED_SPEC_VERSIONS = ("1.4", "1.5", "1.6")
# Column widths of ``Component``: longer values are refused rather than cut.
_MAX_LENGTH = {"name": 300, "version": 100, "purl": 1000, "cpe": 500, "supplier": 200}
_MAX_MESSAGE = 300


class _Entity(BaseModel):
    """An organizationalEntity: only the name matters here."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = None


class _Component(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    version: str | None = None
    purl: str | None = None
    cpe: str | None = None
    supplier: _Entity | None = None
    manufacturer: _Entity | None = None
    publisher: str | None = None
    components: list[_Component] = Field(default_factory=list)


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore")
    component: _Component | None = None
    supplier: _Entity | None = None
    manufacturer: _Entity | None = None  # 1.6
    manufacture: _Entity | None = None  # 1.5, deprecated in 1.6


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metadata: _Metadata | None = None
    components: list[_Component] = Field(default_factory=list)


@dataclass(frozen=True)
class SbomComponent:
    """One component as the SBOM states it, with the JSON path it came from."""

    path: str
    name: str
    version: str | None
    purl: str | None
    cpe: str | None
    supplier: str | None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """What makes a component the same across re-imports."""
        return (self.name, self.version, self.purl)


class CycloneDxImporter:
    """Attach the components of a CycloneDX JSON SBOM to the asset ``context.asset_ref``."""

    kind: ClassVar[str] = "sbom"

    def run(self, session: Session, raw: bytes, context: ImportContext) -> ImportReport:
        """Replace the asset's SBOM components with the file's; return what changed.

        Raises ImportFileError (file and JSON path) for a file that is not a valid CycloneDX
        1.4-1.6 JSON document, and UnknownAssetError if the asset does not exist.
        """
        if not context.asset_ref:
            raise ImportFileError(
                context.source,
                None,
                "an SBOM needs --asset: the name or id of the asset it describes",
            )
        asset = get_asset(session, context.organisation, context.asset_ref)
        components = read_sbom(raw, context.source)
        report = ImportReport(kind=self.kind, source=context.source, records=len(components))
        _replace_components(session, asset, components, report)
        report.assets_updated = 1
        report.touched_asset_ids.add(asset.id)
        return report


def read_sbom(raw: bytes, source: str) -> list[SbomComponent]:
    """Validate and read a CycloneDX JSON SBOM; return its distinct components.

    Raises ImportFileError naming ``source`` and the line or JSON path of the first problem.
    """
    text = _decode(raw, source)
    document = _parse_json(text, source)
    version = _spec_version(document, source)
    _validate_schema(document, version, source)
    try:
        parsed = _Document.model_validate(document)
    except ValidationError as e:
        first = e.errors()[0]
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ImportFileError(source, path, first["msg"]) from e
    return _distinct(_checked(c, source) for c in _walk(parsed))


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ImportFileError(source, f"line {line}", "not UTF-8 text (JSON must be)") from e


def _parse_json(text: str, source: str) -> dict[str, Any]:
    if text.lstrip().startswith("<"):
        raise ImportFileError(source, None, "this looks like XML: give a CycloneDX JSON SBOM")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno}, column {e.colno}"
        raise ImportFileError(source, where, f"not valid JSON: {e.msg}") from e
    except RecursionError as e:
        raise ImportFileError(source, None, "JSON nested too deeply") from e
    if not isinstance(document, dict):
        raise ImportFileError(source, "$", "a CycloneDX document is a JSON object")
    return document


def _spec_version(document: dict[str, Any], source: str) -> str:
    if document.get("bomFormat") != "CycloneDX":
        found = document.get("bomFormat")
        raise ImportFileError(source, "$.bomFormat", f"expected 'CycloneDX', found {found!r}")
    version = document.get("specVersion")
    if version not in SUPPORTED_SPEC_VERSIONS:
        supported = ", ".join(SUPPORTED_SPEC_VERSIONS)
        raise ImportFileError(
            source, "$.specVersion", f"unsupported version {version!r} (supported: {supported})"
        )
    return str(version)


# RFC 3987 IRI references cannot hold spaces, controls or these characters, and '%' starts a
# two-digit escape; checking that much is enough to tell a URL from junk.
_IRI_REFERENCE = re.compile(r"^([^\x00-\x20\x7f<>\"{}|\\^`%]|%[0-9A-Fa-f]{2})*$")


def _plausible_iri_reference(instance: object) -> bool:
    return not isinstance(instance, str) or _IRI_REFERENCE.match(instance) is not None


@cache
def _schema_validator(version: str) -> Any:
    """The jsonschema validator cyclonedx-python-lib builds for ``version``, with a fast IRI check.

    jsonschema checks ``iri-reference`` with rfc3987-syntax at some 20 ms per URL
    (python-jsonschema/jsonschema#1392): minutes for an SBOM with thousands of external
    references. Every other keyword and format of the official schema is checked as shipped.
    """
    # Imported here: it loads jsonschema and rfc3987-syntax, whose grammars take seconds to
    # compile, and only SBOM imports need them.
    from cyclonedx.validation.json import JsonValidator

    library = JsonValidator(SchemaVersion.from_version(version))._validator
    shipped = library.format_checker
    formats = [name for name in shipped.checkers if name != "iri-reference"]
    checker = type(shipped)(formats=formats)
    checker.checks("iri-reference")(_plausible_iri_reference)
    return library.evolve(format_checker=checker)


def _validate_schema(document: dict[str, Any], version: str, source: str) -> None:
    try:
        errors = list(_schema_validator(version).iter_errors(document))
    except RecursionError as e:
        raise ImportFileError(source, None, "JSON nested too deeply") from e
    if not errors:
        return
    first = errors[0]
    message = str(first.message)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more schema errors)"
    raise ImportFileError(source, str(first.json_path), f"not valid CycloneDX {version}: {message}")


def _walk(document: _Document) -> Iterator[SbomComponent]:
    """Every component, depth first, metadata.component first; iterative, so depth is no limit."""
    metadata = document.metadata or _Metadata()
    fallback = _name_of(metadata.supplier, metadata.manufacturer, metadata.manufacture)
    stack: list[tuple[str, _Component, str | None]] = []
    for index in reversed(range(len(document.components))):
        stack.append((f"$.components[{index}]", document.components[index], None))
    if metadata.component is not None:
        stack.append(("$.metadata.component", metadata.component, fallback))
    while stack:
        path, component, default_supplier = stack.pop()
        yield _as_record(path, component, default_supplier)
        for index in reversed(range(len(component.components))):
            stack.append((f"{path}.components[{index}]", component.components[index], None))


def _name_of(*entities: _Entity | None) -> str | None:
    return next((e.name for e in entities if e is not None and e.name), None)


def _as_record(path: str, component: _Component, default_supplier: str | None) -> SbomComponent:
    supplier = _name_of(component.supplier, component.manufacturer) or component.publisher
    return SbomComponent(
        path=path,
        name=component.name.strip(),
        version=(component.version or "").strip() or None,
        purl=(component.purl or "").strip() or None,
        cpe=(component.cpe or "").strip() or None,
        supplier=supplier or default_supplier,
    )


def _checked(record: SbomComponent, source: str) -> SbomComponent:
    """Canonical purl and CPE, version from the purl if the component has none; or raise."""
    if not record.name:
        raise ImportFileError(source, f"{record.path}.name", "a component needs a name")
    purl, cpe, version = record.purl, record.cpe, record.version
    if purl is not None:
        try:
            purl = canonical_purl(purl)
        except ValueError as e:
            raise ImportFileError(source, f"{record.path}.purl", str(e)) from e
        version = version or purl_version(purl)
    if cpe is not None:
        try:
            cpe = canonical_cpe(cpe)
        except ValueError as e:
            raise ImportFileError(source, f"{record.path}.cpe", str(e)) from e
    checked = replace(record, purl=purl, cpe=cpe, version=version)
    for field, limit in _MAX_LENGTH.items():
        value = getattr(checked, field)
        where = f"{record.path}.{field}"
        if value is not None and len(value) > limit:
            raise ImportFileError(source, where, f"longer than {limit} characters")
        if value is not None and "\x00" in value:
            # PostgreSQL cannot store NUL in text; say where it is rather than fail on insert.
            raise ImportFileError(source, where, "contains a NUL character")
    return checked


def _distinct(records: Iterator[SbomComponent]) -> list[SbomComponent]:
    """One record per key: the same component listed twice adds what the first lacked."""
    by_key: dict[tuple[str, str | None, str | None], SbomComponent] = {}
    for record in records:
        first = by_key.get(record.key)
        if first is None:
            by_key[record.key] = record
        else:
            by_key[record.key] = replace(
                first, cpe=first.cpe or record.cpe, supplier=first.supplier or record.supplier
            )
    return list(by_key.values())


def _replace_components(
    session: Session, asset: Asset, records: list[SbomComponent], report: ImportReport
) -> None:
    stored = session.scalars(
        select(Component)
        .where(Component.asset_id == asset.id, Component.source == SOURCE)
        .order_by(Component.id)
    ).all()
    kept: dict[tuple[str, str | None, str | None], Component] = {}
    for row in stored:
        key = (row.name, row.version, row.purl)
        if key in kept:
            _remove(session, row, report)
        else:
            kept[key] = row
    wanted = {record.key for record in records}
    for key, row in kept.items():
        if key not in wanted:
            _remove(session, row, report)
    for record in records:
        _upsert(session, asset, kept.get(record.key), record, report)
    session.flush()


def _upsert(
    session: Session,
    asset: Asset,
    row: Component | None,
    record: SbomComponent,
    report: ImportReport,
) -> None:
    if row is None:
        row = Component(
            organisation_id=asset.organisation_id,
            asset_id=asset.id,
            name=record.name,
            version=record.version,
            purl=record.purl,
            source=SOURCE,
        )
        session.add(row)
        report.components_added += 1
    row.cpe = record.cpe
    row.supplier = record.supplier


def _remove(session: Session, row: Component, report: ImportReport) -> None:
    findings = session.scalar(
        select(func.count()).select_from(Finding).where(Finding.component_id == row.id)
    )
    label = f"{row.name} {row.version}" if row.version else row.name
    report.notes.append(f"removed component {label!r}, no longer in the SBOM ({findings} findings)")
    session.delete(row)
