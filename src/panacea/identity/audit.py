"""Appending to the tamper-evident audit log.

Each organisation has one hash chain (platform-wide events such as a failed login for an
unknown e-mail go to the ``platform`` chain). An entry is appended in the caller's
transaction, so a change and its record commit or roll back together; writers lock the
chain's head row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite, which has no row locks,
the database write lock is taken before the head is read), so two concurrent writers can never
give two entries the same predecessor.

What the hash covers (:func:`hashed_fields`, :func:`entry_digest`) is the contract that
:mod:`panacea.identity.audit_verify` checks; changing it invalidates every stored chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry, AuditHead, chain_of

GENESIS_HASH = "0" * 64
# session.info key listing the entries appended in the session's current transaction.
APPENDED_KEY = "audit_appended"


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
        "at": utc_timestamp(entry.at),
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


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """The entry as JSON (SIEM, export): its id, the hashed fields, ``prev_hash`` and ``hash``.

    Everything needed to recompute the hash is in it, so a copy kept elsewhere can be checked
    without the database.
    """
    return {
        "id": entry.id,
        **hashed_fields(entry),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def utc_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with microseconds (``2025-01-31T08:00:00.000000Z``), as hashed and signed."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _head_query(chain: str) -> Select[AuditHead]:
    # populate_existing: a session kept across transactions must not trust the head it loaded
    # in an earlier one (another writer may have moved it since).
    return (
        select(AuditHead)
        .where(AuditHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _take_sqlite_write_lock(session: Session, chain: str) -> None:
    """Take SQLite's database write lock before the head is read.

    SQLite ignores ``FOR UPDATE`` and pysqlite opens a transaction only at the first write, so
    two writers could both read the same head and the second would fail on the unique
    (chain, seq) constraint. A no-op UPDATE makes this transaction the one writer (the
    RESERVED lock, as ``BEGIN IMMEDIATE`` would); others wait up to the busy timeout.
    """
    session.execute(
        update(AuditHead)
        .where(AuditHead.chain == chain)
        .values(seq=AuditHead.seq)
        .execution_options(synchronize_session=False)
    )


def _locked_head(session: Session, chain: str) -> AuditHead:
    if session.get_bind().dialect.name == "sqlite":
        _take_sqlite_write_lock(session, chain)
    head = session.execute(_head_query(chain)).scalar_one_or_none()
    if head is not None:
        return head
    # First entry of this chain: create the head; a concurrent creator makes us re-read.
    try:
        with session.begin_nested():
            session.add(AuditHead(chain=chain, seq=0, hash=GENESIS_HASH))
    except IntegrityError:
        pass
    return session.execute(_head_query(chain)).scalar_one()


def append(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AuditEntry:
    """Append ``event`` to its chain in ``session``'s transaction; return the new entry.

    The entry commits or rolls back with the caller's change. It is also listed in
    ``session.info["audit_appended"]``: once the transaction commits, the hook of
    :func:`panacea.identity.audit_forwarding.install_audit_forwarding` forwards it to the SIEM
    and writes the checkpoints that fall due (a rollback forwards nothing).
    """
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
    session.info.setdefault(APPENDED_KEY, []).append(entry)
    return entry
