"""Appending to the tamper-evident audit log.

Each organisation has one hash chain (platform-wide events such as a failed login for an
unknown e-mail go to the ``platform`` chain). An entry is appended in the caller's
transaction, so a change and its record commit or roll back together; writers lock the
chain's head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so
two concurrent writers can never give two entries the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry, AuditHead, chain_of

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """What happened, who did it, to what. ``details`` must be JSON-serialisable."""

    action: str
    organisation_id: int | None
    actor_user_id: int | None = None
    actor: str = ""
    via: str = ""
    outcome: str = "success"
    target: str = ""
    client_address: str = ""
    break_glass_grant_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def entry_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical JSON of ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    """The fields of an entry that its hash covers (everything but ``id`` and the hashes)."""
    return {
        "chain": entry.chain,
        "seq": entry.seq,
        "organisation_id": entry.organisation_id,
        "at": _timestamp(entry.at),
        "actor_user_id": entry.actor_user_id,
        "actor": entry.actor,
        "via": entry.via,
        "action": entry.action,
        "outcome": entry.outcome,
        "target": entry.target,
        "client_address": entry.client_address,
        "break_glass_grant_id": entry.break_glass_grant_id,
        "details": entry.details,
    }


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _locked_head(session: Session, chain: str) -> AuditHead:
    head = session.execute(
        select(AuditHead).where(AuditHead.chain == chain).with_for_update()
    ).scalar_one_or_none()
    if head is not None:
        return head
    # First entry of this chain: create the head; a concurrent creator makes us re-read.
    try:
        with session.begin_nested():
            session.add(AuditHead(chain=chain, seq=0, hash=GENESIS_HASH))
    except IntegrityError:
        pass
    return session.execute(
        select(AuditHead).where(AuditHead.chain == chain).with_for_update()
    ).scalar_one()


def append(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AuditEntry:
    """Append ``event`` to its chain in ``session``'s transaction; return the new entry."""
    chain = chain_of(event.organisation_id)
    head = _locked_head(session, chain)
    entry = AuditEntry(
        chain=chain,
        seq=head.seq + 1,
        organisation_id=event.organisation_id,
        # Microseconds are kept by both stores; anything finer would not survive a round trip.
        at=(at or utcnow()),
        actor_user_id=event.actor_user_id,
        actor=event.actor,
        via=event.via,
        action=event.action,
        outcome=event.outcome,
        target=event.target,
        client_address=event.client_address,
        break_glass_grant_id=event.break_glass_grant_id,
        details=json.loads(json.dumps(event.details, default=str)),
        prev_hash=head.hash,
    )
    entry.hash = entry_digest(head.hash, hashed_fields(entry))
    head.seq = entry.seq
    head.hash = entry.hash
    session.add(entry)
    session.flush()
    session.info.setdefault("audit_appended", []).append(entry)
    return entry
