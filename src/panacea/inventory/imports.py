"""Running an import: pick the importer for a kind, one transaction, a report."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.db.engine import session_scope
from panacea.findings.service import reopen_expired_acceptances
from panacea.inventory.errors import ImportFileError, InventoryError
from panacea.inventory.importers.interface import ImportContext, Importer, ImportReport
from panacea.inventory.organisation import Organisation
from panacea.inventory.service import ensure_organisation

MAX_IMPORT_BYTES = 200 * 1024 * 1024


def importer_for(kind: str) -> Importer:
    """Return the importer for ``kind`` (inventory, nmap, sbom, csv); raise InventoryError."""
    from panacea.inventory.importers.registry import IMPORTERS

    try:
        return IMPORTERS[kind]
    except KeyError:
        known = ", ".join(sorted(IMPORTERS))
        raise InventoryError(f"unknown import kind {kind!r} (known: {known})") from None


def import_bytes(
    factory: sessionmaker[Session],
    kind: str,
    raw: bytes,
    *,
    organisation: str,
    source: str,
    asset_ref: str | None = None,
) -> ImportReport:
    """Import ``raw`` (named ``source`` in errors) into ``organisation`` as one transaction.

    Raises ImportFileError (and rolls everything back) if the file is bad.
    """
    importer_for(kind)  # an unknown kind fails before the organisation is created
    try:
        with session_scope(factory) as session:
            org = ensure_organisation(session, organisation)
            return import_into(session, org, kind, raw, source=source, asset_ref=asset_ref)
    except SQLAlchemyError as e:
        raise _refused(source, e) from e


def import_into(
    session: Session,
    organisation: Organisation,
    kind: str,
    raw: bytes,
    *,
    source: str,
    asset_ref: str | None = None,
) -> ImportReport:
    """Import ``raw`` into ``organisation`` inside the caller's transaction (the API's request).

    Raises InventoryError for an unknown kind, ImportFileError for a bad file or a write the
    database refuses; the caller must then roll back, so a bad file changes nothing.
    """
    importer = importer_for(kind)
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportFileError(source, None, f"file larger than {MAX_IMPORT_BYTES} bytes")
    try:
        report = importer.run(
            session, raw, ImportContext(organisation, source, utcnow(), asset_ref)
        )
        rematch(session, organisation.id, report)
    except SQLAlchemyError as e:
        raise _refused(source, e) from e
    return report


def _refused(source: str, e: SQLAlchemyError) -> ImportFileError:
    return ImportFileError(
        source, None, f"database refused the import: {getattr(e, 'orig', None) or e}"
    )


def rematch(session: Session, organisation_id: int, report: ImportReport) -> None:
    """Match the assets an import touched against vulnerability knowledge, in its transaction.

    Risk acceptances that have expired reopen first, so that matching sees them as open.
    """
    from panacea.vulndb.matching import match_organisation

    reopen_expired_acceptances(session, organisation_id)
    if not report.touched_asset_ids:
        return
    result = match_organisation(session, organisation_id, asset_ids=report.touched_asset_ids)
    report.findings_added += result.findings_added
    report.findings_resolved += result.findings_resolved


def import_file(
    factory: sessionmaker[Session],
    kind: str,
    path: Path,
    *,
    organisation: str,
    asset_ref: str | None = None,
) -> ImportReport:
    """Import the file at ``path``; see ``import_bytes``."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImportFileError(str(path), None, f"cannot read: {e.strerror}") from e
    return import_bytes(
        factory, kind, raw, organisation=organisation, source=str(path), asset_ref=asset_ref
    )
