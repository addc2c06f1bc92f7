"""Federation with peers over TAXII 2.1: pull, push, and the sync that does both.

- :func:`pull`: Get Objects from a peer's collection with ``added_after`` = the peer's
  checkpoint, following ``next`` (bounded pages); each page is verified, stored or quarantined
  and recorded (:func:`panacea.sharing.intake.ingest_pulled`) in its own transaction, and the
  checkpoint moves to the page's ``X-TAXII-Date-Added-Last`` in that same transaction, so an
  interrupted pull resumes where it stopped and a repeated one receives nothing twice.
- :func:`push`: queues for a peer the organisation's incidents it shares (anonymised, marked,
  signed: :mod:`panacea.sharing.outbox`) and, when asked, the received objects the TLP rules let
  it pass on to the peer's audience (:mod:`panacea.sharing.forwarding`); then sends what is
  queued (Add Objects, status polled) and marks delivered what the peer's status reports a
  success. A version is queued once per peer, so nothing is sent twice once delivered; what
  failed stays queued and is retried by the next push.
- :func:`sync`: pull every peer pulled from, record what others pushed into the
  organisation's collections (:func:`panacea.sharing.intake.intake`), derive what it all means
  for the risk model (:func:`panacea.sharing.intel.refresh_intel`), then push to every peer
  pushed to (forwarding where the peer says so). One peer failing does not stop the others.

The network is never used inside a database transaction: a peer may be this very platform
(two organisations of one instance), whose TAXII server needs the database to answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.identity.audit import AuditEvent, append
from panacea.sharing.errors import PeerError, SharingError, TaxiiClientError
from panacea.sharing.forwarding import forward_decision, source_share
from panacea.sharing.intake import ingest_pulled, intake
from panacea.sharing.intel import IntelSummary, refresh_intel
from panacea.sharing.keys import organisation_identity
from panacea.sharing.outbox import OUTBOX_ALIAS, RECEIVED_ALIAS, local_collection, share_incident
from panacea.sharing.peers import credentials_of, peer_named, peers_of
from panacea.sharing.sync_records import SharingDelivery, SharingPeer, SharingReceipt
from panacea.sharing.taxii.models import TaxiiObject
from panacea.sharing.taxii_client import Credentials, TaxiiClient
from panacea.sharing.tlp import Tlp

PAGE_SIZE: Final = 100
PUSH_BATCH: Final = 100
# Deliveries sent per push at most; the rest stay queued for the next one.
MAX_PUSH: Final = 10_000
_AUDITED_IDS: Final = 50
# Sending order: what others refer to first (identities, SDOs), then sightings, relationships.
_RANK: Final = {"identity": 0, "sighting": 2, "relationship": 3}


@dataclass(frozen=True)
class PeerEndpoint:
    """Where a peer is, as a client needs it (read in a transaction, used after it)."""

    name: str
    api_root: str
    collection_id: str


ClientFactory = Callable[[PeerEndpoint, Credentials | None], TaxiiClient]


def default_client(endpoint: PeerEndpoint, credentials: Credentials | None) -> TaxiiClient:
    """A client with the default retry policy and limits (see :mod:`.taxii_client`)."""
    return TaxiiClient(endpoint.api_root, credentials)


@dataclass(frozen=True)
class PullReport:
    peer: str
    pages: int
    stored: int
    already_held: int
    quarantined: int
    receipts: int
    checkpoint: str | None


@dataclass(frozen=True)
class Held:
    """An object not sent, and why (a TLP rule, or the peer's refusal)."""

    stix_id: str
    reason: str


@dataclass(frozen=True)
class PushReport:
    peer: str
    queued: int
    delivered: int
    held_back: tuple[Held, ...]
    failed: tuple[Held, ...]
    status_ids: tuple[str, ...]


@dataclass(frozen=True)
class SyncReport:
    pulls: tuple[PullReport, ...]
    received: int
    intel: IntelSummary
    pushes: tuple[PushReport, ...]
    errors: tuple[tuple[str, str], ...] = field(default=())


def _endpoint(peer: SharingPeer) -> PeerEndpoint:
    return PeerEndpoint(peer.name, peer.api_root, peer.collection_id)


def _record_error(
    sessions: sessionmaker[Session], organisation_id: int, name: str, error: str
) -> None:
    with sessions.begin() as session:
        peer = peer_named(session, organisation_id, name)
        peer.last_error = error[:2000]


# pull ------------------------------------------------------------------------------------
def pull(
    sessions: sessionmaker[Session],
    organisation_id: int,
    peer_name: str,
    *,
    client_factory: ClientFactory = default_client,
    actor: str = "",
    from_start: bool = False,
) -> PullReport:
    """Receive what the peer's collection got since the checkpoint (module docstring).

    The checkpoint moves past a page even if some of its objects were quarantined (a peer that
    keeps serving a bad object must not stop the federation); ``from_start`` reads the whole
    collection again, e.g. after a peer's key was registered or tampering was fixed: what is
    already held is recognised and stored once.

    Raises PeerError for an unknown peer or one not pulled from, TaxiiClientError if the peer
    cannot be read (recorded as the peer's ``last_error``; pages already received stay).
    """
    with sessions.begin() as session:
        peer = peer_named(session, organisation_id, peer_name)
        if not peer.can_pull:
            raise PeerError(f"peer {peer_name!r} is not pulled from (it is push-only)")
        endpoint = _endpoint(peer)
        credentials = credentials_of(session, peer)
        since = None if from_start else peer.added_after
        own = organisation_identity(session, organisation_id)
        local_collection(session, organisation_id, RECEIVED_ALIAS)
    pages = stored = already = quarantined = receipts = 0
    try:
        with client_factory(endpoint, credentials) as client:
            for page in client.walk_objects(
                endpoint.collection_id, added_after=since, limit=PAGE_SIZE
            ):
                with sessions.begin() as session:
                    peer = peer_named(session, organisation_id, peer_name)
                    outcome = ingest_pulled(
                        session,
                        organisation_id=organisation_id,
                        collection=local_collection(session, organisation_id, RECEIVED_ALIAS),
                        peer=peer,
                        own_identity=own,
                        objects=page.objects,
                        actor=actor,
                    )
                    if page.date_added_last is not None:
                        peer.added_after = page.date_added_last
                    peer.last_pull_at = utcnow()
                    peer.last_error = ""
                    since = peer.added_after
                pages += 1
                stored += outcome.stored
                already += outcome.already_held
                quarantined += outcome.quarantined
                receipts += outcome.receipts
    except TaxiiClientError as e:
        _record_error(sessions, organisation_id, peer_name, f"pull: {e}")
        raise
    return PullReport(peer_name, pages, stored, already, quarantined, receipts, since)


# push ------------------------------------------------------------------------------------
def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("modified", obj.get("created", "")))


