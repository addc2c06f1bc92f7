"""Our client against the OASIS reference server medallion (memory backend, 127.0.0.1).

medallion stands for a regional community hub: hospital A pushes its incidents there (HTTP
Basic, as medallion authenticates), hospital B pulls them with ``added_after`` checkpoints
and pages of 5 followed with ``next`` (medallion keeps the filters of a ``next`` and refuses
changed ones). Re-syncs send and receive nothing twice; an answer altered in transit is
quarantined by B.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from panacea.sharing import sync as sync_module
from panacea.sharing.incidents import create_incident
from panacea.sharing.keys import organisation_identity
from panacea.sharing.peers import PeerSpec, add_peer
from panacea.sharing.quarantine import QuarantinedObject
from panacea.sharing.sync import pull, push, sync
from panacea.sharing.sync_records import SharingReceipt
from panacea.sharing.taxii_client import Credentials, TaxiiClient
from tests.sharing.federation_world import Medallion, medallion_server, wire_proxy
from tests.sharing.taxii_world import TaxiiWorld

PAGE = 5


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Medallion]:
    with medallion_server(tmp_path / "hub", page_size=PAGE) as server:
        yield server


def _incident(world: TaxiiWorld, org: int, title: str) -> int:
    with world.sessions.begin() as s:
        return create_incident(
            s,
            org,
            {
                "title": title,
                "detected_at": datetime.now(UTC) - timedelta(hours=3),
                "determination": "successful-attempt",
                "techniques": ["T1190", "T1486"],
                "indicators": [{"type": "ipv4", "value": "185.220.101.47"}],
                "cves": ["CVE-2023-27997"],
                "tlp": "green",
            },
            actor="lead@a",
        ).id


def _hub_peer(world: TaxiiWorld, org: int, hub: Medallion, name: str, server: str) -> None:
    """A peer for the hub's collection at ``server`` (the hub, or a proxy in front of it);
    medallion serves its API roots beside its discovery, not under it."""
    with world.sessions.begin() as s:
        a_id = organisation_identity(s, org)
        add_peer(
            s,
            org,
            PeerSpec(
                name=name,
                base_url=f"{server}/taxii2/",
                api_root=f"{server}/{hub.api_root}/",
                collection_id=hub.collection_id,
                auth_kind="basic",
                secret=f"{hub.user}:{hub.password}",
                can_pull=True,
                can_push=True,
                audience=[a_id, "identity--7d3c2a51-0d0e-4f43-9d5a-1c2b3a4d5e6f"],
            ),
            actor="test",
        )


def test_push_to_and_pull_from_medallion(
    world: TaxiiWorld, hub: Medallion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "PAGE_SIZE", PAGE)
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    _hub_peer(world, a, hub, "hub", hub.server)
    _hub_peer(world, b, hub, "hub", hub.server)
    with TaxiiClient(
        f"{hub.server}/{hub.api_root}/", Credentials("basic", f"{hub.user}:{hub.password}")
    ) as client:
        assert client.discovery(f"{hub.server}/taxii2/")["title"] == "community hub"
        assert [c["id"] for c in client.collections()] == [hub.collection_id]

    sent = push(world.sessions, a, "hub", incident_ids=[_incident(world, a, "Ransomware")])
    assert sent.delivered == sent.queued >= PAGE + 1  # more than one page
    assert not sent.failed

    first = pull(world.sessions, b, "hub")
    assert first.stored == first.receipts == sent.delivered
    assert first.pages == -(-sent.delivered // PAGE)
    assert first.checkpoint is not None

    # nothing new: nothing received; nothing queued: nothing sent
    assert pull(world.sessions, b, "hub").stored == 0
    again = push(world.sessions, a, "hub")
    assert (again.queued, again.delivered, again.status_ids) == (0, 0, ())

    later = push(world.sessions, a, "hub", incident_ids=[_incident(world, a, "Phishing")])
    # A's identity is already there: only the new incident's objects are queued
    assert later.delivered == later.queued < sent.queued
    update = pull(world.sessions, b, "hub")
    assert update.stored == later.delivered
    # A pulls its own objects back from the hub: stored, but they are not "received"
    own = sync(world.sessions, a)
    assert own.received == 0
    assert [p.stored for p in own.pulls] == [sent.delivered + later.delivered]
    with world.sessions() as s:
        receipts = s.scalars(select(SharingReceipt)).all()
    assert {r.organisation_id for r in receipts} == {b}
    assert len(receipts) == sent.delivered + later.delivered


def test_an_answer_of_medallion_altered_in_transit_is_quarantined(
    world: TaxiiWorld, hub: Medallion
) -> None:
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    _hub_peer(world, a, hub, "hub", hub.server)
    push(world.sessions, a, "hub", incident_ids=[_incident(world, a, "Ransomware")])
    with wire_proxy(hub.server) as (wire, url):
        _hub_peer(world, b, hub, "hub", url)
        wire.tamper = "response"
        report = pull(world.sessions, b, "hub")
        # one altered object per page that has a name or description to alter
        assert report.quarantined == wire.tampered >= 1
        wire.tamper = None
        clean = pull(world.sessions, b, "hub", from_start=True)
    assert clean.quarantined == 0
    assert clean.stored == report.quarantined
    with world.sessions() as s:
        reasons = {q.reason for q in s.scalars(select(QuarantinedObject))}
    assert reasons == {"bad-signature"}
