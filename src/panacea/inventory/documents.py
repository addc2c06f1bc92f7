"""Importing an already-validated inventory document (the demo, programmatic callers)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.inventory.errors import InventoryError
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.importers.inventory_apply import apply_document
from panacea.inventory.importers.inventory_references import ReferenceError, check_references
from panacea.inventory.importers.inventory_schema import InventoryDocument
from panacea.inventory.importers.inventory_yaml import format_path
from panacea.inventory.service import ensure_organisation


def import_document(
    session: Session, document: InventoryDocument, *, organisation: str, source: str
) -> ImportReport:
    """Apply ``document`` to ``organisation`` inside the caller's transaction.

    Raises InventoryError naming the field of a reference that points nowhere.
    """
    org = ensure_organisation(session, organisation)
    try:
        check_references(session, org.id, document)
    except ReferenceError as e:
        raise InventoryError(f"{source}: {format_path(e.loc)}: {e.message}") from e
    report = ImportReport(kind="inventory", source=source)
    apply_document(session, ImportContext(org, source, utcnow()), document, report)
    return report
