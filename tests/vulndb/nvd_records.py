"""Test helper: real NVD API 2.0 records stored through the NVD loader."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from panacea.vulndb.documents import read_json
from panacea.vulndb.nvd import parse_nvd_document, store_nvd_records


def store_nvd_files(session: Session, paths: Iterable[Path]) -> list[str]:
    """Load each NVD JSON file with ``panacea.vulndb.nvd``; return the CVE ids stored."""
    records = [
        record
        for path in paths
        for record in parse_nvd_document(read_json(path), source=str(path)).records
    ]
    store_nvd_records(session, records)
    session.flush()
    return [record.cve_id for record in records]
