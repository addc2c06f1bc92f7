"""`audit verify`: an attacker with SQL access tampers in each way; verification names it.

Every test builds a real chain through ``append`` on SQLite and PostgreSQL, then changes
the tables directly, as someone with database access (but not the signing key) would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.audit_checkpoints import (
    checkpoint_heads,
    generate_key_file,
    sign,
    witness_path,
)
from panacea.identity.audit_records import (
    PLATFORM_CHAIN,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    chain_of,
)
from panacea.identity.audit_verify import (
    ChainReport,
    TamperKind,
    verify_audit,
    verify_chains,
)
from tests.identity.audit_helpers import (
    CHAIN,
    audit_settings,
    build_chain,
    entry_at,
    forged,
    rehash,
    renumber,
    set_head,
)

N = 12


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return audit_settings(tmp_path, db_url)


@pytest.fixture
def chain(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    build_chain(factory, N)
    return factory


def report_of(factory: sessionmaker[Session], settings: Settings) -> ChainReport:
    with factory() as session:
        report = verify_audit(session, settings, chains=[CHAIN])
    assert len(report.chains) == 1
    return report.chains[0]


def problem_of(factory: sessionmaker[Session], settings: Settings) -> tuple[TamperKind, int | None]:
    report = report_of(factory, settings)
    assert report.problem is not None, "tampering went unnoticed"
    return report.problem.kind, report.problem.seq


def test_an_untouched_log_verifies_with_its_checkpoints(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    build_chain(factory, 5)
    build_chain(factory, 3, organisation_id=8)
    build_chain(factory, 2, organisation_id=None)
    made = checkpoint_heads(factory, settings)
    build_chain(factory, 2)  # entries after the last checkpoint are fine
    with factory() as session:
        report = verify_audit(session, settings)
    assert report.ok, report
    assert report.signatures_checked
    by_chain = {c.chain: c for c in report.chains}
    assert set(by_chain) == {CHAIN, chain_of(8), PLATFORM_CHAIN}
    assert (by_chain[CHAIN].entries, by_chain[CHAIN].last_seq) == (7, 7)
    assert (by_chain[CHAIN].checkpoints, by_chain[CHAIN].witnessed) == (1, 1)
    assert {(c.chain, c.seq) for c in made} == {(CHAIN, 5), (chain_of(8), 3), (PLATFORM_CHAIN, 2)}


def test_a_modified_entry_is_named(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        victim = entry_at(session, 5)
        session.execute(
            update(AuditEntry).where(AuditEntry.id == victim.id).values(target="finding:1000")
        )
        victim_id = victim.id
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.MODIFIED, 5)
    assert report.problem.entry_id == victim_id


def test_changed_details_are_a_modification(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        entry_at(session, 9).details = {"n": 9, "status": "accepted"}
    assert problem_of(chain, settings) == (TamperKind.MODIFIED, 9)


def test_a_modified_and_rehashed_entry_is_named(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        victim = entry_at(session, 5)
        victim.outcome = "failure"
        rehash(victim)
    assert problem_of(chain, settings) == (TamperKind.MODIFIED, 5)


def test_a_deleted_entry_is_named(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        session.delete(entry_at(session, 5))
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq, report.problem.entry_id) == (
        TamperKind.DELETED,
        5,
        None,
    )
    assert "seq 5 missing" in report.problem.message


def test_deleted_first_entries_are_named(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.chain == CHAIN, AuditEntry.seq <= 2))
    assert problem_of(chain, settings) == (TamperKind.DELETED, 1)


def test_a_deletion_hidden_by_renumbering_is_named(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        session.delete(entry_at(session, 5))
        session.flush()
        renumber(session, 6, -1)
        session.flush()
        set_head(session, N - 1, entry_at(session, N - 1).hash)
    kind, seq = problem_of(chain, settings)
    assert (kind, seq) == (TamperKind.DELETED, 5)


def test_an_entry_added_past_the_head_is_inserted(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        fake = forged(N + 1, entry_at(session, N).hash)
        session.add(fake)
        session.flush()
        fake_id = fake.id
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.INSERTED, N + 1)
    assert report.problem.entry_id == fake_id


def test_an_entry_inserted_in_the_middle_is_named(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        renumber(session, 5, +1)
        fake = forged(5, entry_at(session, 4).hash)
        session.add(fake)
        session.flush()
        set_head(session, N + 1, entry_at(session, N + 1).hash)
        fake_id = fake.id
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.INSERTED, 5)
    assert report.problem.entry_id == fake_id


def test_an_inserted_entry_with_a_wrong_hash_is_still_an_insertion(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        renumber(session, 5, +1)
        fake = forged(5, entry_at(session, 4).hash)
        fake.hash = "f" * 64
        session.add(fake)
        set_head(session, N + 1, entry_at(session, N + 1).hash)
    assert problem_of(chain, settings) == (TamperKind.INSERTED, 5)


def _swap_seqs(session: Session, a: int, b: int) -> tuple[int, int]:
    first, second = entry_at(session, a), entry_at(session, b)
    ids = first.id, second.id
    session.execute(update(AuditEntry).where(AuditEntry.id == ids[0]).values(seq=-1))
    session.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(seq=a))
    session.execute(update(AuditEntry).where(AuditEntry.id == ids[0]).values(seq=b))
    return ids


def test_swapped_neighbours_are_reordered(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        _, moved_up = _swap_seqs(session, 4, 5)
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.REORDERED, 4)
    assert report.problem.entry_id == moved_up
    assert "written as seq 5" in report.problem.message


def test_entries_swapped_far_apart_are_reordered(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        _swap_seqs(session, 3, 9)
    assert problem_of(chain, settings) == (TamperKind.REORDERED, 3)


def test_row_order_contradicting_seq_order_is_reordered(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    # Hashes do not cover row ids: swapping them leaves every hash valid, yet an honest
    # writer always stores seq n+1 after seq n.
    with chain.begin() as session:
        first, second = entry_at(session, 4).id, entry_at(session, 5).id
        session.expunge_all()
        session.execute(update(AuditEntry).where(AuditEntry.id == first).values(id=10_000))
        session.execute(update(AuditEntry).where(AuditEntry.id == second).values(id=first))
        session.execute(update(AuditEntry).where(AuditEntry.id == 10_000).values(id=second))
    assert problem_of(chain, settings) == (TamperKind.REORDERED, 5)


def test_a_cut_tail_is_truncation(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.chain == CHAIN, AuditEntry.seq > 9))
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.TRUNCATED, 10)
    assert "head records seq 12" in report.problem.message


def _truncate_cleanly(session: Session, keep: int) -> None:
    """Delete the tail and move the head back: the chain is intact but shorter."""
    session.execute(delete(AuditEntry).where(AuditEntry.chain == CHAIN, AuditEntry.seq > keep))
    set_head(session, keep, entry_at(session, keep).hash)


def test_a_tail_cut_with_the_head_moved_back_is_caught_by_a_checkpoint(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)
    with chain.begin() as session:
        _truncate_cleanly(session, 9)
    with chain() as session:  # without the witness file: the database checkpoint tells
        report = verify_chains(session, keys={}, chains=[CHAIN]).chains[0]
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.TRUNCATED, 10)
    assert "in the database" in report.problem.message


def test_truncation_with_checkpoint_rows_deleted_is_caught_by_the_witness(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)
    with chain.begin() as session:
        _truncate_cleanly(session, 9)
        session.execute(delete(AuditCheckpoint))
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.TRUNCATED, 10)
    assert "witness file" in report.problem.message


def test_a_chain_deleted_whole_is_caught_by_the_witness(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)
    with chain.begin() as session:
        session.execute(delete(AuditEntry))
        session.execute(delete(AuditHead))
        session.execute(delete(AuditCheckpoint))
    with chain() as session:
        report = verify_audit(session, settings)  # the chain is known from the witness only
    assert [c.chain for c in report.chains] == [CHAIN]
    problem = report.chains[0].problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (TamperKind.TRUNCATED, 1)


def test_a_rewritten_chain_is_caught_by_a_checkpoint(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)  # signs seq 12
    with chain.begin() as session:
        # Change seq 5, then recompute every hash after it and the head: internally perfect.
        previous = entry_at(session, 4).hash
        for seq in range(5, N + 1):
            entry = entry_at(session, seq)
            if seq == 5:
                entry.target = "finding:1000"
            entry.prev_hash = previous
            rehash(entry)
            previous = entry.hash
        set_head(session, N, previous)
    report = report_of(chain, settings)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (TamperKind.MODIFIED, N)
    assert "rewritten" in report.problem.message


def test_a_checkpoint_not_signed_by_the_trusted_key_is_reported(
    chain: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    rogue = generate_key_file(tmp_path / "rogue.pem")
    with chain.begin() as session:
        last = entry_at(session, N)
        fake = sign(rogue, CHAIN, N, last.hash, last.at)
        session.add(
            AuditCheckpoint(
                chain=CHAIN,
                seq=N,
                hash=fake.hash,
                signed_at=fake.signed_at,
                key_id=fake.key_id,
                signature=fake.signature,
            )
        )
    kind, seq = problem_of(chain, settings)
    assert (kind, seq) == (TamperKind.CHECKPOINT, N)


def test_an_altered_checkpoint_signature_is_reported(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)
    with chain.begin() as session:
        session.execute(
            update(AuditCheckpoint).values(seq=N - 1, hash=entry_at(session, N - 1).hash)
        )
    report = report_of(chain, settings)
    assert report.problem is not None
    assert report.problem.kind is TamperKind.CHECKPOINT
    assert "does not verify" in report.problem.message


def test_a_deleted_head_row_is_reported(chain: sessionmaker[Session], settings: Settings) -> None:
    with chain.begin() as session:
        session.execute(delete(AuditHead))
    report = report_of(chain, settings)
    assert report.problem is not None
    assert report.problem.kind is TamperKind.DELETED
    assert "head" in report.problem.message


def test_the_first_bad_entry_is_named_when_there_are_several(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    with chain.begin() as session:
        session.delete(entry_at(session, 8))
        entry_at(session, 3).actor = "someone.else@hospital.example"
    assert problem_of(chain, settings) == (TamperKind.MODIFIED, 3)


def test_a_damaged_witness_line_fails_verification(
    chain: sessionmaker[Session], settings: Settings
) -> None:
    checkpoint_heads(chain, settings)
    path = witness_path(settings)
    assert path is not None
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "panacea.audit.checkpoint/1", "chain": "org-7"}\n')
    with chain() as session:
        report = verify_audit(session, settings)
    assert report.chains[0].ok
    assert not report.ok
    assert len(report.witness_problems) == 1
    assert ":2: checkpoint record lacks" in report.witness_problems[0]


def test_without_a_key_checkpoints_are_compared_but_not_checked(
    chain: sessionmaker[Session], settings: Settings, db_url: str, tmp_path: Path
) -> None:
    checkpoint_heads(chain, settings)
    keyless = Settings(database_url=db_url, audit_checkpoint_file=settings.audit_checkpoint_file)
    with chain() as session:
        report = verify_audit(session, keyless)
    assert report.ok
    assert not report.signatures_checked
    assert report.chains[0].witnessed == 1


def test_witness_lines_are_json(chain: sessionmaker[Session], settings: Settings) -> None:
    (made,) = checkpoint_heads(chain, settings)
    path = witness_path(settings)
    assert path is not None
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["type"] == "panacea.audit.checkpoint/1"
    assert (record["chain"], record["seq"], record["hash"]) == (CHAIN, N, made.hash)
    with chain() as session:
        assert session.execute(select(AuditHead.hash)).scalar_one() == made.hash
