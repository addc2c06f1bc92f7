"""Verification of the audit chains: what was changed, deleted, inserted, re-ordered, truncated.

Each chain is walked in ``seq`` order. An honest chain has seqs 1, 2, 3... with no gap; every
entry's hash is SHA-256 over its predecessor's hash and its own fields
(:func:`panacea.identity.audit.entry_digest`), the ``seq`` included; its ``prev_hash`` is its
predecessor's hash; and row ids grow with seq (an entry is inserted while its writer holds
the chain's head). The head row holds the last seq and hash, and every checkpoint, in the
database or in the external witness file, is an Ed25519 signature over (chain, seq, hash).

The first entry that breaks one of these is reported, with what most plausibly happened:

- ``modified``: its fields no longer give its hash under any position (or it was re-hashed
  and its successor no longer links to it, or it differs from a checkpoint);
- ``deleted``: a seq is missing, or the entry verifies only as a later seq and its written
  predecessor is gone (deleted, then the rest renumbered);
- ``inserted``: an entry verifies only as an earlier seq (something was put before it), two
  entries share a seq, an entry was stored after its successor, or entries lie past the head;
- ``reordered``: an entry verifies only as another seq while its predecessor is still there,
  or row ids no longer grow with seq;
- ``truncated``: the chain ends before its head or before a signed checkpoint says it
  reached.
- ``checkpoint``: a checkpoint whose signature does not verify with the trusted keys.

Verification never raises for a bad chain: it returns a :class:`VerifyReport`. Reading is
ordered (witness, checkpoints, head, entries) so that appends committed meanwhile are never
mistaken for tampering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from panacea.config import Settings
from panacea.identity.audit import GENESIS_HASH, entry_digest, hashed_fields, utc_timestamp
from panacea.identity.audit_checkpoints import (
    SignedCheckpoint,
    WitnessFile,
    read_witness,
    signature_problem,
    stored_checkpoints,
    trusted_keys,
    witness_path,
)
from panacea.identity.audit_records import AuditCheckpoint, AuditEntry, AuditHead

ROWS_PER_FETCH = 1000


class TamperKind(StrEnum):
    """What happened to a chain, as far as the evidence tells."""

    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    CHECKPOINT = "checkpoint"


@dataclass(frozen=True, kw_only=True)
class ChainProblem:
    """The first bad entry of a chain.

    ``seq`` is the position of the first entry that is bad or missing; ``entry_id`` the row to
    blame, None when the entry is missing (deleted, truncated) or the head row is.
    """

    kind: TamperKind
    seq: int | None
    entry_id: int | None
    message: str


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """The verification of one chain."""

    chain: str
    entries: int
    last_seq: int
    checkpoints: int
    witnessed: int
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """The verification of every chain asked for.

    ``signatures_checked`` is False when no trusted key was available: checkpoints were then
    compared with the chain but their signatures not checked. ``witness_problems`` lists lines
    of the witness file that could not be read.
    """

    chains: tuple[ChainReport, ...]
    signatures_checked: bool
    witness: Path | None
    witness_problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.witness_problems and all(c.ok for c in self.chains)

    @property
    def failed(self) -> tuple[ChainReport, ...]:
        return tuple(c for c in self.chains if not c.ok)


@dataclass(frozen=True)
class _Seen:
    """What the walk keeps of an entry."""

    id: int
    seq: int
    hash: str


def _describe(seen: _Seen | AuditEntry) -> str:
    return f"seq {seen.seq} (id {seen.id})"


def _digest_as(entry: AuditEntry, seq: int) -> str:
    return entry_digest(entry.prev_hash, {**hashed_fields(entry), "seq": seq})


class _Chain:
    """Queries about one chain, made only once something is wrong."""

    def __init__(self, session: Session, chain: str) -> None:
        self.session = session
        self.chain = chain

    def at_seq(self, seq: int) -> AuditEntry | None:
        return self.session.execute(
            select(AuditEntry)
            .where(AuditEntry.chain == self.chain, AuditEntry.seq == seq)
            .order_by(AuditEntry.id)
            .limit(1)
        ).scalar_one_or_none()

    def with_hash(self, hash_: str) -> AuditEntry | None:
        return self.session.execute(
            select(AuditEntry)
            .where(AuditEntry.chain == self.chain, AuditEntry.hash == hash_)
            .order_by(AuditEntry.id)
            .limit(1)
        ).scalar_one_or_none()

    def written_after(self, hash_: str, other_than: int) -> AuditEntry | None:
        return self.session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.chain == self.chain,
                AuditEntry.prev_hash == hash_,
                AuditEntry.id != other_than,
            )
            .order_by(AuditEntry.id)
            .limit(1)
        ).scalar_one_or_none()

    def id_rank(self, entry_id: int) -> int:
        """How many entries of the chain were stored up to this one (its seq if none moved)."""
        count = self.session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.chain == self.chain, AuditEntry.id <= entry_id)
        ).scalar_one()
        return int(count)

    def first_stored_after(self, seq: int) -> int | None:
        """The smallest row id among the entries after ``seq``."""
        value = self.session.execute(
            select(func.min(AuditEntry.id)).where(
                AuditEntry.chain == self.chain, AuditEntry.seq > seq
            )
        ).scalar_one()
        return int(value) if value is not None else None

    def written_seq(self, entry: AuditEntry) -> int | None:
        """The seq under which ``entry``'s hash verifies, if not its own (it was moved).

        Tries the neighbouring positions, the position its row id implies, and the one after
        the entry its ``prev_hash`` names: a bounded handful, never a search.
        """
        candidates = {entry.seq - 1, entry.seq + 1, self.id_rank(entry.id)}
        if entry.prev_hash == GENESIS_HASH:
            candidates.add(1)
        else:
            predecessor = self.with_hash(entry.prev_hash)
            if predecessor is not None:
                candidates.add(predecessor.seq + 1)
        for seq in sorted(c for c in candidates if c >= 1 and c != entry.seq):
            if _digest_as(entry, seq) == entry.hash:
                return seq
        return None


def _problem(kind: TamperKind, seq: int | None, entry_id: int | None, message: str) -> ChainProblem:
    return ChainProblem(kind=kind, seq=seq, entry_id=entry_id, message=message)


def _duplicate(prev: _Seen, entry: AuditEntry) -> ChainProblem:
    # ``prev`` verified at this position already; the later row is the intruder.
    return _problem(
        TamperKind.INSERTED,
        entry.seq,
        entry.id,
        f"entry id {entry.id} claims seq {entry.seq}, which entry id {prev.id} holds",
    )


def _gap(chain: _Chain, prev: _Seen | None, entry: AuditEntry, expected: int) -> ChainProblem:
    missing = f"seq {expected}" if entry.seq == expected + 1 else f"seqs {expected}-{entry.seq - 1}"
    before = f"entry {_describe(prev)}" if prev is not None else "the start of the chain"
    # The entry written after ``prev`` may still be there, moved to another position.
    moved = chain.written_after(prev.hash if prev else GENESIS_HASH, other_than=entry.id)
    if moved is not None and moved.seq != expected and _digest_as(moved, expected) == moved.hash:
        return _problem(
            TamperKind.REORDERED,
            expected,
            moved.id,
            f"entry id {moved.id} was written as seq {expected} but sits at seq {moved.seq}",
        )
    return _problem(
        TamperKind.DELETED,
        expected,
        None,
        f"{missing} missing: {before} is followed by entry {_describe(entry)}",
    )


def _bad_hash(chain: _Chain, entry: AuditEntry) -> ChainProblem:
    written = chain.written_seq(entry)
    here = _describe(entry)
    if written is None:
        successor_id = chain.first_stored_after(entry.seq)
        if successor_id is not None and successor_id < entry.id:
            return _problem(
                TamperKind.INSERTED,
                entry.seq,
                entry.id,
                f"entry {here} was stored after entry id {successor_id}, which follows it, "
                "and its hash does not verify: it was added later",
            )
        return _problem(
            TamperKind.MODIFIED,
            entry.seq,
            entry.id,
            f"entry {here} does not match its hash: its content was changed",
        )
    if written < entry.seq:
        first = chain.at_seq(written)
        count = entry.seq - written
        return _problem(
            TamperKind.INSERTED,
            written,
            first.id if first is not None else None,
            f"{count} entr{'y' if count == 1 else 'ies'} inserted at seq {written}: entry id "
            f"{entry.id} was written as seq {written} and now sits at seq {entry.seq}",
        )
    if entry.prev_hash == GENESIS_HASH or chain.with_hash(entry.prev_hash) is not None:
        return _problem(
            TamperKind.REORDERED,
            entry.seq,
            entry.id,
            f"entry id {entry.id} was written as seq {written} but sits at seq {entry.seq}",
        )
    count = written - entry.seq
    return _problem(
        TamperKind.DELETED,
        entry.seq,
        None,
        f"{count} entr{'y' if count == 1 else 'ies'} deleted at seq {entry.seq} and the rest "
        f"renumbered: entry id {entry.id} was written as seq {written}",
    )


def _broken_link(prev: _Seen | None, entry: AuditEntry) -> ChainProblem:
    if prev is None:
        return _problem(
            TamperKind.MODIFIED,
            entry.seq,
            entry.id,
            f"entry {_describe(entry)} is first but does not start from the genesis hash",
        )
    return _problem(
        TamperKind.MODIFIED,
        prev.seq,
        prev.id,
        f"entry {_describe(prev)} was changed and re-hashed: entry {_describe(entry)} "
        "no longer links to it",
    )


@dataclass
class _Walk:
    entries: int = 0
    last: _Seen | None = None
    problem: ChainProblem | None = None
    hashes: dict[int, _Seen] = dataclasses.field(default_factory=dict)


def _rows(session: Session, chain: str, up_to: int | None) -> Iterator[AuditEntry]:
    """The entries of ``chain`` by (seq, id), fetched in keyset batches: each batch is its own
    statement, so on SQLite no read lock is held across the walk to block the writers."""
    after: tuple[int, int] | None = None
    while True:
        stmt = select(AuditEntry).where(AuditEntry.chain == chain)
        if up_to is not None:
            stmt = stmt.where(AuditEntry.seq <= up_to)
        if after is not None:
            stmt = stmt.where(
                or_(
                    AuditEntry.seq > after[0],
                    and_(AuditEntry.seq == after[0], AuditEntry.id > after[1]),
                )
            )
        batch = list(
            session.execute(
                stmt.order_by(AuditEntry.seq, AuditEntry.id).limit(ROWS_PER_FETCH)
            ).scalars()
        )
        yield from batch
        if len(batch) < ROWS_PER_FETCH:
            return
        after = (batch[-1].seq, batch[-1].id)
        for entry in batch:  # the walk keeps what it needs in _Seen; memory stays flat
            session.expunge(entry)


def _walk(session: Session, chain: str, up_to: int | None, watch: set[int]) -> _Walk:
    """Walk ``chain`` in seq order (up to seq ``up_to``), stopping at the first bad entry."""
    helper = _Chain(session, chain)
    walk = _Walk()
    expected = 1
    for entry in _rows(session, chain, up_to):
        walk.entries += 1
        prev = walk.last
        if prev is not None and entry.seq == prev.seq:
            walk.problem = _duplicate(prev, entry)
        elif entry.seq != expected:
            walk.problem = _gap(helper, prev, entry, expected)
        elif entry_digest(entry.prev_hash, hashed_fields(entry)) != entry.hash:
            walk.problem = _bad_hash(helper, entry)
        elif entry.prev_hash != (prev.hash if prev is not None else GENESIS_HASH):
            walk.problem = _broken_link(prev, entry)
        elif prev is not None and entry.id < prev.id:
            walk.problem = _problem(
                TamperKind.REORDERED,
                entry.seq,
                entry.id,
                f"entry {_describe(entry)} was stored before entry {_describe(prev)}",
            )
        if walk.problem is not None:
            break
        seen = _Seen(entry.id, entry.seq, entry.hash)
        if entry.seq in watch:
            walk.hashes[entry.seq] = seen
        walk.last = seen
        expected = entry.seq + 1
    return walk


def _check_head(
    session: Session, chain: str, head: AuditHead | None, walk: _Walk
) -> ChainProblem | None:
    last_seq = walk.last.seq if walk.last is not None else 0
    if head is None:
        if walk.entries == 0:
            return None
        # The chain's first append may have committed (entry and head together) after the head
        # was read: read it again before calling it deleted.
        now = session.execute(
            select(AuditHead.seq).where(AuditHead.chain == chain)
        ).scalar_one_or_none()
        if now is not None and now >= last_seq:
            return None
        return _problem(
            TamperKind.DELETED, None, None, "the head row of the chain is missing (deleted)"
        )
    if last_seq < head.seq:
        count = head.seq - last_seq
        return _problem(
            TamperKind.TRUNCATED,
            last_seq + 1,
            None,
            f"the head records seq {head.seq} but the chain ends at seq {last_seq}: "
            f"the last {count} entr{'y was' if count == 1 else 'ies were'} deleted",
        )
    if walk.last is not None and walk.last.hash != head.hash:
        return _problem(
            TamperKind.MODIFIED,
            walk.last.seq,
            walk.last.id,
            f"entry {_describe(walk.last)} does not have the hash the head records",
        )
    # Entries past the head: read the last seq first, then the head again, so that an append
    # committed meanwhile (entry and head in one transaction) is counted with its head.
    last_stored = session.execute(
        select(func.max(AuditEntry.seq)).where(AuditEntry.chain == chain)
    ).scalar_one()
    now = session.execute(
        select(AuditHead.seq).where(AuditHead.chain == chain)
    ).scalar_one_or_none()
    if last_stored is not None and now is not None and last_stored > now:
        extra = _Chain(session, chain).at_seq(now + 1)
        return _problem(
            TamperKind.INSERTED,
            now + 1,
            extra.id if extra is not None else None,
            f"entries up to seq {last_stored} lie past the head (seq {now}): "
            "they were not appended through the log",
        )
    return None


def _check_checkpoints(
    checkpoints: Iterable[tuple[str, SignedCheckpoint]],
    walk: _Walk,
    keys: Mapping[str, Ed25519PublicKey],
) -> ChainProblem | None:
    last_seq = walk.last.seq if walk.last is not None else 0
    reach = walk.problem.seq if walk.problem is not None and walk.problem.seq else None
    matched = 0
    for where, checkpoint in sorted(checkpoints, key=lambda c: c[1].seq):
        label = f"the checkpoint at seq {checkpoint.seq} in the {where}"
        if keys:
            why = signature_problem(checkpoint, keys)
            if why is not None:
                return _problem(TamperKind.CHECKPOINT, checkpoint.seq, None, f"{label}: {why}")
        if reach is not None and checkpoint.seq >= reach:
            continue  # beyond the first bad entry: the walk did not get there
        if checkpoint.seq > last_seq:
            return _problem(
                TamperKind.TRUNCATED,
                last_seq + 1,
                None,
                f"{label} (signed {utc_timestamp(checkpoint.signed_at)}) says the chain "
                f"reached seq {checkpoint.seq}; it ends at seq {last_seq}",
            )
        seen = walk.hashes.get(checkpoint.seq)
        if seen is not None and seen.hash != checkpoint.hash:
            return _problem(
                TamperKind.MODIFIED,
                seen.seq,
                seen.id,
                f"entry {_describe(seen)} is not the entry signed in {label}: the chain was "
                f"rewritten at or before it (after seq {matched})",
            )
        matched = checkpoint.seq
    return None


def verify_chain(
    session: Session,
    chain: str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    witnessed: Sequence[SignedCheckpoint] = (),
) -> ChainReport:
    """Verify one chain against its head, its stored checkpoints and ``witnessed`` ones."""
    # Order matters (see the module docstring): checkpoints, then head, then entries.
    stored = stored_checkpoints(session, chain)
    mine = [c for c in witnessed if c.chain == chain]
    head = session.execute(select(AuditHead).where(AuditHead.chain == chain)).scalar_one_or_none()
    watch = {c.seq for c in stored} | {c.seq for c in mine}
    walk = _walk(session, chain, head.seq if head is not None else None, watch)
    found = [walk.problem]
    if walk.problem is None:
        found.append(_check_head(session, chain, head, walk))
    found.append(
        _check_checkpoints(
            [("database", c) for c in stored] + [("witness file", c) for c in mine], walk, keys
        )
    )
    problems = [p for p in found if p is not None]
    # The first bad entry: the lowest position; the walk's finding first among equals.
    problems.sort(key=lambda p: p.seq if p.seq is not None else float("inf"))
    return ChainReport(
        chain=chain,
        entries=walk.entries,
        last_seq=walk.last.seq if walk.last is not None else 0,
        checkpoints=len(stored),
        witnessed=len(mine),
        problem=problems[0] if problems else None,
    )


def chain_names(session: Session, witnessed: Sequence[SignedCheckpoint] = ()) -> list[str]:
    """Every chain the database or the witness knows of."""
    stmt = union(select(AuditEntry.chain), select(AuditHead.chain), select(AuditCheckpoint.chain))
    names = set(session.execute(stmt).scalars()) | {c.chain for c in witnessed}
    return sorted(names)


def verify_chains(
    session: Session,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    witness: WitnessFile | None = None,
    chains: Sequence[str] | None = None,
) -> VerifyReport:
    """Verify ``chains`` (default: all) with the trusted ``keys`` and the ``witness`` file."""
    witnessed = witness.checkpoints if witness is not None else ()
    names = list(chains) if chains is not None else chain_names(session, witnessed)
    return VerifyReport(
        chains=tuple(verify_chain(session, name, keys=keys, witnessed=witnessed) for name in names),
        signatures_checked=bool(keys),
        witness=witness.path if witness is not None else None,
        witness_problems=witness.unreadable if witness is not None else (),
    )


def verify_audit(
    session: Session,
    settings: Settings,
    *,
    chains: Sequence[str] | None = None,
    extra_keys: Iterable[Path] = (),
) -> VerifyReport:
    """Verify with what ``settings`` configure: the signing key's public half (plus
    ``extra_keys``) and the witness file. Raises CheckpointError for an unreadable key or
    witness file; a tampered chain is reported, never raised."""
    keys = trusted_keys(settings, extra_keys)
    path = witness_path(settings)
    witness = read_witness(path) if path is not None else None
    return verify_chains(session, keys=keys, witness=witness, chains=chains)
