"""Organisations' signing keys and the registry of trusted public keys.

- Each organisation has one active Ed25519 key pair (created on first use, or rotated with
  :func:`rotate_signing_key`); its private key is sealed
  (:func:`panacea.identity.encryption.seal`), its public key is exported as a JWK
  (:func:`public_key_of`) for peers to register.
- Each organisation has one STIX identity id (``identity--<uuid4>``), the ``created_by_ref``
  of what it publishes; it is kept with its keys and survives rotations.
- Peers' public keys (another instance's organisations, hubs) are registered per STIX identity
  (:func:`register_peer_key`); a hub's key may be marked ``may_republish``.
- :class:`KeyRing` finds the key a signature names (its ``kid``) among the local
  organisations' keys (retired ones included: rotation is not revocation) and the peers' live
  keys, caching each answer for one batch.

Every key event is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit import AuditEvent, append
from panacea.identity.encryption import seal, unseal
from panacea.sharing.errors import SigningKeyError
from panacea.sharing.key_records import PeerKeyRecord, SigningKeyRecord
from panacea.sharing.signing import (
    SignerKey,
    TrustedKey,
    algorithm_of,
    key_id,
    public_key_from_jwk,
)
from panacea.sharing.validation import ID_PATTERN

_SEALED_TABLE = "sharing_signing_key"
_SEALED_COLUMN = "private_key_encrypted"


@dataclass(frozen=True)
class PublicKeyView:
    """An organisation's public signing key, as given to peers."""

    identity_ref: str
    kid: str
    algorithm: str
    jwk: dict[str, Any]


def _active(session: Session, organisation_id: int) -> SigningKeyRecord | None:
    return session.execute(
        select(SigningKeyRecord).where(
            SigningKeyRecord.organisation_id == organisation_id,
            SigningKeyRecord.active.is_(True),
        )
    ).scalar_one_or_none()


def _identity_of(session: Session, organisation_id: int) -> str | None:
    return session.execute(
        select(SigningKeyRecord.identity_ref)
        .where(SigningKeyRecord.organisation_id == organisation_id)
        .order_by(SigningKeyRecord.id)
        .limit(1)
    ).scalar_one_or_none()


def _new_key(session: Session, organisation_id: int, identity_ref: str) -> SigningKeyRecord:
    key = OKPKey.generate_key("Ed25519", private=True)
    record = SigningKeyRecord(
        organisation_id=organisation_id,
        identity_ref=identity_ref,
        kid=key_id(key),
        algorithm=algorithm_of(key),
        public_jwk=dict(key.as_dict(private=False)),
        private_key_encrypted=b"",
        active=True,
    )
    session.add(record)
    session.flush()  # the sealed value is bound to the row id
    record.private_key_encrypted = seal(
        session,
        key.as_bytes(private=True),
        table=_SEALED_TABLE,
        row_id=record.id,
        column=_SEALED_COLUMN,
    )
    session.flush()
    append(
        session,
        AuditEvent(
            action="sharing.signing_key_created",
            organisation_id=organisation_id,
            via="system",
            target=f"signing_key:{record.id}",
            details={"kid": record.kid, "identity_ref": identity_ref},
        ),
    )
    return record


def ensure_signing_key(session: Session, organisation_id: int) -> SigningKeyRecord:
    """The organisation's active key record, created (with its identity) on first use."""
    record = _active(session, organisation_id)
    if record is not None:
        return record
    identity_ref = _identity_of(session, organisation_id) or f"identity--{uuid.uuid4()}"
    return _new_key(session, organisation_id, identity_ref)


def organisation_identity(session: Session, organisation_id: int) -> str:
    """The organisation's STIX identity id (``created_by_ref`` of what it publishes)."""
    return ensure_signing_key(session, organisation_id).identity_ref


def signer_of(session: Session, organisation_id: int) -> SignerKey:
    """The organisation's active private key (unsealed), to sign with.

    Raises EncryptionError if the KEK is missing or wrong, SigningKeyError if the stored key is
    not a key.
    """
    record = ensure_signing_key(session, organisation_id)
    pem = unseal(
        session,
        record.private_key_encrypted,
        table=_SEALED_TABLE,
        row_id=record.id,
        column=_SEALED_COLUMN,
    )
    try:
        key = OKPKey.import_key(pem)
    except ValueError as e:
        raise SigningKeyError(f"signing key {record.kid} does not load: {e}") from e
    return SignerKey(identity_ref=record.identity_ref, key=key)


