"""Upload route: nmap XML, CycloneDX SBOM, inventory YAML or CSV into the organisation.

The upload is at most ``max_upload_bytes`` (the BodyLimit middleware refuses bigger bodies on
``/imports`` paths, and ``read_upload`` checks again), imported in the request's transaction
with its audit entry, and answered with the import report. A bad file rolls everything back
and is answered 422 naming the file and the line or field.
"""

from __future__ import annotations

import hashlib
import posixpath
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel

from panacea.api.context import app_context
from panacea.api.deps import Db, require
from panacea.api.problems import ProblemError
from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.inventory.errors import ImportFileError, UnknownAssetError
from panacea.inventory.importers.interface import ImportReport
from panacea.inventory.imports import import_into
from panacea.inventory.service import organisation_by_id

router = APIRouter(prefix="/orgs/{org_id}", tags=["imports"])
Importer = Annotated[OrgAccess, Depends(require(Permission.IMPORTS_RUN))]


class ImportKind(StrEnum):
    """The importers (panacea.inventory.importers.registry): the same names as the CLI's."""

    INVENTORY = "inventory"
    NMAP = "nmap"
    SBOM = "sbom"
    CSV = "csv"


class ImportReportOut(BaseModel):
    """What the import changed (the CLI prints the same report)."""

    kind: str
    source: str
    sha256: str
    bytes: int
    records: int
    assets_added: int
    assets_updated: int
    endpoints_added: int
    endpoints_closed: int
    components_added: int
    findings_added: int
    findings_resolved: int
    notes: list[str]
    touched_asset_ids: list[int]

    @classmethod
    def of(cls, report: ImportReport, *, digest: str, size: int) -> ImportReportOut:
        return cls(
            kind=report.kind,
            source=report.source,
            sha256=digest,
            bytes=size,
            records=report.records,
            assets_added=report.assets_added,
            assets_updated=report.assets_updated,
            endpoints_added=report.endpoints_added,
            endpoints_closed=report.endpoints_closed,
            components_added=report.components_added,
            findings_added=report.findings_added,
            findings_resolved=report.findings_resolved,
            notes=list(report.notes),
            touched_asset_ids=sorted(report.touched_asset_ids),
        )


def _file_name(upload: UploadFile) -> str:
    """The client's file name without any directory part, for messages and the audit log."""
    raw = (upload.filename or "").replace("\\", "/")
    name = posixpath.basename(raw).strip()
    printable = "".join(ch for ch in name if ch.isprintable())
    return printable[:200] or "upload"


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes; ProblemError 413 if there are more than ``limit``.

    The BodyLimit middleware refuses such bodies before they get here; this keeps the route
    safe wherever it is mounted.
    """
    raw = upload.file.read(limit + 1)
    if len(raw) > limit:
        raise ProblemError(413, f"file over the limit of {limit} bytes", slug="too-large")
    return raw


@router.post(
    "/imports",
    summary="Import a file: nmap XML, CycloneDX SBOM (of one asset), inventory YAML or CSV",
)
def run_import(
    access: Importer,
    db: Db,
    request: Request,
    kind: Annotated[ImportKind, Form(description="Which importer reads the file")],
    file: Annotated[UploadFile, File(description="The file to import")],
    asset: Annotated[
        str | None,
        Form(min_length=1, max_length=200, description="SBOM only: name or id of its asset"),
    ] = None,
) -> ImportReportOut:
    source = _file_name(file)
    if kind is ImportKind.SBOM and asset is None:
        raise ProblemError(
            422,
            f"{source}: an SBOM describes one asset: give its name or id in 'asset'",
            slug="import-failed",
            file=source,
            location=None,
        )
    raw = read_upload(file, app_context(request).settings.max_upload_bytes)
    organisation = organisation_by_id(db, access.organisation_id)
    try:
        report = import_into(db, organisation, kind.value, raw, source=source, asset_ref=asset)
    except (ImportFileError, UnknownAssetError) as e:
        # The Db dependency rolls the whole import back when this propagates.
        raise ProblemError(
            422,
            str(e),
            slug="import-failed",
            file=source,
            location=getattr(e, "location", None),
        ) from e
    digest = hashlib.sha256(raw).hexdigest()
    out = ImportReportOut.of(report, digest=digest, size=len(raw))
    counts = out.model_dump(exclude={"kind", "source", "sha256", "notes", "touched_asset_ids"})
    append(
        db,
        access.event(
            "import.completed",
            target=f"import:{kind.value}",
            kind=kind.value,
            file=source,
            sha256=digest,
            **counts,
        ),
    )
    return out
