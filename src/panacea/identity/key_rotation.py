"""Rotating the key-encryption key and the data key, each in one transaction, audited.

* KEK rotation re-wraps every data key under the new KEK; sealed values are untouched (they
  name their data key, whose key material does not change). Afterwards the old KEK opens
  nothing in the database.
* Data-key rotation creates a new data key, re-encrypts every value of every registered
  sealed column (:data:`panacea.identity.encryption.ENCRYPTED_COLUMNS`) under it, then deletes
  the old data keys, so a leaked old data key opens nothing either.

NIST SP 800-57 part 1 rev. 5, section 5.3, asks for both kinds of key to have a cryptoperiod;
these are the operations that end one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.db.models import Base
from panacea.identity.audit import AuditEvent, append
from panacea.identity.encryption import (
    ENCRYPTED_COLUMNS,
    EncryptedColumn,
    new_data_key,
    seal,
    unseal,
    unwrap,
    wrap,
)
from panacea.identity.errors import EncryptionError
from panacea.identity.key_records import DataKey
from panacea.identity.keys import Kek, kek_source_of


@dataclass(frozen=True)
class KekRotation:
    """What a KEK rotation did."""

    old_kek_id: str
    new_kek_id: str
    data_keys: int


@dataclass(frozen=True)
class DataKeyRotation:
    """What a data-key rotation did."""

    new_data_key_id: int
    retired_data_key_ids: tuple[int, ...]
    values: dict[str, int]


def rotate_kek(session: Session, *, old: Kek, new: Kek, actor: str = "cli") -> KekRotation:
    """Re-wrap every data key from ``old`` to ``new`` in ``session``'s transaction; audit it.

    Raises EncryptionError if the two KEKs are the same or a data key is wrapped by a third
    KEK (nothing is changed then: the caller rolls back).
    """
    if old.kek_id == new.kek_id:
        raise EncryptionError(f"the new KEK is the current one ({old.kek_id}): nothing to rotate")
    records = session.execute(select(DataKey).order_by(DataKey.id).with_for_update()).scalars()
    count = 0
    now = utcnow()
    for record in records:
        if record.kek_id != old.kek_id:
            raise EncryptionError(
                f"data key {record.id} is wrapped by KEK {record.kek_id}, not by the current "
                f"KEK {old.kek_id}: refusing to rotate"
            )
        record.wrapped = wrap(new, unwrap(record, old))
        record.kek_id = new.kek_id
        record.rewrapped_at = now
        count += 1
    session.flush()
    append(
        session,
        AuditEvent(
            action="keys.kek_rotated",
            organisation_id=None,
            actor=actor,
            via="cli",
            target="kek",
            details={"old_kek": old.kek_id, "new_kek": new.kek_id, "data_keys": count},
        ),
    )
    return KekRotation(old_kek_id=old.kek_id, new_kek_id=new.kek_id, data_keys=count)


def rotate_data_key(session: Session, *, actor: str = "cli") -> DataKeyRotation:
    """Seal every registered column under a new data key and delete the old ones; audit it.

    Runs in ``session``'s transaction with the data keys locked, so concurrent sealing waits.
    Raises EncryptionError if a value does not unseal (nothing is changed then: roll back).
    """
    kek = kek_source_of(session).current()
    old = list(session.execute(select(DataKey).order_by(DataKey.id).with_for_update()).scalars())
    for record in old:
        record.active = None
    session.flush()
    fresh = new_data_key(session, kek)
    values: dict[str, int] = {}
    for place in ENCRYPTED_COLUMNS:
        values[f"{place.table}.{place.column}"] = _reseal_column(session, place)
    retired = tuple(r.id for r in old)
    if retired:
        session.execute(delete(DataKey).where(DataKey.id.in_(retired)))
    session.flush()
    append(
        session,
        AuditEvent(
            action="keys.data_key_rotated",
            organisation_id=None,
            actor=actor,
            via="cli",
            target=f"data_key:{fresh.id}",
            details={"new_data_key": fresh.id, "retired": list(retired), "values": values},
        ),
    )
    return DataKeyRotation(new_data_key_id=fresh.id, retired_data_key_ids=retired, values=values)


def _table(place: EncryptedColumn) -> Table:
    table = Base.metadata.tables.get(place.table)
    if table is None or place.column not in table.columns:
        raise EncryptionError(f"registered sealed column {place.table}.{place.column} not found")
    return table


def _reseal_column(session: Session, place: EncryptedColumn) -> int:
    table = _table(place)
    column = table.c[place.column]
    rows = session.execute(
        select(table.c.id, column).where(column.is_not(None)).order_by(table.c.id).with_for_update()
    ).all()
    for row_id, sealed in rows:
        plaintext = unseal(session, sealed, table=place.table, row_id=row_id, column=place.column)
        resealed = seal(session, plaintext, table=place.table, row_id=row_id, column=place.column)
        session.execute(update(table).where(table.c.id == row_id).values({column: resealed}))
    return len(rows)
