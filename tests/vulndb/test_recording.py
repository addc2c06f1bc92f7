"""The bulk recorder must leave exactly what record_finding + resolve_automatically leave."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.service import (
    FindingLocus,
    record_finding,
    resolve_automatically,
    set_status,
)
from panacea.findings.vocabulary import Confidence, FindingStatus
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.service import ensure_organisation
from panacea.vulndb.recording import RecordCounts, Sighting, merge_sightings, record_sightings

NVD = "nvd_match"
RESOLVE = {NVD: "gone", "inventory": "struck off"}
POTENTIAL, CONFIRMED = Confidence.POTENTIAL, Confidence.CONFIRMED


def _scenario(session: Session, name: str) -> tuple[int, list[int], list[Sighting]]:
    """Findings in every state automation can meet, and the sightings of a new run."""
    org = ensure_organisation(session, name)
    asset = Asset(organisation_id=org.id, name="host")
    other = Asset(organisation_id=org.id, name="out-of-scope")
    session.add_all([asset, other])
    session.flush()
    endpoint = Endpoint(organisation_id=org.id, asset_id=asset.id, port=22)
    session.add(endpoint)
    session.flush()
    on_asset = FindingLocus(asset.id)
    on_endpoint = FindingLocus(asset.id, endpoint_id=endpoint.id)
    earlier = utcnow() - timedelta(days=3)

    def existing(cve: str, locus: FindingLocus, confidence: Confidence, source: str) -> Finding:
        finding, _ = record_finding(
            session,
            org.id,
            locus,
            cve,
            confidence=confidence,
            source=source,
            evidence="old",
            matched_cpe="cpe:old",
            seen_at=earlier,
        )
        return finding

    existing("CVE-2000-0001", on_asset, POTENTIAL, NVD)  # seen again, unchanged
    gone = existing("CVE-2000-0002", on_asset, POTENTIAL, NVD)  # resolved, seen again: reopens
    resolve_automatically(session, gone, "gone")
    accepted = existing("CVE-2000-0003", on_asset, POTENTIAL, NVD)  # a person accepted it
    set_status(
        session,
        org.id,
        accepted.id,
        FindingStatus.ACCEPTED,
        reason="r",
        actor="a",
        approver="b",
        expires=utcnow() + timedelta(days=9),
    )
    existing("CVE-2000-0004", on_endpoint, POTENTIAL, NVD)  # now confirmed
    existing("CVE-2000-0005", on_endpoint, CONFIRMED, "scanner")  # potential sighting: kept
    existing("CVE-2000-0006", on_asset, POTENTIAL, NVD)  # new evidence
    existing("CVE-2000-0007", on_asset, POTENTIAL, NVD)  # not seen: resolved
    existing("CVE-2000-0008", on_asset, CONFIRMED, "scanner")  # not seen, not ours: kept
    existing("CVE-2000-0009", on_asset, CONFIRMED, "inventory")  # not seen: resolved
    refused = existing("CVE-2000-0010", on_asset, POTENTIAL, NVD)  # false positive, not seen
    set_status(session, org.id, refused.id, FindingStatus.FALSE_POSITIVE, reason="r", actor="a")
    existing("CVE-2000-0011", FindingLocus(other.id), POTENTIAL, NVD)  # out of scope
    sightings = [
        Sighting(on_asset, "CVE-2000-0001", POTENTIAL, NVD, "old", "cpe:old"),
        Sighting(on_asset, "CVE-2000-0002", POTENTIAL, NVD, "old", "cpe:old"),
        Sighting(on_asset, "CVE-2000-0003", POTENTIAL, NVD, "new", "cpe:new"),
        Sighting(on_endpoint, "CVE-2000-0004", CONFIRMED, "inventory", "listed"),
        Sighting(on_endpoint, "CVE-2000-0005", POTENTIAL, NVD, "new", "cpe:new"),
        Sighting(on_asset, "CVE-2000-0006", POTENTIAL, NVD, "new", "cpe:new"),
        Sighting(on_asset, "CVE-2000-0020", POTENTIAL, NVD, "fresh", "cpe:fresh"),
        Sighting(on_endpoint, "CVE-2000-0021", POTENTIAL, NVD, "fresh", None),
        Sighting(on_endpoint, "CVE-2000-0021", CONFIRMED, "inventory", "listed"),  # merges
        Sighting(on_endpoint, "CVE-2000-0021", POTENTIAL, NVD, "again", None),
    ]
    session.flush()
    return org.id, [asset.id], sightings


def _one_by_one(
    session: Session, org_id: int, asset_ids: list[int], sightings: list[Sighting]
) -> RecordCounts:
    merged = merge_sightings(sightings)
    added = refreshed = 0
    for s in merged.values():
        _, created = record_finding(
            session,
            org_id,
            s.locus,
            s.cve_id,
            confidence=s.confidence,
            source=s.source,
            evidence=s.evidence,
            matched_cpe=s.matched_cpe,
        )
        added, refreshed = added + created, refreshed + (not created)
    findings = session.scalars(select(Finding).where(Finding.asset_id.in_(asset_ids))).all()
    resolved = sum(
        resolve_automatically(session, f, RESOLVE[f.source])
        for f in findings
        if (f.asset_id, f.cve_id, f.locus) not in merged and f.source in RESOLVE
    )
    session.flush()
    return RecordCounts(added, refreshed, resolved)


def _state(session: Session, org_id: int) -> list[tuple[object, ...]]:
    findings = session.scalars(
        select(Finding).where(Finding.organisation_id == org_id).order_by(Finding.cve_id)
    ).all()
    changes = {
        f.id: session.execute(
            select(
                FindingStatusChange.old_status,
                FindingStatusChange.new_status,
                FindingStatusChange.reason,
                FindingStatusChange.actor,
            )
            .where(FindingStatusChange.finding_id == f.id)
            .order_by(FindingStatusChange.id)
        ).all()
        for f in findings
    }
    return [
        (
            f.cve_id,
            f.locus.split(":")[0],
            f.confidence,
            f.source,
            f.evidence,
            f.matched_cpe,
            f.status,
            f.status_reason,
            f.status_by_person,
            f.approver,
            f.last_seen > utcnow() - timedelta(hours=1),
            changes[f.id],
        )
        for f in findings
    ]


def test_bulk_and_one_by_one_agree(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        bulk_org, bulk_assets, bulk_sightings = _scenario(session, "bulk")
        ref_org, ref_assets, ref_sightings = _scenario(session, "reference")
    with factory.begin() as session:
        bulk = record_sightings(session, bulk_org, bulk_assets, bulk_sightings, resolve=RESOLVE)
        reference = _one_by_one(session, ref_org, ref_assets, ref_sightings)
    assert bulk == reference == RecordCounts(added=2, refreshed=6, resolved=2)
    with factory() as session:
        bulk_state, reference_state = _state(session, bulk_org), _state(session, ref_org)
    assert bulk_state == reference_state
    by_cve = {row[0]: row for row in bulk_state}
    assert by_cve["CVE-2000-0002"][6] == "open"  # reopened
    assert by_cve["CVE-2000-0003"][6] == "accepted"
    assert by_cve["CVE-2000-0004"][2:4] == ("confirmed", "inventory")
    assert by_cve["CVE-2000-0007"][6:8] == ("resolved", "gone")
    assert by_cve["CVE-2000-0010"][6] == "false_positive"
    assert by_cve["CVE-2000-0011"][6] == "open"
    assert by_cve["CVE-2000-0021"][2:5] == ("confirmed", "inventory", "listed")
