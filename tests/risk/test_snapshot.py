"""Risk snapshots keep their assessment document, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from panacea.demo.install import packaged_feeds
from panacea.inventory.imports import import_bytes
from panacea.inventory.organisation import Organisation
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.report_json import SCHEMA
from panacea.risk.service import assess_and_record
from panacea.risk.snapshot import list_snapshots, snapshot_in, stored_document
from panacea.vulndb.feeds import load_directory
from tests.inventory.importers.test_inventory_yaml import documented_example

OPTIONS = AssessmentOptions(trials=256)


def _hospital(factory: sessionmaker[Session], name: str) -> int:
    """``name`` with the documented inventory and the shipped feeds (attack paths included)."""
    with factory.begin() as s:
        organisation = Organisation(name=name)
        s.add(organisation)
        s.flush()
        org_id = organisation.id
    load_directory(factory, packaged_feeds())
    import_bytes(factory, "inventory", documented_example(), organisation=name, source="h.yaml")
    return org_id


def test_a_stored_snapshot_carries_its_assessment_document(
    factory: sessionmaker[Session],
) -> None:
    org = _hospital(factory, "Hospital A")
    other = _hospital(factory, "Hospital B")
    with factory.begin() as s:
        recorded = assess_and_record(s, org, OPTIONS)
    snapshot_id = recorded.snapshot.id
    document = recorded.document
    assert document["schema"] == SCHEMA
    assert any(s["top_paths"] for s in document["services"]), "no attack path to explain"
    with factory() as s:
        stored = stored_document(s, org, snapshot_id)
        # Owned by its organisation only, like the snapshot itself.
        assert stored_document(s, other, snapshot_id) is None
        assert stored_document(s, org, snapshot_id + 1000) is None
        snapshot = snapshot_in(s, org, snapshot_id)
    # What was stored is what the CLI prints and the API answers (a JSON round trip).
    assert stored == json.loads(json.dumps(document))
    assert snapshot is not None
    for service in document["services"]:
        figures = snapshot.services[service["key"]]
        assert service["risk_class"] == figures["risk_class"]
        assert service["probability"] == pytest.approx(figures["probability"], abs=1e-4)


def test_listing_snapshots_leaves_their_documents_unread(factory: sessionmaker[Session]) -> None:
    org = _hospital(factory, "Hospital A")
    with factory.begin() as s:
        assess_and_record(s, org, OPTIONS)
        assess_and_record(s, org, OPTIONS)
    with factory() as s:
        snapshots = list_snapshots(s, org)
        assert len(snapshots) == 2
        # A trend of 60 snapshots at 20,000 assets would otherwise read ~70 MB of JSON.
        assert all("document" in inspect(x).unloaded for x in snapshots)
        assert snapshots[-1].document is not None  # read on demand while the session lives
