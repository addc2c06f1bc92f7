"""Receiving: objects pulled from a peer, and objects others put into the organisation's
collections, recorded with their TLP level and original recipients.

Two ways in, one record (:class:`panacea.sharing.sync_records.SharingReceipt`):

- :func:`ingest_pulled`: a page pulled from a peer is checked exactly as TAXII Add Objects
  checks what it receives (:func:`panacea.sharing.taxii.ingest.verify_candidate`: structure,
  signature by a registered key of the publisher; then the version rules), so an object
  altered in transit fails its signature and goes to the **quarantine** with the reason,
  never to the store. What passes is stored in the organisation's received collection; its
  recipients are the peer's audience and the organisation.
- :func:`intake`: objects that peers pushed into the organisation's collections (through the
  TAXII server, which verified them) and objects its sharing groups' members published in
  the groups' collections. Their recipients are the collection's audience on this platform:
  its owner, the members of its sharing group, and the audience of the peer whose inbox it is.

The receiving platform only knows the audience of the channel an object came through, so the
recipients it records are never wider than what the source addressed: the re-share rules
(:mod:`panacea.sharing.forwarding`) fail closed on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from panacea.identity.audit import AuditEvent, append
from panacea.sharing.errors import MarkingError, StixError, VerificationError
from panacea.sharing.group_models import SharingGroupMember
from panacea.sharing.key_records import SigningKeyRecord
from panacea.sharing.keys import KeyRing
from panacea.sharing.policy import UNMARKED, marking_of
from panacea.sharing.quarantine import INVALID, Refusal, quarantine
from panacea.sharing.sync_records import IntakeCursor, SharingPeer, SharingReceipt
from panacea.sharing.taxii.ingest import (
    Candidate,
    lock_collection,
    store_candidates,
    verify_candidate,
)
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject
from panacea.sharing.tlp import Tlp

INTAKE_CHUNK: Final = 1000
# Rows one intake looks at per collection at most; the cursor resumes there next time.
MAX_INTAKE_ROWS: Final = 200_000
_LOOKUP_CHUNK: Final = 500
_AUDITED_IDS: Final = 50


@dataclass(frozen=True)
class PageOutcome:
    """What became of one pulled page."""

    stored: int
    already_held: int
    quarantined: int
    reasons: tuple[str, ...]
    receipts: int


def _marking(obj: Any) -> Tlp:
    try:
        return marking_of(obj) if isinstance(obj, dict) else UNMARKED
    except MarkingError:
        return UNMARKED  # malformed markings: the holder keeps it (fails closed)


def identity_of(session: Session, organisation_id: int) -> str | None:
    """The organisation's STIX identity if it has one (read-only: creates no key)."""
    return session.execute(
        select(SigningKeyRecord.identity_ref)
        .where(SigningKeyRecord.organisation_id == organisation_id)
        .order_by(SigningKeyRecord.id)
        .limit(1)
    ).scalar_one_or_none()


