"""The table of data-encryption keys (DEKs), each stored wrapped by the key-encryption key.

The database never holds a usable key: a DEK is kept only as its AES key wrap (RFC 3394) under
the KEK, and the KEK lives outside the database (a file or a setting). See
:mod:`panacea.identity.encryption`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, utcnow


class DataKey(Base):
    """One platform-wide AES-256 data key, wrapped by the KEK identified by ``kek_id``.

    ``active`` is True for the one key that seals new values and NULL once the key is retired:
    NULL rather than False, so that the unique constraint admits any number of retired keys
    but never two active ones (NULLs are distinct in both SQLite and PostgreSQL).
    """

    __tablename__ = "data_key"
    __table_args__ = (UniqueConstraint("active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # AES key wrap (RFC 3394, NIST SP 800-38F KW) of the 32-byte key: 40 bytes.
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    # Fingerprint of the KEK that wrapped it (see panacea.identity.keys.Kek.kek_id).
    kek_id: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool | None] = mapped_column(Boolean, default=None)
    rewrapped_at: Mapped[datetime | None] = mapped_column(default=None)
