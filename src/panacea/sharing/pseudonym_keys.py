"""Each organisation's pseudonym key: 32 random bytes, sealed, created on first use.

The key makes pseudonyms (HMAC-SHA256, :mod:`panacea.sharing.anonymise`) stable within one
organisation (the same host gets the same pseudonym in every report, so recipients correlate
sightings) and unlinkable across organisations, and it makes them irreversible for anyone
without it: the values pseudonymised (names, record numbers, private addresses) come from
small spaces that an unkeyed hash would let a recipient enumerate.

The key is sealed with :func:`panacea.identity.encryption.seal` (AES-256-GCM under the data
key; column registered in ``ENCRYPTED_COLUMNS`` so data-key rotation re-encrypts it). It is
never rotated: a new key would give every host and person a new pseudonym, breaking the
correlation it exists for. It never leaves the platform.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from panacea.db.base import Base, utcnow
from panacea.identity.encryption import seal, unseal
from panacea.identity.errors import EncryptionError
from panacea.inventory.organisation import Organisation
from panacea.sharing.errors import AnonymisationError

KEY_BYTES = 32  # HMAC-SHA256 key as long as the hash output (RFC 2104 section 3)
_TABLE = "pseudonym_key"
_COLUMN = "key_encrypted"


class PseudonymKey(Base):
    """An organisation's sealed pseudonym key."""

    __tablename__ = _TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), unique=True
    )
    key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _select(session: Session, organisation_id: int) -> PseudonymKey | None:
    return session.execute(
        select(PseudonymKey).where(PseudonymKey.organisation_id == organisation_id)
    ).scalar_one_or_none()


def pseudonym_key(session: Session, organisation_id: int) -> bytes:
    """The organisation's pseudonym key, created (and sealed) in ``session`` on first use.

    Raises AnonymisationError if the organisation does not exist or the key cannot be
    unsealed (no KEK configured, wrong KEK, altered value).
    """
    row = _select(session, organisation_id)
    if row is None:
        if session.get(Organisation, organisation_id) is None:
            raise AnonymisationError(f"no organisation {organisation_id}: no pseudonym key")
        try:
            with session.begin_nested():
                row = PseudonymKey(organisation_id=organisation_id, key_encrypted=b"")
                session.add(row)
                session.flush()
                row.key_encrypted = seal(
                    session,
                    secrets.token_bytes(KEY_BYTES),
                    table=_TABLE,
                    row_id=row.id,
                    column=_COLUMN,
                )
                session.flush()
        except IntegrityError:
            # Created concurrently by another transaction: use that one.
            row = _select(session, organisation_id)
        except EncryptionError as e:
            raise AnonymisationError(
                f"cannot create the pseudonym key of organisation {organisation_id}: {e}"
            ) from e
        if row is None:
            raise AnonymisationError(f"pseudonym key of organisation {organisation_id} vanished")
    try:
        key = unseal(session, row.key_encrypted, table=_TABLE, row_id=row.id, column=_COLUMN)
    except EncryptionError as e:
        raise AnonymisationError(
            f"pseudonym key of organisation {organisation_id} does not unseal: {e}"
        ) from e
    if len(key) != KEY_BYTES:
        raise AnonymisationError(
            f"pseudonym key of organisation {organisation_id} has {len(key)} bytes"
        )
    return key