def _received_keys(session: Session, organisation_id: int, keys: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        found.update(
            session.execute(
                select(SharingReceipt.object_key).where(
                    SharingReceipt.organisation_id == organisation_id,
                    SharingReceipt.object_key.in_(keys[start : start + _LOOKUP_CHUNK]),
                )
            ).scalars()
        )
    return found


def _stored_keys(
    session: Session, collection_id: int, versions: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Keys of stored rows by (stix id, version as stored)."""
    wanted = set(versions)
    ids = sorted({stix_id for stix_id, _ in wanted})
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        rows = session.execute(
            select(TaxiiObject.id, TaxiiObject.stix_id, TaxiiObject.version).where(
                TaxiiObject.collection_id == collection_id,
                TaxiiObject.stix_id.in_(ids[start : start + _LOOKUP_CHUNK]),
            )
        ).all()
        for key, stix_id, version in rows:
            if (stix_id, version) in wanted:
                found[(stix_id, version)] = key
    return found


def ingest_pulled(
    session: Session,
    *,
    organisation_id: int,
    collection: TaxiiCollection,
    peer: SharingPeer,
    own_identity: str,
    objects: Sequence[Any],
    actor: str = "",
) -> PageOutcome:
    """Verify, store (or quarantine) and record one page pulled from ``peer``.

    Audited like TAXII ingest: ``sharing.ingested`` and, if any object was refused,
    ``sharing.quarantined`` (reasons and ids).
    """
    ring = KeyRing(session)
    candidates: list[Candidate] = []
    refused: list[Refusal] = []
    for obj in objects:
        try:
            candidates.append(verify_candidate(obj, ring))
        except StixError as e:
            refused.append(Refusal(obj, INVALID, str(e)))
        except VerificationError as e:
            refused.append(Refusal(obj, e.reason, str(e)))
    locked = lock_collection(session, collection.id, audited_organisation_id=organisation_id)
    outcome = store_candidates(session, locked, candidates)
    refused.extend(outcome.refused)
    origin = f"peer {peer.name} ({peer.api_root}collections/{peer.collection_id}/)"
    quarantine(
        session,
        refused,
        organisation_id=organisation_id,
        collection_id=locked.id,
        status_id=None,
        received_from=origin,
        received_by_user_id=None,
    )
    kept = [*outcome.stored, *outcome.duplicates]
    keys = _stored_keys(session, locked.id, ((c.facts.stix_id, v) for c, v in kept))
    known = _received_keys(session, organisation_id, list(keys.values()))
    recipients = sorted({*peer.audience, own_identity})
    receipts = 0
    for candidate, version in kept:
        key = keys.get((candidate.facts.stix_id, version))
        if key is None or key in known or candidate.publisher == own_identity:
            continue
        known.add(key)
        session.add(
            SharingReceipt(
                organisation_id=organisation_id,
                collection_id=locked.id,
                object_key=key,
                stix_id=candidate.facts.stix_id,
                stix_type=candidate.facts.stix_type,
                version=version,
                publisher=candidate.publisher[:60],
                marking=_marking(candidate.obj).value,
                recipients=recipients,
                peer_id=peer.id,
            )
        )
        receipts += 1
    target = f"taxii_collection:{locked.uuid}"
    append(
        session,
        AuditEvent(
            action="sharing.ingested",
            organisation_id=organisation_id,
            actor=actor,
            via="sync",
            target=target,
            details={
                "peer": peer.name,
                "stored": len(outcome.stored),
                "already_stored": len(outcome.duplicates),
                "quarantined": len(refused),
            },
        ),
    )
    if refused:
        append(
            session,
            AuditEvent(
                action="sharing.quarantined",
                organisation_id=organisation_id,
                actor=actor,
                via="sync",
                target=target,
                outcome="failure",
                details={
                    "peer": peer.name,
                    "count": len(refused),
                    "reasons": sorted({r.reason for r in refused}),
                    "objects": [r.stix_id for r in refused[:_AUDITED_IDS]],
                },
            ),
        )
    session.flush()
    return PageOutcome(
        stored=len(outcome.stored),
        already_held=len(outcome.duplicates),
        quarantined=len(refused),
        reasons=tuple(sorted({r.reason for r in refused})),
        receipts=receipts,
    )


def _readable(session: Session, organisation_id: int) -> list[TaxiiCollection]:
    groups = select(SharingGroupMember.group_id).where(
        SharingGroupMember.organisation_id == organisation_id
    )
    return list(
        session.execute(
            select(TaxiiCollection)
            .where(
                or_(
                    TaxiiCollection.organisation_id == organisation_id,
                    TaxiiCollection.sharing_group_id.in_(groups),
                )
            )
            .order_by(TaxiiCollection.id)
        ).scalars()
    )


def _audience(
    session: Session, collection: TaxiiCollection, inbox_peers: Sequence[SharingPeer]
) -> list[str]:
    """Who reads ``collection`` on this platform (STIX identities), plus the audience of the
    peers that push into it."""
    organisations = {collection.organisation_id}
    if collection.sharing_group_id is not None:
        organisations.update(
            session.execute(
                select(SharingGroupMember.organisation_id).where(
                    SharingGroupMember.group_id == collection.sharing_group_id
                )
            ).scalars()
        )
    found = {i for o in sorted(organisations) if (i := identity_of(session, o)) is not None}
    for peer in inbox_peers:
        found.update(peer.audience)
    return sorted(found)


def intake(session: Session, organisation_id: int, own_identity: str) -> int:
    """Record what others put into the collections the organisation reads since the last
    intake; return how many receipts were written. Bounded: at most
    :data:`MAX_INTAKE_ROWS` rows per collection per call (the cursor resumes after them)."""
    peers = list(
        session.execute(
            select(SharingPeer).where(
                SharingPeer.organisation_id == organisation_id,
                SharingPeer.inbox_collection_id.is_not(None),
            )
        ).scalars()
    )
    written = 0
    for collection in _readable(session, organisation_id):
        cursor = session.execute(
            select(IntakeCursor).where(
                IntakeCursor.organisation_id == organisation_id,
                IntakeCursor.collection_id == collection.id,
            )
        ).scalar_one_or_none()
        if cursor is None:
            cursor = IntakeCursor(
                organisation_id=organisation_id, collection_id=collection.id, last_key=0
            )
            session.add(cursor)
        inbox = [p for p in peers if p.inbox_collection_id == collection.id]
        audience: list[str] | None = None
        for _ in range(MAX_INTAKE_ROWS // INTAKE_CHUNK):
            rows = session.execute(
                select(
                    TaxiiObject.id,
                    TaxiiObject.stix_id,
                    TaxiiObject.stix_type,
                    TaxiiObject.version,
                    TaxiiObject.publisher,
                    TaxiiObject.body,
                )
                .where(TaxiiObject.collection_id == collection.id, TaxiiObject.id > cursor.last_key)
                .order_by(TaxiiObject.id)
                .limit(INTAKE_CHUNK)
            ).all()
            if not rows:
                break
            known = _received_keys(session, organisation_id, [r.id for r in rows])
            for row in rows:
                if row.publisher == own_identity or row.id in known:
                    continue
                if audience is None:
                    audience = sorted({*_audience(session, collection, inbox), own_identity})
                session.add(
                    SharingReceipt(
                        organisation_id=organisation_id,
                        collection_id=collection.id,
                        object_key=row.id,
                        stix_id=row.stix_id,
                        stix_type=row.stix_type,
                        version=row.version,
                        publisher=row.publisher,
                        marking=_marking(json.loads(row.body)).value,
                        recipients=audience,
                        peer_id=inbox[0].id if inbox else None,
                    )
                )
                written += 1
            cursor.last_key = rows[-1].id
            session.flush()
    return written
