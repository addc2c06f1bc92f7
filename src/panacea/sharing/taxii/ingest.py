"""Adding objects to a collection: checks, signature verification, replay rules, storage.

For each object of a request, in order:

1. structure (:func:`panacea.sharing.validation.check_object`): STIX 2.1 common properties;
2. signature (:mod:`panacea.sharing.signing`): present, well-formed, made by a registered key
   (:class:`panacea.sharing.keys.KeyRing`) of the object's publisher (or a hub's), and valid
   over the RFC 8785 canonical form;
3. versions, against what the collection holds (STIX 2.1 section 3.6): a version already
   stored with the same content is a harmless re-send (reported as a success, stored once);
   the same id and version with other content, or a version older than the newest one stored,
   is a replay.

An object that fails any step is quarantined (:mod:`panacea.sharing.quarantine`) and counted
as a failure with its reason; the others are stored. Steps 1-2 (the CPU-heavy part) run before
any lock; step 3 and the writes run with the collection row locked (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite's database write lock taken first, as the audit log does), so that two
concurrent writers never both accept the same version, and date_added, taken from the
collection's clock, is strictly increasing in the order of the keys: each new object gets
``max(now, last + 1 µs)`` and the next one a microsecond more.

Local publishing (:func:`store_signed`) shares steps 3 and the writes; its objects were just
signed here, so a replay there is a caller's error, raised rather than quarantined.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit import append
from panacea.identity.audit_records import AuditHead, chain_of
from panacea.identity.principal import OrgAccess
from panacea.sharing.errors import StixError, VerificationError
from panacea.sharing.keys import KeyRing
from panacea.sharing.quarantine import INVALID, REPLAY, Refusal, quarantine
from panacea.sharing.signing import (
    UNKNOWN_KEY,
    canonical_bytes,
    check_signature,
    read_signature,
    stored_json,
)
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject, TaxiiStatus
from panacea.sharing.taxii.object_rows import insert_object_rows
from panacea.sharing.taxii.store import taxii_timestamp
from panacea.sharing.validation import StixFacts, check_object

_TICK = timedelta(microseconds=1)
_LOOKUP_CHUNK = 500
# Ids listed in one audit entry at most (the status resource lists them all).
_AUDITED_IDS = 50


@dataclass(frozen=True)
class Candidate:
    """An object that passed structure and signature checks."""

    obj: dict[str, Any]
    facts: StixFacts
    publisher: str
    kid: str
    # The RFC 8785 canonical bytes the signature covers.
    payload: bytes

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical bytes: the content, whatever the key order or signature."""
        return hashlib.sha256(self.payload).hexdigest()


