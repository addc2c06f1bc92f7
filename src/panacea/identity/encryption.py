"""Envelope encryption of sensitive fields (TOTP secrets and the like).

A value is sealed with AES-256-GCM (NIST SP 800-38D) under the active data key (DEK, table
``data_key``); the DEK is stored only wrapped (AES key wrap, RFC 3394 / NIST SP 800-38F) by the
key-encryption key (KEK, :mod:`panacea.identity.keys`), which is kept outside the database.
A copy of the database alone therefore reveals no sealed value.

Sealed layout (version 1)::

    0x01 | DEK id (4 bytes, big-endian) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

The associated data binds each value to its place: table, column, row id (the row's primary
key) and DEK id. A ciphertext copied to another row or column, or relabelled with another DEK,
fails to verify.

Every sealed column is listed in :data:`ENCRYPTED_COLUMNS`: ``panacea keys rotate-data-key``
re-encrypts exactly those, and docs/security.md lists them. Nonces are random (96 bits); NIST SP
800-38D section 8.3 caps a key at 2^32 random-nonce encryptions, far above what a platform's
few secrets need between data-key rotations.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.identity.errors import EncryptionError
from panacea.identity.key_records import DataKey
from panacea.identity.keys import Kek, kek_source_of

SEAL_VERSION = 1
DEK_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">BI")
_MIN_SEALED = _HEADER.size + NONCE_BYTES + TAG_BYTES
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MAX_ROW_ID = 2**63 - 1


@dataclass(frozen=True)
class EncryptedColumn:
    """A column whose values are sealed, bound to its table's integer primary key ``id``."""

    table: str
    column: str


# Every sealed column of the platform. Sealing a column not listed here is a bug: rotating the
# data key would leave its values under a deleted key (a test checks the models against it).
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("totp_credential", "secret_encrypted"),
    EncryptedColumn("sharing_signing_key", "private_key_encrypted"),
    EncryptedColumn("pseudonym_key", "key_encrypted"),
    EncryptedColumn("sharing_peer", "token_encrypted"),
)


def seal(session: Session, plaintext: bytes, *, table: str, row_id: int, column: str) -> bytes:
    """Encrypt ``plaintext`` for ``table.column`` of row ``row_id``; return the sealed bytes.

    Uses the active data key, creating (and wrapping) the first one when there is none, in
    ``session``'s transaction. Raises EncryptionError if no KEK is configured or it does not
    match the data key's, or if the names or row id are invalid.
    """
    _check_place(table, column, row_id)
    if not isinstance(plaintext, bytes):
        raise EncryptionError(f"seal {table}.{column}: plaintext must be bytes")
    record, dek = active_data_key(session)
    nonce = os.urandom(NONCE_BYTES)
    aad = associated_data(table=table, row_id=row_id, column=column, dek_id=record.id)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, aad)
    return _HEADER.pack(SEAL_VERSION, record.id) + nonce + ciphertext


def unseal(session: Session, sealed: bytes, *, table: str, row_id: int, column: str) -> bytes:
    """Decrypt a value sealed for ``table.column`` of row ``row_id``.

    Raises EncryptionError if the value is malformed, its data key is gone or wrapped by
    another KEK, or it does not verify (altered, or sealed for another row or column).
    """
    _check_place(table, column, row_id)
    where = f"{table}.{column} of row {row_id}"
    if len(sealed) < _MIN_SEALED:
        raise EncryptionError(f"sealed value of {where} is truncated ({len(sealed)} bytes)")
    version, dek_id = _HEADER.unpack_from(sealed)
    if version != SEAL_VERSION:
        raise EncryptionError(f"sealed value of {where} has unknown version {version}")
    nonce = sealed[_HEADER.size : _HEADER.size + NONCE_BYTES]
    ciphertext = sealed[_HEADER.size + NONCE_BYTES :]
    record = session.get(DataKey, dek_id)
    if record is None:
        raise EncryptionError(f"sealed value of {where} names data key {dek_id}, which is gone")
    dek = unwrap(record, kek_source_of(session).matching(record.kek_id))
    aad = associated_data(table=table, row_id=row_id, column=column, dek_id=dek_id)
    try:
        return AESGCM(dek).decrypt(nonce, ciphertext, aad)
    except InvalidTag as e:
        raise EncryptionError(
            f"sealed value of {where} does not verify: altered, or sealed for another place"
        ) from e


def associated_data(*, table: str, row_id: int, column: str, dek_id: int) -> bytes:
    """The GCM associated data binding a value to its place and data key.

    Names are restricted to ``[a-z0-9_]`` (see _check_place), so the separator cannot occur
    inside a field and the encoding is unambiguous.
    """
    return f"panacea-seal-v{SEAL_VERSION}|{table}|{column}|{row_id}|{dek_id}".encode("ascii")


def active_data_key(session: Session) -> tuple[DataKey, bytes]:
    """The active data key row and its unwrapped key; the first one is created if none.

    The row is read ``FOR SHARE`` on PostgreSQL so that a concurrent data-key rotation (which
    locks it ``FOR UPDATE``) waits for this transaction's sealed values, and vice versa.
    """
    source = kek_source_of(session)
    record = _select_active(session)
    if record is None:
        kek = source.current()
        try:
            with session.begin_nested():
                record = new_data_key(session, kek)
        except IntegrityError:
            # A concurrent transaction created the first key: use that one.
            record = _select_active(session)
            if record is None:
                raise EncryptionError("no active data key and none could be created") from None
    return record, unwrap(record, source.matching(record.kek_id))


def new_data_key(session: Session, kek: Kek) -> DataKey:
    """Add a fresh active data key wrapped by ``kek`` (any previous one must be retired)."""
    record = DataKey(wrapped=wrap(kek, os.urandom(DEK_BYTES)), kek_id=kek.kek_id, active=True)
    session.add(record)
    session.flush()
    return record


def wrap(kek: Kek, dek: bytes) -> bytes:
    """``dek`` wrapped by ``kek`` (AES key wrap, RFC 3394: deterministic and authenticated)."""
    return aes_key_wrap(kek.key, dek)


def unwrap(record: DataKey, kek: Kek) -> bytes:
    """The key of ``record``, unwrapped with ``kek``. Raises EncryptionError if it fails."""
    try:
        return aes_key_unwrap(kek.key, record.wrapped)
    except (InvalidUnwrap, ValueError) as e:
        raise EncryptionError(
            f"data key {record.id} does not unwrap with KEK {kek.kek_id}: wrong KEK or altered"
        ) from e


def _select_active(session: Session) -> DataKey | None:
    return session.execute(
        select(DataKey).where(DataKey.active.is_(True)).with_for_update(read=True)
    ).scalar_one_or_none()


def _check_place(table: str, column: str, row_id: int) -> None:
    for kind, name in (("table", table), ("column", column)):
        if not _NAME.fullmatch(name):
            raise EncryptionError(f"invalid {kind} name {name!r} for a sealed value")
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 <= row_id <= _MAX_ROW_ID:
        raise EncryptionError(f"invalid row id {row_id!r} for {table}.{column}")
