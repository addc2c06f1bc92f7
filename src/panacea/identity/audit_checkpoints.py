"""Signed checkpoints of the audit chains, and the external witness that keeps a copy.

A hash chain proves that nothing was changed *inside* it, not that its end is still there:
whoever can write to the database can delete the last entries and move the head back. A
checkpoint is the statement "chain C had ``seq`` entries, the last with hash H, at time T",
signed with Ed25519 (RFC 8032) by a key kept outside the database
(``PANACEA_AUDIT_SIGNING_KEY_FILE``, PEM), stored in ``audit_checkpoint`` and, first, written
where the database's users cannot reach: one JSON line appended to
``PANACEA_AUDIT_CHECKPOINT_FILE`` and/or one syslog message to the SIEM. Verification then
detects any truncation to before the last checkpoint, and any rewrite of the chain up to it
(NIST SP 800-53 AU-9(3), cryptographic protection of audit information; AU-9(2), storage on a
separate system).

Checkpoints are made every ``PANACEA_AUDIT_CHECKPOINT_EVERY`` entries of a chain (after the
commit that reaches the multiple, :mod:`panacea.identity.audit_forwarding`) and by
``panacea audit checkpoint`` (run it from cron, so that quiet chains are covered too).

In demo mode, a missing key is generated next to the database (mode 0600) and the witness
file defaults to the same folder; outside demo mode a missing key or witness is an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.identity.audit import GENESIS_HASH, entry_digest, hashed_fields, utc_timestamp
from panacea.identity.audit_records import AuditCheckpoint, AuditEntry, AuditHead
from panacea.identity.errors import IdentityError
from panacea.identity.siem import Severity, SyslogDeliveryError, send_syslog

log = logging.getLogger(__name__)

CHECKPOINT_SCHEMA = "panacea.audit.checkpoint/1"
# Domain separation: a signature over a checkpoint can never be taken for one over anything
# else this key might sign.
SIGNED_CONTEXT = b"panacea audit checkpoint v1\n"
DEMO_KEY_SUFFIX = "audit-key.pem"
DEMO_WITNESS_SUFFIX = "audit-checkpoints.jsonl"
CHECKPOINT_MSGID = "CHECKPOINT"


class CheckpointError(IdentityError):
    """A checkpoint cannot be made or read: no key, a bad key file, no writable witness."""


@dataclass(frozen=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint as signed: the statement and its Ed25519 signature (base64)."""

    chain: str
    seq: int
    hash: str
    signed_at: datetime
    key_id: str
    signature: str

    def statement(self) -> bytes:
        """The exact bytes signed: a context string and the canonical JSON of the statement."""
        return signed_statement(self.chain, self.seq, self.hash, self.signed_at, self.key_id)

    def as_json(self) -> dict[str, Any]:
        """The witness line's JSON (also the syslog payload)."""
        return {
            "type": CHECKPOINT_SCHEMA,
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": utc_timestamp(self.signed_at),
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedCheckpoint:
        """Parse a witness line. Raises CheckpointError naming the field that is wrong."""
        if data.get("type") != CHECKPOINT_SCHEMA:
            raise CheckpointError(f"not a {CHECKPOINT_SCHEMA} record (type {data.get('type')!r})")
        try:
            checkpoint = cls(
                chain=str(data["chain"]),
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                signed_at=datetime.fromisoformat(str(data["signed_at"])),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except KeyError as e:
            raise CheckpointError(f"checkpoint record lacks {e.args[0]!r}") from e
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint record has a malformed field: {e}") from e
        if checkpoint.signed_at.tzinfo is None:
            raise CheckpointError("checkpoint record's signed_at has no time zone")
        return checkpoint

    @classmethod
    def of_row(cls, row: AuditCheckpoint) -> SignedCheckpoint:
        return cls(
            chain=row.chain,
            seq=row.seq,
            hash=row.hash,
            signed_at=row.signed_at,
            key_id=row.key_id,
            signature=row.signature,
        )


def signed_statement(chain: str, seq: int, hash_: str, signed_at: datetime, key_id: str) -> bytes:
    """What a checkpoint's signature covers (see :class:`SignedCheckpoint`)."""
    body = {
        "chain": chain,
        "seq": seq,
        "hash": hash_,
        "signed_at": utc_timestamp(signed_at),
        "key_id": key_id,
    }
    return SIGNED_CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: names the key that signed a checkpoint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(
    key: Ed25519PrivateKey, chain: str, seq: int, hash_: str, signed_at: datetime
) -> SignedCheckpoint:
    """Sign "chain ``chain`` ends at ``seq`` with ``hash_``" with ``key``."""
    key_id = key_id_of(key.public_key())
    signature = key.sign(signed_statement(chain, seq, hash_, signed_at, key_id))
    return SignedCheckpoint(
        chain=chain,
        seq=seq,
        hash=hash_,
        signed_at=signed_at,
        key_id=key_id,
        signature=base64.b64encode(signature).decode("ascii"),
    )


def signature_problem(
    checkpoint: SignedCheckpoint, keys: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """Why ``checkpoint``'s signature does not verify with the trusted ``keys``; None if it does."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"signed by key {checkpoint.key_id[:16]}…, which is not a trusted key"
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.statement())
    except (InvalidSignature, binascii.Error, ValueError):
        return "its Ed25519 signature does not verify"
    return None


# --- keys --------------------------------------------------------------------------------------


def _demo_path(settings: Settings, suffix: str) -> Path:
    """A demo-mode file next to the database: ``x.db`` gets ``x.<suffix>``; a server database
    ``data_dir/panacea.<suffix>`` (as the demo KEK, :func:`panacea.identity.keys.demo_kek_path`).
    Named after the database so that two databases never share a witness."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return settings.data_dir / f"panacea.{suffix}"
    database = url.database or ""
    is_file = database not in ("", ":memory:") and not database.startswith("file:")
    if url.get_backend_name() == "sqlite" and is_file:
        db_path = Path(database)
        return db_path.with_name(f"{db_path.stem}.{suffix}")
    return settings.data_dir / f"panacea.{suffix}"


def signing_key_path(settings: Settings) -> Path | None:
    """The signing key file: the configured one, in demo mode the generated one, else None."""
    if settings.audit_signing_key_file is not None:
        return settings.audit_signing_key_file
    if settings.demo_mode:
        return _demo_path(settings, DEMO_KEY_SUFFIX)
    return None


def witness_path(settings: Settings) -> Path | None:
    """The checkpoint witness file: the configured one, in demo mode the default, else None."""
    if settings.audit_checkpoint_file is not None:
        return settings.audit_checkpoint_file
    if settings.demo_mode:
        return _demo_path(settings, DEMO_WITNESS_SUFFIX)
    return None


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 private key at ``path`` (PKCS#8 PEM, mode 0600, never overwritten).

    Raises CheckpointError if the file exists or cannot be created.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting together cannot both write (and one overwrite) it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise CheckpointError(f"cannot create audit signing key {path}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _read_pem(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read audit key {path}: {e.strerror}") from e


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``. Raises CheckpointError otherwise."""
    try:
        key = serialization.load_pem_private_key(_read_pem(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise CheckpointError(f"audit signing key {path} is not an unencrypted PEM key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"audit signing key {path} is not an Ed25519 key")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("audit signing key %s is readable by others (mode %o)", path, mode & 0o777)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding the public key or the private key."""
    pem = _read_pem(path)
    if b"PRIVATE KEY" in pem:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise CheckpointError(f"{path} is not a PEM public key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} is not an Ed25519 public key")
    return key


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs checkpoints (generated in demo mode if missing).

    Raises CheckpointError outside demo mode when no key file is configured or it is unusable.
    """
    path = signing_key_path(settings)
    if path is None:
        raise CheckpointError(
            "no audit signing key: set PANACEA_AUDIT_SIGNING_KEY_FILE to an Ed25519 private key "
            "(PEM) kept outside the database; `panacea audit keygen FILE` creates one"
        )
    if settings.demo_mode and settings.audit_signing_key_file is None and not path.exists():
        try:
            key = generate_key_file(path)
        except CheckpointError:
            if not path.exists():  # not a concurrent creator: a real failure
                raise
        else:
            log.warning("demo mode: generated an audit signing key at %s (keep it safe)", path)
            return key
    return load_private_key(path)


def trusted_keys(settings: Settings, extra: Iterable[Path] = ()) -> dict[str, Ed25519PublicKey]:
    """Public keys that checkpoints may be signed with, by key id (never generates a key).

    The signing key's public half when it exists, plus ``extra`` PEM files (old keys kept
    after a rotation, or the public key given to an auditor who has no private key).
    """
    keys: list[Ed25519PublicKey] = []
    path = signing_key_path(settings)
    if path is not None and path.exists():
        keys.append(load_public_key(path))
    keys.extend(load_public_key(p) for p in extra)
    return {key_id_of(k): k for k in keys}


def public_key_pem(key: Ed25519PublicKey) -> str:
    """``key`` as a PEM SubjectPublicKeyInfo, to hand to auditors."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# --- the witness --------------------------------------------------------------------------------


def append_witness_line(path: Path, checkpoint: SignedCheckpoint) -> None:
    """Append ``checkpoint`` as one JSON line to ``path``, flushed to disk.

    One ``write`` on an ``O_APPEND`` descriptor: lines of concurrent writers never interleave.
    Raises CheckpointError if the file cannot be written.
    """
    line = json.dumps(checkpoint.as_json(), sort_keys=True, separators=(",", ":")) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise CheckpointError(f"cannot append to audit checkpoint file {path}: {e}") from e


@dataclass(frozen=True)
class WitnessFile:
    """What the witness file holds: valid records, and lines that could not be read."""

    path: Path
    checkpoints: tuple[SignedCheckpoint, ...]
    unreadable: tuple[str, ...]


def read_witness(path: Path) -> WitnessFile:
    """Every checkpoint in the witness file (a missing file holds none).

    Malformed lines are reported in ``unreadable`` ("FILE:LINE: why"), not raised: a damaged
    witness is itself a finding of the verification. Raises CheckpointError only if the file
    exists but cannot be read.
    """
    if not path.exists():
        return WitnessFile(path, (), ())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read audit checkpoint file {path}: {e}") from e
    checkpoints: list[SignedCheckpoint] = []
    unreadable: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise CheckpointError("not a JSON object")
            checkpoints.append(SignedCheckpoint.from_json(data))
        except (json.JSONDecodeError, CheckpointError) as e:
            unreadable.append(f"{path}:{number}: {e}")
    return WitnessFile(path, tuple(checkpoints), tuple(unreadable))


def _publish(settings: Settings, checkpoint: SignedCheckpoint) -> None:
    """Hand ``checkpoint`` to the external sinks. Raises CheckpointError if there is none or
    the witness file cannot be written (a SIEM that is down is logged, the file suffices)."""
    path = witness_path(settings)
    sent = False
    if settings.syslog_host:
        try:
            sent = send_syslog(
                settings, checkpoint.as_json(), severity=Severity.NOTICE, msgid=CHECKPOINT_MSGID
            )
        except SyslogDeliveryError as e:
            if path is None:
                raise CheckpointError(f"checkpoint of {checkpoint.chain} not witnessed: {e}") from e
            log.error("checkpoint of %s not sent to the SIEM: %s", checkpoint.chain, e)
    if path is not None:
        append_witness_line(path, checkpoint)
    elif not sent:
        raise CheckpointError(
            "no external witness for audit checkpoints: set PANACEA_AUDIT_CHECKPOINT_FILE "
            "(an append-only file) and/or PANACEA_SYSLOG_HOST"
        )


# --- making checkpoints -----------------------------------------------------------------------


def _trusted_start(
    session: Session, chain: str, below: int, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[int, str]:
    """The newest checkpoint of ``chain`` before ``below`` that verifies; else the genesis."""
    rows = session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.chain == chain, AuditCheckpoint.seq < below)
        .order_by(AuditCheckpoint.seq.desc())
    ).scalars()
    for row in rows:
        if signature_problem(SignedCheckpoint.of_row(row), keys) is None:
            return row.seq, row.hash
    return 0, GENESIS_HASH


def segment_problem(
    session: Session, chain: str, start: tuple[int, str], end: tuple[int, str]
) -> str | None:
    """Why entries ``start`` (exclusive) to ``end`` of ``chain`` do not form an intact chain
    from hash ``start[1]`` to hash ``end[1]``; None if they do.

    Used before signing, so that a checkpoint never vouches for a chain altered since the
    previous one. (:mod:`panacea.identity.audit_verify` classifies what went wrong.)
    """
    (seq, prev), (end_seq, end_hash) = start, end
    rows = session.execute(
        select(AuditEntry)
        .where(AuditEntry.chain == chain, AuditEntry.seq > seq, AuditEntry.seq <= end_seq)
        .order_by(AuditEntry.seq, AuditEntry.id)
        .execution_options(yield_per=500)
    ).scalars()
    try:
        for entry in rows:
            if entry.seq != seq + 1:
                return f"seq {seq + 1} expected, found {entry.seq} (entry id {entry.id})"
            if entry.prev_hash != prev or entry_digest(prev, hashed_fields(entry)) != entry.hash:
                return f"entry seq {entry.seq} (id {entry.id}) does not verify"
            seq, prev = entry.seq, entry.hash
    finally:
        rows.close()  # a server-side cursor on PostgreSQL, left early on a bad entry
    if (seq, prev) != (end_seq, end_hash):
        return f"the chain ends at seq {seq}, not at seq {end_seq} with the hash committed"
    return None


def record_checkpoint(
    sessions: sessionmaker[Session], settings: Settings, chain: str, seq: int, hash_: str
) -> SignedCheckpoint | None:
    """Sign that committed entry ``seq`` of ``chain`` has ``hash_``; witness it, then store it.

    First checks the entries since the previous valid checkpoint (a checkpoint must not
    launder a change made to the database in between). The witness is written before the
    row, so every stored checkpoint is witnessed. Returns None if that checkpoint, or a later
    one, exists already. Raises CheckpointError: no key, no witness, a chain that does not
    verify, or a database that refuses the row.
    """
    key = signing_key(settings)
    keys = {key_id_of(key.public_key()): key.public_key()}
    try:
        with sessions() as session:
            # A later checkpoint (another process got there first) covers this one.
            exists = session.execute(
                select(AuditCheckpoint.id).where(
                    AuditCheckpoint.chain == chain, AuditCheckpoint.seq >= seq
                )
            ).first()
            if exists is not None:
                return None
            start = _trusted_start(session, chain, seq, keys)
            problem = segment_problem(session, chain, start, (seq, hash_))
        if problem is not None:
            raise CheckpointError(
                f"not signing {chain} at seq {seq}: after the checkpoint at seq {start[0]}, "
                f"{problem}; run `panacea audit verify`"
            )
        checkpoint = sign(key, chain, seq, hash_, utcnow())
        _publish(settings, checkpoint)
        with sessions.begin() as session:
            session.add(
                AuditCheckpoint(
                    chain=checkpoint.chain,
                    seq=checkpoint.seq,
                    hash=checkpoint.hash,
                    signed_at=checkpoint.signed_at,
                    key_id=checkpoint.key_id,
                    signature=checkpoint.signature,
                )
            )
    except IntegrityError:
        return None  # a concurrent writer stored the same checkpoint; ours is witnessed too
    except SQLAlchemyError as e:
        raise CheckpointError(f"cannot store the checkpoint of {chain} at seq {seq}: {e}") from e
    log.info("audit checkpoint %s at seq %d", chain, seq)
    return checkpoint


def checkpoint_heads(
    sessions: sessionmaker[Session], settings: Settings, chains: Sequence[str] | None = None
) -> list[SignedCheckpoint]:
    """Checkpoint the current end of every chain (or of ``chains``) not checkpointed there yet.

    Signs the head, the last entry appended through the log (never an entry slipped in past
    it); the entries since the previous checkpoint must lead to it (:func:`record_checkpoint`).
    Raises CheckpointError as :func:`record_checkpoint`.
    """
    with sessions() as session:
        stmt = select(AuditHead.chain, AuditHead.seq, AuditHead.hash).where(AuditHead.seq > 0)
        if chains is not None:
            stmt = stmt.where(AuditHead.chain.in_(chains))
        heads = [(r.chain, r.seq, r.hash) for r in session.execute(stmt.order_by(AuditHead.chain))]
    made = []
    for chain, seq, hash_ in heads:
        checkpoint = record_checkpoint(sessions, settings, chain, seq, hash_)
        if checkpoint is not None:
            made.append(checkpoint)
    return made


def stored_checkpoints(session: Session, chain: str) -> list[SignedCheckpoint]:
    """The checkpoints of ``chain`` in the database, by seq."""
    rows = session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.chain == chain)
        .order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
    ).scalars()
    return [SignedCheckpoint.of_row(r) for r in rows]