@dataclass
class Outcome:
    """What happened to the objects of one request."""

    stored: list[tuple[Candidate, str]] = field(default_factory=list)
    duplicates: list[tuple[Candidate, str]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def verify_candidate(obj: Any, ring: KeyRing) -> Candidate:
    """Steps 1-2 for one object. Raises StixError or VerificationError (with the reason)."""
    facts = check_object(obj)
    read = read_signature(obj)
    trusted = ring.find(read.kid)
    if trusted is None:
        raise VerificationError(
            UNKNOWN_KEY, f"{facts.stix_id} is signed by key {read.kid}, which is not registered"
        )
    check_signature(obj, read, trusted)
    return Candidate(
        obj=obj,
        facts=facts,
        publisher=facts.created_by_ref or trusted.identity_ref,
        kid=read.kid,
        payload=read.payload,
    )


def local_candidate(
    obj: dict[str, Any], *, facts: StixFacts, kid: str, publisher: str
) -> Candidate:
    """A candidate for an object this platform has just signed (no verification needed)."""
    return Candidate(
        obj=obj, facts=facts, publisher=publisher, kid=kid, payload=canonical_bytes(obj)
    )


def lock_collection(
    session: Session, collection_id: int, *, audited_organisation_id: int
) -> TaxiiCollection:
    """The collection row, locked for this transaction (its clock is read and moved).

    Lock order: the audit chain of ``audited_organisation_id`` (the chain this transaction
    appends to) first, then the collection. The request's authentication may already hold that
    chain (a token's use is audited), so taking the collection first and the chain afterwards
    would let two requests wait for each other (a deadlock PostgreSQL breaks by failing one).
    """
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: a no-op UPDATE takes the database write lock first, so two
        # writers never read the same clock (the other waits up to the busy timeout).
        session.execute(
            update(TaxiiCollection)
            .where(TaxiiCollection.id == collection_id)
            .values(last_date_added=TaxiiCollection.last_date_added)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            select(AuditHead.chain)
            .where(AuditHead.chain == chain_of(audited_organisation_id))
            .with_for_update()
        )
    return session.execute(
        select(TaxiiCollection)
        .where(TaxiiCollection.id == collection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


@dataclass
class _History:
    """Versions stored per id: instant -> content digest, and the newest instant."""

    versions: dict[datetime, str] = field(default_factory=dict)
    newest: datetime | None = None


def _histories(session: Session, collection_id: int, ids: Iterable[str]) -> dict[str, _History]:
    unique = sorted(set(ids))
    found: dict[str, _History] = {}
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        rows = session.execute(
            select(TaxiiObject.stix_id, TaxiiObject.version_at, TaxiiObject.content_digest).where(
                TaxiiObject.collection_id == collection_id, TaxiiObject.stix_id.in_(chunk)
            )
        ).all()
        for stix_id, version_at, digest in rows:
            history = found.setdefault(stix_id, _History())
            history.versions[version_at] = digest
            if history.newest is None or version_at > history.newest:
                history.newest = version_at
    return found


def store_candidates(
    session: Session, collection: TaxiiCollection, candidates: Sequence[Candidate]
) -> Outcome:
    """Step 3 and the writes, with ``collection`` locked by :func:`lock_collection`.

    Returns what was stored (with its version as reported), re-sent, or refused as a replay.
    """
    outcome = Outcome()
    histories = _histories(session, collection.id, (c.facts.stix_id for c in candidates))
    previously_stored = {i for i, h in histories.items() if h.versions}
    now = utcnow()
    clock = collection.last_date_added
    rows: list[dict[str, Any]] = []
    latest_row: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        facts = candidate.facts
        history = histories.setdefault(facts.stix_id, _History())
        date_added = now if clock is None or now > clock else clock + _TICK
        version_at = facts.version_at or date_added
        version = facts.version or taxii_timestamp(date_added)
        if facts.version_at is None:
            # An observable has no version of its own: the same content stored under any date
            # is the same object (its id is derived from its content, STIX 2.1 section 2.9).
            same = [at for at, digest in history.versions.items() if digest == candidate.digest]
            if same:
                outcome.duplicates.append((candidate, taxii_timestamp(same[0])))
                continue
        stored_digest = history.versions.get(version_at)
        if stored_digest == candidate.digest:
            outcome.duplicates.append((candidate, version))
            continue
        if stored_digest is not None:
            outcome.refused.append(
                Refusal(
                    candidate.obj,
                    REPLAY,
                    f"{facts.stix_id} version {version} is already stored with other content",
                )
            )
            continue
        if history.newest is not None and version_at < history.newest:
            outcome.refused.append(
                Refusal(
                    candidate.obj,
                    REPLAY,
                    f"{facts.stix_id} version {version} is older than the stored version "
                    f"{taxii_timestamp(history.newest)}",
                )
            )
            continue
        clock = date_added
        row = {
            "collection_id": collection.id,
            "stix_id": facts.stix_id,
            "stix_type": facts.stix_type,
            "spec_version": facts.spec_version,
            "version": version,
            "version_at": version_at,
            "date_added": date_added,
            "is_first": not history.versions,
            "is_latest": True,
            "publisher": candidate.publisher[:60],
            "signer_kid": candidate.kid[:64],
            "content_digest": candidate.digest,
            "body": stored_json(candidate.obj, candidate.payload),
        }
        if facts.stix_id in latest_row:
            latest_row[facts.stix_id]["is_latest"] = False
        latest_row[facts.stix_id] = row
        history.versions[version_at] = candidate.digest
        history.newest = version_at
        rows.append(row)
        outcome.stored.append((candidate, version))
    superseded = sorted(previously_stored & latest_row.keys())
    for start in range(0, len(superseded), _LOOKUP_CHUNK):
        session.execute(
            update(TaxiiObject)
            .where(
                TaxiiObject.collection_id == collection.id,
                TaxiiObject.stix_id.in_(superseded[start : start + _LOOKUP_CHUNK]),
                TaxiiObject.is_latest.is_(True),
            )
            .values(is_latest=False)
            .execution_options(synchronize_session=False)
        )
    if rows:
        insert_object_rows(session, rows)
        collection.last_date_added = clock
        session.flush()
    return outcome


def _detail(candidate: Candidate, version: str, message: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"id": candidate.facts.stix_id, "version": version}
    if message:
        detail["message"] = message
    return detail


def _refusal_detail(refusal: Refusal) -> dict[str, Any]:
    return {
        "id": refusal.stix_id or "",
        "version": refusal.version or "",
        "message": f"quarantined ({refusal.reason}): {refusal.detail}",
    }


def add_objects(
    session: Session,
    access: OrgAccess,
    collection: TaxiiCollection,
    objects: Sequence[Any],
) -> TaxiiStatus:
    """Ingest ``objects`` sent by ``access`` into ``collection``; return the status resource.

    Processing is synchronous: the status is ``complete`` when this returns. Successes are the
    stored objects and the harmless re-sends; failures are the quarantined ones, each with its
    reason. Audited: ``sharing.ingested`` and, if any, ``sharing.quarantined``.
    """
    request_time = utcnow()
    status_id = str(uuid.uuid4())
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
    locked = lock_collection(session, collection.id, audited_organisation_id=access.organisation_id)
    outcome = store_candidates(session, locked, candidates)
    refused.extend(outcome.refused)
    quarantine(
        session,
        refused,
        organisation_id=locked.organisation_id,
        collection_id=locked.id,
        status_id=status_id,
        received_from=access.principal.actor,
        received_by_user_id=access.principal.user_id,
    )
    successes = [_detail(c, v) for c, v in outcome.stored] + [
        _detail(c, v, "already stored with the same content") for c, v in outcome.duplicates
    ]
    failures = [_refusal_detail(r) for r in refused]
    status = TaxiiStatus(
        id=status_id,
        organisation_id=access.organisation_id,
        collection_id=locked.id,
        request_timestamp=request_time,
        status="complete",
        total_count=len(objects),
        success_count=len(successes),
        failure_count=len(failures),
        pending_count=0,
        successes=successes,
        failures=failures,
    )
    session.add(status)
    target = f"taxii_collection:{locked.uuid}"
    append(
        session,
        access.event(
            "sharing.ingested",
            target=target,
            status_id=status_id,
            stored=len(outcome.stored),
            already_stored=len(outcome.duplicates),
            quarantined=len(refused),
        ),
    )
    if refused:
        append(
            session,
            access.event(
                "sharing.quarantined",
                target=target,
                outcome="failure",
                status_id=status_id,
                count=len(refused),
                reasons=sorted({r.reason for r in refused}),
                objects=[r.stix_id for r in refused[:_AUDITED_IDS]],
            ),
        )
    session.flush()
    return status
