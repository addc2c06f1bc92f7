"""Peers, pull and push between organisations of a live PANACEA (uvicorn on 127.0.0.1).

Runs on SQLite and PostgreSQL: checkpoints, paging with ``next``, re-syncs that receive and
send nothing twice, an answer altered in transit quarantined by the puller, the peers' sealed
secrets, and the TLP rules of a forward.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import ConflictError
from panacea.sharing import sync as sync_module
from panacea.sharing.errors import NoRecipientsError, PeerError, TaxiiClientError
from panacea.sharing.forwarding import forward_decision, source_share
from panacea.sharing.incidents import create_incident
from panacea.sharing.keys import organisation_identity
from panacea.sharing.peers import PeerSpec, add_peer, list_peers, peer_named, remove_peer
from panacea.sharing.policy import marking_of
from panacea.sharing.publishing import publish
from panacea.sharing.quarantine import QuarantinedObject
from panacea.sharing.sync import pull, push
from panacea.sharing.sync_records import SharingDelivery, SharingPeer, SharingReceipt
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject
from panacea.sharing.taxii_client import RetryPolicy, TaxiiClient
from panacea.sharing.tlp import Tlp
from tests.sharing.federation_world import wire_proxy
from tests.sharing.incident_world import ransomware
from tests.sharing.taxii_world import TaxiiWorld, free_port, indicator


def _spec(world: TaxiiWorld, collection: str, secret: str = "", **changes: Any) -> PeerSpec:
    values: dict[str, Any] = {
        "name": "alpha",
        "base_url": f"{world.base_url}/taxii2/",
        "api_root": "panacea",
        "collection_id": collection,
        "secret": secret,
    }
    values.update(changes)
    return PeerSpec(**values)


def _publish(world: TaxiiWorld, org: int, collection: str, count: int, start: int = 0) -> None:
    with world.sessions.begin() as s:
        identity = organisation_identity(s, org)
        objects = [indicator(identity, n=start + i) for i in range(count)]
        for obj in objects:
            obj["object_marking_refs"] = [Tlp.GREEN.marking_id]
        publish(s, organisation_id=org, collection_id=collection, objects=objects)


def _count(world: TaxiiWorld, entity: Any, **where: Any) -> int:
    with world.sessions() as s:
        stmt = select(func.count()).select_from(entity)
        for name, value in where.items():
            stmt = stmt.where(getattr(entity, name) == value)
        return int(s.scalar(stmt) or 0)


def test_pull_pages_with_next_and_never_receives_twice(
    world: TaxiiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 4)
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    alerts = world.collection(a, "Alerts")
    _publish(world, a, alerts, 10)
    token = world.token(a)
    with world.sessions.begin() as s:
        a_id, b_id = organisation_identity(s, a), organisation_identity(s, b)
        add_peer(s, b, _spec(world, alerts, token, audience=[a_id]), actor="t")

    first = pull(world.sessions, b, "alpha")
    assert (first.pages, first.stored, first.receipts, first.quarantined) == (3, 10, 10, 0)
    with world.sessions() as s:
        peer = peer_named(s, b, "alpha")
        assert peer.added_after is not None
        assert peer.added_after == first.checkpoint
        receipts = s.scalars(select(SharingReceipt)).all()
    assert {tuple(r.recipients) for r in receipts} == {tuple(sorted([a_id, b_id]))}
    assert {r.marking for r in receipts} == {"green"}

    again = pull(world.sessions, b, "alpha")
    assert (again.stored, again.receipts) == (0, 0)
    _publish(world, a, alerts, 3, start=10)
    later = pull(world.sessions, b, "alpha")
    assert (later.pages, later.stored, later.already_held) == (1, 3, 0)
    # read everything again from the start: recognised, stored once
    full = pull(world.sessions, b, "alpha", from_start=True)
    assert (full.stored, full.already_held, full.receipts) == (0, 13, 0)
    assert _count(world, SharingReceipt, organisation_id=b) == 13


def test_an_answer_altered_in_transit_is_quarantined_by_the_puller(world: TaxiiWorld) -> None:
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    alerts = world.collection(a, "Alerts")
    _publish(world, a, alerts, 3)
    token = world.token(a)
    with wire_proxy(world.base_url) as (wire, url):
        wire.tamper = "response"
        with world.sessions.begin() as s:
            spec = _spec(world, alerts, token, base_url=f"{url}/taxii2/")
            add_peer(s, b, spec, actor="t")
        report = pull(world.sessions, b, "alpha")
    assert wire.tampered == 1
    assert (report.stored, report.quarantined) == (2, 1)
    with world.sessions() as s:
        [held] = s.scalars(select(QuarantinedObject)).all()
        assert (held.organisation_id, held.reason) == (b, "bad-signature")
        assert held.received_from.startswith("peer alpha (")
        assert held.stix_id is not None
        stored = s.scalars(
            select(TaxiiObject.stix_id).where(TaxiiObject.stix_id == held.stix_id)
        ).all()
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert stored == [held.stix_id]  # only A's own copy, in A's collection
    assert "sharing.quarantined" in actions


def _bodies(world: TaxiiWorld, collection: str) -> list[str]:
    with world.sessions() as s:
        return list(
            s.scalars(
                select(TaxiiObject.body)
                .join(TaxiiCollection, TaxiiCollection.id == TaxiiObject.collection_id)
                .where(TaxiiCollection.uuid == collection)
            )
        )


def test_push_delivers_once(world: TaxiiWorld) -> None:
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    inbox = world.collection(b, "Inbox")
    token = world.token(b)
    with world.sessions.begin() as s:
        b_id = organisation_identity(s, b)
        spec = _spec(world, inbox, token, can_pull=False, can_push=True, audience=[b_id])
        add_peer(s, a, spec, actor="t")
        incident = create_incident(
            s, a, ransomware(tlp="amber", techniques=[], share_finding_ids=[]), actor="t"
        ).id
    report = push(world.sessions, a, "alpha", incident_ids=[incident])
    assert report.delivered == report.queued > 0
    assert not report.failed
    with world.sessions() as s:
        states = set(s.scalars(select(SharingDelivery.state)).all())
    assert len(_bodies(world, inbox)) == report.delivered
    assert states == {"delivered"}
    # the same incident again: nothing new queued, nothing sent
    again = push(world.sessions, a, "alpha", incident_ids=[incident])
    assert (again.queued, again.delivered, again.status_ids) == (0, 0, ())
    # anonymised (the summary names a doctor) and marked as the incident says
    bodies = _bodies(world, inbox)
    assert all("Maria Rossi" not in body for body in bodies)
    assert all(Tlp.AMBER.marking_id in body or '"identity"' in body for body in bodies)


def test_a_peer_that_cannot_be_reached_is_reported(world: TaxiiWorld) -> None:
    a, b = world.organisation("Hospital A"), world.organisation("Hospital B")
    with world.sessions.begin() as s:
        b_id = organisation_identity(s, b)
        dead = f"http://127.0.0.1:{free_port()}/taxii2/"
        add_peer(
            s,
            a,
            _spec(world, "c0ffee", "x", base_url=dead, can_push=True, audience=[b_id]),
            actor="t",
        )
    sleeps: list[float] = []

    def client(endpoint: sync_module.PeerEndpoint, credentials: Any) -> TaxiiClient:
        retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
        return TaxiiClient(endpoint.api_root, credentials, retry=retry, sleep=sleeps.append)

    with pytest.raises(TaxiiClientError, match="failed after 3 attempt"):
        pull(world.sessions, a, "alpha", client_factory=client)
    assert len(sleeps) == 2
    assert all(0 <= d <= 0.02 for d in sleeps)
    with world.sessions() as s:
        assert peer_named(s, a, "alpha").last_error.startswith("pull: GET")


def test_peers_are_checked_sealed_listed_and_removed(world: TaxiiWorld) -> None:
    a = world.organisation("Hospital A")
    url = f"{world.base_url}/taxii2/"
    with world.sessions.begin() as s:
        for bad, message in [
            ({"base_url": "http://peer.example/taxii2/"}, "plain http"),
            ({"base_url": "https://u:p@peer.example/taxii2/"}, "holds credentials"),
            ({"name": "no spaces"}, "name"),
            ({"can_push": True}, "audience"),
            ({"audience": ["organisation--1"]}, "not a STIX identity"),
            ({"auth_kind": "basic", "secret": "no-colon"}, "user:password"),
            ({"secret": ""}, "needs the secret"),
            ({"collection_id": "a/b"}, "collection"),
        ]:
            values = {"secret": "tok-SECRET-1", **bad}
            with pytest.raises(PeerError, match=message):
                add_peer(s, a, _spec(world, "c1", **values), actor="t")
        add_peer(
            s, a, _spec(world, "c1", "tok-SECRET-1", base_url="https://peer.example/t/"), actor="t"
        )
        with pytest.raises(ConflictError, match="already has a peer"):
            add_peer(s, a, _spec(world, "c1", "tok-SECRET-1", base_url=url), actor="t")
    with world.sessions() as s:
        [view] = list_peers(s, a)
        raw = s.scalar(select(SharingPeer.token_encrypted))
    assert view.has_secret
    assert view.api_root_url == "https://peer.example/t/panacea/"
    assert "tok-SECRET-1" not in repr(view)
    assert raw is not None
    assert b"tok-SECRET-1" not in raw
    with world.sessions.begin() as s:
        remove_peer(s, a, "alpha", actor="t")
        assert list_peers(s, a) == []
        actions = [e.action for e in s.scalars(select(AuditEntry))]
    assert actions.count("sharing.peer_added") == 1
    assert actions.count("sharing.peer_removed") == 1


@pytest.mark.parametrize(
    ("level", "recipients", "audience", "partners", "allowed"),
    [
        (Tlp.CLEAR, ["b"], ["z"], False, True),
        (Tlp.GREEN, ["a", "b", "c"], ["c"], False, True),
        (Tlp.GREEN, ["a", "b"], ["c"], False, False),
        (Tlp.GREEN, ["a", "b", "c"], ["c", "d"], False, False),
        (Tlp.AMBER, ["b"], ["p"], True, True),
        (Tlp.AMBER, ["b"], ["p"], False, False),
        (Tlp.AMBER, ["a"], ["p"], True, False),
        (Tlp.AMBER_STRICT, ["a", "b", "c"], ["c"], True, False),
        (Tlp.RED, ["b", "c"], ["c"], True, False),
        (Tlp.GREEN, ["b"], [], False, False),
    ],
)
def test_forward_decisions(
    level: Tlp, recipients: list[str], audience: list[str], partners: bool, allowed: bool
) -> None:
    def ref(name: str) -> str:
        return f"identity--{name}"

    decision = forward_decision(
        level,
        original_recipients=[ref(r) for r in recipients],
        holder=ref("b"),
        audience=[ref(x) for x in audience],
        partners=partners,
    )
    assert decision.allowed is allowed, decision.reason


def test_unmarked_objects_are_amber_strict_and_a_share_needs_recipients() -> None:
    assert marking_of(indicator("identity--0b6b3f4f-54c6-4d1a-9b3b-1b7d6f0f0a01")) is (
        Tlp.AMBER_STRICT
    )
    with pytest.raises(NoRecipientsError):
        source_share(Tlp.RED, sender="identity--a", audience=["identity--a"])
    assert source_share(Tlp.RED, sender="identity--a", audience=["identity--b"]).recipients
