"""The one interface every importer implements, and the report it returns.

An importer turns the bytes of one file into changes of one organisation's inventory. It is
called inside a transaction that the caller owns (``panacea.inventory.imports.import_file``):
it raises ``ImportFileError`` naming file and line or field, and the caller rolls back, so a
bad file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from sqlalchemy.orm import Session

from panacea.inventory.organisation import Organisation


@dataclass
class ImportReport:
    """What an import changed. Counters start at 0; importers add to them."""

    kind: str
    source: str
    records: int = 0
    assets_added: int = 0
    assets_updated: int = 0
    endpoints_added: int = 0
    endpoints_closed: int = 0
    components_added: int = 0
    findings_added: int = 0
    findings_resolved: int = 0
    notes: list[str] = field(default_factory=list)
    touched_asset_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class ImportContext:
    """Where and when an import happens."""

    organisation: Organisation
    source: str
    started_at: datetime
    asset_ref: str | None = None


class Importer(Protocol):
    """A source format the inventory can be fed from."""

    kind: ClassVar[str]

    def run(self, session: Session, raw: bytes, context: ImportContext) -> ImportReport:
        """Apply the file ``raw`` to ``context.organisation``; raise ImportFileError if bad."""
        ...
