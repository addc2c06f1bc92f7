"""Installing the demo hospital: the shipped public feeds, the inventory, and matching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import session_scope
from panacea.demo.hospital import DEFAULT_ASSETS, build_demo
from panacea.inventory.documents import import_document
from panacea.inventory.service import get_organisation
from panacea.vulndb.feeds import load_directory
from panacea.vulndb.matching import match_organisation

Progress = Callable[[str, int, int | None], None]
DEFAULT_ORGANISATION = "Demo General Hospital"


def packaged_feeds() -> Path:
    """The NVD, KEV and EPSS files shipped in the package (see data/feeds/SOURCES.md)."""
    return Path(str(resources.files("panacea") / "data" / "feeds"))


@dataclass(frozen=True)
class DemoReport:
    organisation: str
    assets: int
    findings_added: int


def install_demo(
    factory: sessionmaker[Session],
    *,
    organisation: str = DEFAULT_ORGANISATION,
    assets: int = DEFAULT_ASSETS,
    seed: int = 7,
    progress: Progress | None = None,
) -> DemoReport:
    """Load the shipped feeds, then build and import the demo hospital and match it.

    Deterministic for a seed; running it again updates the same organisation in place.
    """
    report = progress or _silent
    report("building the demo hospital", 0, 1)
    document = build_demo(seed=seed, assets=assets, organisation=organisation)
    report("building the demo hospital", 1, 1)
    load_directory(factory, packaged_feeds(), progress=progress)
    with session_scope(factory) as session:
        report("importing the inventory", 0, 1)
        imported = import_document(session, document, organisation=organisation, source="demo")
        report("importing the inventory", 1, 1)
        org_id = get_organisation(session, organisation).id
        matched = match_organisation(session, org_id, progress=_matching(progress))
    return DemoReport(organisation, imported.records, matched.findings_added)


def _matching(progress: Progress | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress("matching vulnerabilities", done, total)


def _silent(_description: str, _done: int, _total: int | None) -> None:
    return None
