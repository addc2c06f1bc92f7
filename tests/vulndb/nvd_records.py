"""Test helper: real NVD API 2.0 records stored as Vulnerability rows and index entries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from panacea.vulndb.cpe import parse_cpe
from panacea.vulndb.models import Vulnerability, VulnerableProduct


def store_nvd_records(session: Session, paths: Iterable[Path]) -> list[str]:
    """Store each NVD record (configurations, CVSS v3.1) with its (vendor, product) index rows.

    Indexes every cpeMatch criteria, vulnerable or not, as the NVD loader does. Returns the ids.
    """
    stored = []
    for path in paths:
        record = json.loads(path.read_text())
        configurations = record.get("configurations", [])
        v31 = record.get("metrics", {}).get("cvssMetricV31", [{}])[0].get("cvssData", {})
        session.add(
            Vulnerability(
                cve_id=record["id"],
                configurations=configurations,
                cvss_v31_vector=v31.get("vectorString"),
                cvss_v31_score=v31.get("baseScore"),
                nvd_loaded=True,
            )
        )
        pairs = {
            parse_cpe(entry["criteria"]).vendor_product
            for configuration in configurations
            for node in configuration["nodes"]
            for entry in node["cpeMatch"]
        }
        session.add_all(
            VulnerableProduct(cve_id=record["id"], vendor=vendor, product=product)
            for vendor, product in sorted(pairs)
        )
        stored.append(record["id"])
    session.flush()
    return stored