def _queue(
    session: Session,
    peer: SharingPeer,
    items: Sequence[tuple[str, str, int | None]],
) -> int:
    """Queue (stix id, version, stored key) for ``peer`` unless queued before; return how many."""
    if not items:
        return 0
    ids = sorted({i for i, _, _ in items})
    known = {
        (stix_id, version)
        for stix_id, version in session.execute(
            select(SharingDelivery.stix_id, SharingDelivery.version).where(
                SharingDelivery.peer_id == peer.id, SharingDelivery.stix_id.in_(ids)
            )
        ).all()
    }
    added = 0
    for stix_id, version, key in items:
        if (stix_id, version) in known:
            continue
        known.add((stix_id, version))
        session.add(
            SharingDelivery(
                organisation_id=peer.organisation_id,
                peer_id=peer.id,
                stix_id=stix_id,
                version=version,
                object_key=key,
            )
        )
        added += 1
    session.flush()
    return added


def _outbox_keys(
    session: Session, organisation_id: int, objects: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Keys of the outbox rows of just-signed objects, by (id, version)."""
    outbox = local_collection(session, organisation_id, OUTBOX_ALIAS)
    ids = sorted({o["id"] for o in objects})
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(ids), PUSH_BATCH):
        rows = session.execute(
            select(TaxiiObject.id, TaxiiObject.stix_id, TaxiiObject.version).where(
                TaxiiObject.collection_id == outbox.id,
                TaxiiObject.stix_id.in_(ids[start : start + PUSH_BATCH]),
            )
        ).all()
        for key, stix_id, version in rows:
            found[(stix_id, version)] = key
    return found


def _forwardable(
    session: Session, organisation_id: int, peer: SharingPeer, own: str
) -> tuple[list[tuple[str, str, int | None]], list[tuple[Held, int]]]:
    """Received objects not yet considered for ``peer``: those the TLP rules let go, and those
    held back with the rule that refused them (and their stored key)."""
    queued = select(SharingDelivery.stix_id).where(
        SharingDelivery.peer_id == peer.id,
        SharingDelivery.stix_id == SharingReceipt.stix_id,
        SharingDelivery.version == SharingReceipt.version,
    )
    receipts = session.execute(
        select(SharingReceipt)
        .where(
            SharingReceipt.organisation_id == organisation_id,
            SharingReceipt.publisher != own,
            ~queued.exists(),
        )
        .order_by(SharingReceipt.id)
        .limit(MAX_PUSH)
    ).scalars()
    allowed: list[tuple[str, str, int | None]] = []
    held: list[tuple[Held, int]] = []
    seen: set[tuple[str, str]] = set()
    for receipt in receipts:
        if (receipt.stix_id, receipt.version) in seen:
            continue
        seen.add((receipt.stix_id, receipt.version))
        decision = forward_decision(
            Tlp(receipt.marking),
            original_recipients=receipt.recipients,
            holder=own,
            audience=peer.audience,
            partners=peer.partners,
        )
        if decision.allowed:
            allowed.append((receipt.stix_id, receipt.version, receipt.object_key))
        else:
            held.append((Held(receipt.stix_id, decision.reason), receipt.object_key))
    return allowed, held


def _hold(session: Session, peer: SharingPeer, held: Sequence[tuple[Held, int]]) -> None:
    """Record versions the TLP rules keep from ``peer`` (state ``held``): considered once, so
    a re-sync neither sends them nor reports them again."""
    versions = {
        (r.stix_id, r.object_key): r.version
        for r in session.execute(
            select(SharingReceipt).where(
                SharingReceipt.object_key.in_(sorted({key for _, key in held}))
            )
        ).scalars()
    }
    for item, key in held:
        session.add(
            SharingDelivery(
                organisation_id=peer.organisation_id,
                peer_id=peer.id,
                stix_id=item.stix_id,
                version=versions[(item.stix_id, key)],
                object_key=key,
                state="held",
                last_error=item.reason[:2000],
            )
        )
    session.flush()


def _pending(session: Session, peer: SharingPeer) -> list[tuple[int, dict[str, Any]]]:
    """Queued deliveries of ``peer`` with the JSON to send, oldest first (at most MAX_PUSH)."""
    rows = session.execute(
        select(SharingDelivery.id, TaxiiObject.body)
        .join(TaxiiObject, TaxiiObject.id == SharingDelivery.object_key)
        .where(SharingDelivery.peer_id == peer.id, SharingDelivery.state == "queued")
        .order_by(SharingDelivery.id)
        .limit(MAX_PUSH)
    ).all()
    pending = [(delivery_id, json.loads(body)) for delivery_id, body in rows]
    return sorted(pending, key=lambda p: (_RANK.get(str(p[1].get("type")), 1), p[0]))


def push(
    sessions: sessionmaker[Session],
    organisation_id: int,
    peer_name: str,
    *,
    incident_ids: Sequence[int] = (),
    forward: bool | None = None,
    hide_organisation: bool = False,
    client_factory: ClientFactory = default_client,
    actor: str = "",
    via: str = "cli",
) -> PushReport:
    """Share ``incident_ids`` with the peer's audience, forward what may be forwarded
    (``forward``; default: the peer's setting), and send everything queued for the peer.

    Raises PeerError for an unknown peer or one not pushed to, PolicyError if the peer's
    audience names nobody but the organisation, IncidentError, StixError...; a peer that
    cannot be reached raises TaxiiClientError after the retries (what it had accepted before
    is marked delivered; the rest stays queued).
    """
    with sessions.begin() as session:
        peer = peer_named(session, organisation_id, peer_name)
        if not peer.can_push:
            raise PeerError(f"peer {peer_name!r} is not pushed to (it is pull-only)")
        own = organisation_identity(session, organisation_id)
        queued = 0
        for incident_id in incident_ids:
            shared = share_incident(
                session,
                organisation_id,
                incident_id,
                hide_organisation=hide_organisation,
                actor=actor,
            )
            source_share(shared.marking, sender=own, audience=peer.audience)
            keys = _outbox_keys(session, organisation_id, shared.objects)
            items = [(o["id"], _version(o)) for o in shared.objects]
            missing = [i for i in items if i not in keys]
            if missing:
                raise SharingError(f"{missing[0][0]} is not in the outbox after publishing")
            queued += _queue(session, peer, [(i, v, keys[(i, v)]) for i, v in items])
        held: list[Held] = []
        if peer.forward if forward is None else forward:
            allowed, refused = _forwardable(session, organisation_id, peer, own)
            queued += _queue(session, peer, allowed)
            _hold(session, peer, refused)
            held = [h for h, _ in refused]
        if held:
            append(
                session,
                AuditEvent(
                    action="sharing.forward_refused",
                    organisation_id=organisation_id,
                    actor=actor,
                    via=via,
                    target=f"sharing_peer:{peer.id}",
                    details={
                        "peer": peer.name,
                        "count": len(held),
                        "reasons": sorted({h.reason.split(": ", 1)[-1] for h in held})[:10],
                        "objects": [h.stix_id for h in held[:_AUDITED_IDS]],
                    },
                ),
            )
        pending = _pending(session, peer)
        endpoint = _endpoint(peer)
        credentials = credentials_of(session, peer)
    delivered: dict[int, str] = {}
    failed: list[Held] = []
    status_ids: list[str] = []
    error: TaxiiClientError | None = None
    if pending:
        try:
            with client_factory(endpoint, credentials) as client:
                for start in range(0, len(pending), PUSH_BATCH):
                    batch = pending[start : start + PUSH_BATCH]
                    status = client.add_objects(endpoint.collection_id, [o for _, o in batch])
                    status_ids.append(status.id)
                    accepted = {str(s.get("id")) for s in status.successes}
                    reasons = {str(f.get("id")): str(f.get("message", "")) for f in status.failures}
                    for delivery_id, obj in batch:
                        if obj["id"] in accepted:
                            delivered[delivery_id] = status.id
                        else:
                            failed.append(Held(obj["id"], reasons.get(obj["id"], "not accepted")))
        except TaxiiClientError as e:
            error = e
    with sessions.begin() as session:
        peer = peer_named(session, organisation_id, peer_name)
        now = utcnow()
        attempted = {d for d, _ in pending}
        for delivery in session.execute(
            select(SharingDelivery).where(SharingDelivery.id.in_(sorted(attempted)))
        ).scalars():
            delivery.attempts += 1
            if delivery.id in delivered:
                delivery.state = "delivered"
                delivery.status_id = delivered[delivery.id]
                delivery.delivered_at = now
                delivery.last_error = ""
            else:
                delivery.last_error = str(error) if error else "refused by the peer"
        peer.last_push_at = now
        peer.last_error = (
            f"push: {error}"
            if error
            else (f"push: {len(failed)} object(s) refused by the peer" if failed else "")
        )
        append(
            session,
            AuditEvent(
                action="sharing.pushed",
                organisation_id=organisation_id,
                actor=actor,
                via=via,
                target=f"sharing_peer:{peer.id}",
                outcome="failure" if error or failed else "success",
                details={
                    "peer": peer.name,
                    "incidents": list(incident_ids),
                    "queued": queued,
                    "sent": len(pending) if error is None else None,
                    "delivered": len(delivered),
                    "refused_by_peer": len(failed),
                    "held_back": len(held),
                    "status_ids": status_ids,
                    "objects": sorted({o["id"] for d, o in pending if d in delivered})[
                        :_AUDITED_IDS
                    ],
                },
            ),
        )
    if error is not None:
        raise error
    return PushReport(
        peer_name, queued, len(delivered), tuple(held), tuple(failed), tuple(status_ids)
    )


# sync ------------------------------------------------------------------------------------
def receive(sessions: sessionmaker[Session], organisation_id: int) -> tuple[int, IntelSummary]:
    """Record what others put into the organisation's collections, then derive the intel."""
    with sessions.begin() as session:
        own = organisation_identity(session, organisation_id)
        received = intake(session, organisation_id, own)
    with sessions.begin() as session:
        summary = refresh_intel(session, organisation_id)
    return received, summary


def sync(
    sessions: sessionmaker[Session],
    organisation_id: int,
    *,
    client_factory: ClientFactory = default_client,
    actor: str = "",
    via: str = "cli",
) -> SyncReport:
    """Pull every peer pulled from, take in what arrived, derive the intel, push to every
    peer pushed to (forwarding as each peer says). A peer that fails is reported in
    ``errors`` (and its ``last_error``); the others go on."""
    with sessions.begin() as session:
        peers = [(p.name, p.can_pull, p.can_push) for p in peers_of(session, organisation_id)]
    pulls: list[PullReport] = []
    pushes: list[PushReport] = []
    errors: list[tuple[str, str]] = []
    for name, can_pull, _ in peers:
        if can_pull:
            try:
                pulls.append(
                    pull(
                        sessions, organisation_id, name, client_factory=client_factory, actor=actor
                    )
                )
            except SharingError as e:
                errors.append((name, f"pull: {e}"))
    received, summary = receive(sessions, organisation_id)
    for name, _, can_push in peers:
        if can_push:
            try:
                pushes.append(
                    push(
                        sessions,
                        organisation_id,
                        name,
                        client_factory=client_factory,
                        actor=actor,
                        via=via,
                    )
                )
            except SharingError as e:
                errors.append((name, f"push: {e}"))
    return SyncReport(tuple(pulls), received, summary, tuple(pushes), tuple(errors))