def public_key_of(session: Session, organisation_id: int) -> PublicKeyView:
    """The organisation's active public key as a JWK, with its kid and identity."""
    record = ensure_signing_key(session, organisation_id)
    return PublicKeyView(
        identity_ref=record.identity_ref,
        kid=record.kid,
        algorithm=record.algorithm,
        jwk={**record.public_jwk, "kid": record.kid, "alg": record.algorithm, "use": "sig"},
    )


def rotate_signing_key(session: Session, organisation_id: int, *, actor: str) -> SigningKeyRecord:
    """Retire the active key (it still verifies what it signed) and create a new one."""
    previous = _active(session, organisation_id)
    identity_ref = (
        previous.identity_ref if previous else organisation_identity(session, organisation_id)
    )
    if previous is not None:
        previous.active = None
        previous.retired_at = utcnow()
        session.flush()
    record = _new_key(session, organisation_id, identity_ref)
    append(
        session,
        AuditEvent(
            action="sharing.signing_key_rotated",
            organisation_id=organisation_id,
            actor=actor,
            via="cli",
            target=f"signing_key:{record.id}",
            details={"kid": record.kid, "retired_kid": previous.kid if previous else None},
        ),
    )
    return record


def register_peer_key(
    session: Session,
    *,
    identity_ref: str,
    jwk: Mapping[str, Any],
    label: str = "",
    may_republish: bool = False,
    actor: str = "",
) -> PeerKeyRecord:
    """Trust a remote publisher's public key for the STIX identity ``identity_ref``.

    Raises SigningKeyError for a malformed identity or key, a private key, or a key already
    registered (or one of this platform's own).
    """
    matched = ID_PATTERN.match(identity_ref)
    if matched is None or matched.group(1) != "identity":
        raise SigningKeyError(f"{identity_ref!r} is not a STIX identity id (identity--<UUID>)")
    key = public_key_from_jwk(jwk)
    kid = key_id(key)
    taken = (
        session.execute(
            select(PeerKeyRecord.id).where(PeerKeyRecord.kid == kid)
        ).scalar_one_or_none()
        or session.execute(
            select(SigningKeyRecord.id).where(SigningKeyRecord.kid == kid)
        ).scalar_one_or_none()
    )
    if taken is not None:
        raise SigningKeyError(f"key {kid} is already registered")
    record = PeerKeyRecord(
        identity_ref=identity_ref,
        kid=kid,
        algorithm=algorithm_of(key),
        public_jwk=dict(key.as_dict(private=False)),
        label=label.strip()[:200],
        may_republish=may_republish,
    )
    session.add(record)
    session.flush()
    append(
        session,
        AuditEvent(
            action="sharing.peer_key_registered",
            organisation_id=None,
            actor=actor,
            via="cli",
            target=f"peer_key:{record.id}",
            details={"kid": kid, "identity_ref": identity_ref, "may_republish": may_republish},
        ),
    )
    return record


def revoke_peer_key(session: Session, kid: str, *, actor: str = "") -> PeerKeyRecord:
    """Stop trusting a peer key. Raises SigningKeyError if no such peer key."""
    record = session.execute(
        select(PeerKeyRecord).where(PeerKeyRecord.kid == kid)
    ).scalar_one_or_none()
    if record is None:
        raise SigningKeyError(f"no peer key {kid}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        append(
            session,
            AuditEvent(
                action="sharing.peer_key_revoked",
                organisation_id=None,
                actor=actor,
                via="cli",
                target=f"peer_key:{record.id}",
                details={"kid": kid, "identity_ref": record.identity_ref},
            ),
        )
    return record


class KeyRing:
    """The trusted keys by kid, looked up once each (one ingest batch holds one KeyRing)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._found: dict[str, TrustedKey | None] = {}

    def find(self, kid: str) -> TrustedKey | None:
        """The trusted key named ``kid``, or None if unknown or revoked."""
        if kid not in self._found:
            self._found[kid] = self._load(kid)
        return self._found[kid]

    def _load(self, kid: str) -> TrustedKey | None:
        own = self._session.execute(
            select(SigningKeyRecord.identity_ref, SigningKeyRecord.public_jwk).where(
                SigningKeyRecord.kid == kid
            )
        ).one_or_none()
        if own is not None:
            return TrustedKey(kid=kid, identity_ref=own[0], key=public_key_from_jwk(own[1]))
        peer = self._session.execute(
            select(PeerKeyRecord).where(
                PeerKeyRecord.kid == kid, PeerKeyRecord.revoked_at.is_(None)
            )
        ).scalar_one_or_none()
        if peer is None:
            return None
        return TrustedKey(
            kid=kid,
            identity_ref=peer.identity_ref,
            key=public_key_from_jwk(peer.public_jwk),
            may_republish=peer.may_republish,
        )
