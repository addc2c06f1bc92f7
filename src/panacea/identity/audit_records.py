"""Tables of the tamper-evident audit log: entries, the locked chain heads, checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, utcnow

PLATFORM_CHAIN = "platform"


def chain_of(organisation_id: int | None) -> str:
    """The chain an event belongs to: one per organisation, one for platform-wide events."""
    return PLATFORM_CHAIN if organisation_id is None else f"org-{organisation_id}"


class AuditEntry(Base):
    """One event. ``hash`` = SHA-256 over ``prev_hash`` and the canonical JSON of the entry.

    ``organisation_id`` is a plain integer, not a foreign key: the log outlives what it records.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor: Mapped[str] = mapped_column(String(400), default="")
    via: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(20), default="success")
    target: Mapped[str] = mapped_column(String(400), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")
    break_glass_grant_id: Mapped[int | None] = mapped_column(Integer, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry of a chain. Writers lock this row, so the chain never forks."""

    __tablename__ = "audit_head"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "chain C had ``seq`` entries ending in ``hash`` at ``signed_at``"."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
