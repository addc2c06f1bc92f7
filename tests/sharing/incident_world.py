"""A hospital to record incidents in: the documented inventory (services, findings), a stored
mitigation plan, and a key-encryption key (signing and pseudonym keys are sealed under it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.demo.install import packaged_feeds
from panacea.findings.models import Finding
from panacea.identity.keys import Kek, KekSource, bind_kek
from panacea.inventory.clinical import ClinicalService
from panacea.inventory.imports import import_bytes
from panacea.inventory.service import get_organisation
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.stored_plans import create_plan
from panacea.vulndb.feeds import load_directory
from tests.inventory.importers.test_inventory_yaml import documented_example

DETECTED = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def with_kek(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Bind a fresh KEK to ``factory``'s sessions (as the app and the CLI bind theirs)."""
    bind_kek(factory, KekSource(value=SecretStr(Kek.generate().encoded())))
    return factory


def hospital(factory: sessionmaker[Session], name: str, *, plan: bool = False) -> int:
    """Organisation ``name`` with the documented inventory matched against the shipped feeds;
    with ``plan``, a stored budget plan. Returns its id."""
    load_directory(factory, packaged_feeds())
    import_bytes(factory, "inventory", documented_example(), organisation=name, source="h.yaml")
    with factory.begin() as session:
        org_id = get_organisation(session, name).id
        if plan:
            options = AssessmentOptions(trials=256)
            create_plan(session, org_id, options, budget=20000, cut=None, created_by="lead")
    return org_id


def service_id(session: Session, org_id: int, key: str) -> int:
    found = session.scalar(
        select(ClinicalService.id).where(
            ClinicalService.organisation_id == org_id, ClinicalService.key == key
        )
    )
    assert found is not None
    return found


def finding_id(session: Session, org_id: int, cve: str) -> int:
    found = session.scalar(
        select(Finding.id)
        .where(Finding.organisation_id == org_id, Finding.cve_id == cve)
        .order_by(Finding.id)
    )
    assert found is not None, cve
    return found


def ransomware(**changes: Any) -> dict[str, Any]:
    """The values of a realistic incident (services, findings and plan ids to add)."""
    values: dict[str, Any] = {
        "title": "Ransomware on the PACS archive",
        "summary": "Encrypted images; Dr. Maria Rossi could not read the MRI of the patient "
        "in bed 12. Entry through the VPN gateway.",
        "status": "contained",
        "severity": "critical",
        "determination": "successful-attempt",
        "detected_at": DETECTED,
        "started_at": DETECTED - timedelta(days=3),
        "contained_at": DETECTED + timedelta(hours=9),
        "affected_asset_kinds": ["server", "medical_device", "server"],
        "techniques": ["t1486", "T1190", "T1059.001"],
        "indicators": [
            {"type": "ipv4", "value": "198.51.100.23"},
            {"type": "domain", "value": "Update-Check.Example"},
            {"type": "sha256", "value": "E3" * 32},
        ],
        "cves": ["cve-2022-2119"],
        "lessons": "Patch edge devices within 48 hours.",
        "tlp": "amber",
    }
    values.update(changes)
    return values
