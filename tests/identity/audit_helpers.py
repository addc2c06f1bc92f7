"""Shared helpers of the audit tests: a chain to work on, and an attacker with SQL access."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.identity.audit import AuditEvent, append, entry_digest, hashed_fields
from panacea.identity.audit_checkpoints import generate_key_file
from panacea.identity.audit_records import AuditEntry, AuditHead, chain_of

ORG = 7
CHAIN = chain_of(ORG)


def audit_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings with a signing key and a witness file in ``tmp_path`` (not demo mode)."""
    key = tmp_path / "audit-key.pem"
    if not key.exists():
        generate_key_file(key)
    values: dict[str, object] = {
        "database_url": database_url,
        "audit_signing_key_file": key,
        "audit_checkpoint_file": tmp_path / "checkpoints.jsonl",
        "audit_checkpoint_every": 1000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def event(n: int, *, organisation_id: int | None = ORG, **details: object) -> AuditEvent:
    return AuditEvent(
        action="finding.status_changed",
        organisation_id=organisation_id,
        actor_user_id=3,
        actor="analyst@hospital.example",
        via="session",
        target=f"finding:{n}",
        client_address="127.0.0.1",
        details={"n": n, "status": "mitigated", **details},
    )


def build_chain(
    factory: sessionmaker[Session], count: int, *, organisation_id: int | None = ORG
) -> None:
    """Append ``count`` entries, one transaction each (as requests do)."""
    for n in range(1, count + 1):
        with factory.begin() as session:
            append(session, event(n, organisation_id=organisation_id))


def entry_at(session: Session, seq: int, chain: str = CHAIN) -> AuditEntry:
    return session.execute(
        select(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.seq == seq)
    ).scalar_one()


def rehash(entry: AuditEntry) -> None:
    """What an attacker who knows the algorithm does after changing an entry."""
    entry.hash = entry_digest(entry.prev_hash, hashed_fields(entry))


def renumber(session: Session, from_seq: int, delta: int, chain: str = CHAIN) -> None:
    """Shift the seq of entries ``from_seq``.. by ``delta`` (through negatives: the unique
    (chain, seq) constraint is checked row by row)."""
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.chain == chain, AuditEntry.seq >= from_seq)
        .values(seq=-AuditEntry.seq)
    )
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.chain == chain, AuditEntry.seq < 0)
        .values(seq=-AuditEntry.seq + delta)
    )


def set_head(session: Session, seq: int, hash_: str, chain: str = CHAIN) -> None:
    session.execute(update(AuditHead).where(AuditHead.chain == chain).values(seq=seq, hash=hash_))


def forged(
    seq: int, prev_hash: str, *, chain: str = CHAIN, organisation_id: int = ORG
) -> AuditEntry:
    """A well-formed entry that was never appended (hash computed as the code does)."""
    entry = AuditEntry(
        chain=chain,
        seq=seq,
        organisation_id=organisation_id,
        at=utcnow(),
        actor_user_id=1,
        actor="mallory@hospital.example",
        via="session",
        action="risk.accepted",
        outcome="success",
        target="finding:99",
        client_address="127.0.0.1",
        break_glass_grant_id=None,
        details={"note": "never happened"},
        prev_hash=prev_hash,
        hash="",
    )
    rehash(entry)
    return entry
