"""Appending: same transaction as the change, one chain per organisation, no fork under load."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.audit import APPENDED_KEY, GENESIS_HASH, append
from panacea.identity.audit_records import AuditEntry, AuditHead
from panacea.identity.audit_verify import verify_chains
from panacea.inventory.organisation import Organisation
from tests.identity.audit_helpers import CHAIN, ORG, build_chain, event


class BoomError(Exception):
    pass


def _change_then_fail(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        session.add(Organisation(name="Rolled Back Hospital"))
        append(session, event(3))
        raise BoomError


def _entries(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())


def test_a_rolled_back_change_leaves_no_audit_entry(factory: sessionmaker[Session]) -> None:
    build_chain(factory, 2)
    with pytest.raises(BoomError):
        _change_then_fail(factory)
    with factory() as session:
        assert (
            session.execute(select(Organisation).where(Organisation.name.like("Rolled%"))).first()
            is None
        )
        head = session.get(AuditHead, CHAIN)
        assert head is not None
        assert head.seq == 2
    assert [e.seq for e in _entries(factory)] == [1, 2]
    build_chain(factory, 1)  # the next entry continues the chain where it was
    with factory() as session:
        assert verify_chains(session, keys={}).ok


def test_the_change_and_its_entry_commit_together(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        org = Organisation(name="Committed Hospital")
        session.add(org)
        session.flush()
        entry = append(session, event(1, organisation_id=org.id))
        assert session.info[APPENDED_KEY] == [entry]
    (stored,) = _entries(factory)
    assert (stored.chain, stored.seq, stored.prev_hash) == (f"org-{org.id}", 1, GENESIS_HASH)


def test_each_organisation_has_its_own_chain(factory: sessionmaker[Session]) -> None:
    build_chain(factory, 3, organisation_id=1)
    build_chain(factory, 2, organisation_id=2)
    build_chain(factory, 1, organisation_id=None)
    chains = {(e.chain, e.seq) for e in _entries(factory)}
    assert chains == {
        ("org-1", 1),
        ("org-1", 2),
        ("org-1", 3),
        ("org-2", 1),
        ("org-2", 2),
        ("platform", 1),
    }


def _append_in_failing_savepoint(session: Session) -> None:
    with session.begin_nested():
        append(session, event(2))
        raise BoomError


def test_a_savepoint_rolled_back_takes_its_entry_with_it(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        append(session, event(1))
        with pytest.raises(BoomError):
            _append_in_failing_savepoint(session)
        append(session, event(3))
    assert [(e.seq, e.details["n"]) for e in _entries(factory)] == [(1, 1), (2, 3)]
    with factory() as session:
        assert verify_chains(session, keys={}).ok


def test_a_session_kept_across_transactions_sees_the_head_move(
    factory: sessionmaker[Session],
) -> None:
    with factory() as long_lived:
        append(long_lived, event(1))
        long_lived.commit()
        # Held, so the identity map keeps it (it holds objects weakly) with seq 1.
        held = long_lived.get(AuditHead, CHAIN)
        build_chain(factory, 2)  # another writer moves the head meanwhile
        entry = append(long_lived, event(4))
        long_lived.commit()
    assert entry.seq == 4
    assert held is not None
    assert held.seq == 4
    with factory() as session:
        assert verify_chains(session, keys={}).ok


def test_an_entry_time_in_another_zone_is_hashed_as_stored(factory: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=2))
    with factory.begin() as session:
        append(session, event(1), at=datetime(2025, 6, 1, 10, 0, 0, 123456, tzinfo=paris))
    (stored,) = _entries(factory)
    assert stored.at == datetime(2025, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
    with factory() as session:
        assert verify_chains(session, keys={}).ok


def _parallel_writers(
    factory: sessionmaker[Session], *, writers: int, each: int, verifying: bool = False
) -> tuple[list[BaseException], int]:
    """Start ``writers`` threads appending ``each`` entries to one chain (a transaction per
    entry, a session per thread); optionally verify continuously meanwhile."""
    failures: list[BaseException] = []
    start = threading.Barrier(writers + (1 if verifying else 0))
    done = threading.Event()
    verified = 0

    def write(worker: int) -> None:
        start.wait(timeout=30)
        try:
            for n in range(each):
                with factory.begin() as session:
                    append(session, event(n, worker=worker))
        except BaseException as e:  # collected, asserted on below
            failures.append(e)

    def verify() -> None:
        nonlocal verified
        start.wait(timeout=30)
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            with factory() as session:
                report = verify_chains(session, keys={}, chains=[CHAIN])
            if not report.ok:
                failures.append(AssertionError(f"verify during writes: {report}"))
                return
            verified += 1

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    checker = threading.Thread(target=verify) if verifying else None
    for t in [*threads, *([checker] if checker else [])]:
        t.start()
    for t in threads:
        t.join(timeout=300)
    done.set()
    if checker is not None:
        checker.join(timeout=300)
    return failures, verified


def _assert_one_unforked_chain(factory: sessionmaker[Session], count: int) -> None:
    with factory() as session:
        seqs = list(
            session.execute(
                select(AuditEntry.seq).where(AuditEntry.chain == CHAIN).order_by(AuditEntry.seq)
            ).scalars()
        )
        # No fork: no two entries share a predecessor.
        distinct_prev = session.execute(
            select(func.count(func.distinct(AuditEntry.prev_hash))).where(AuditEntry.chain == CHAIN)
        ).scalar_one()
        report = verify_chains(session, keys={}, chains=[CHAIN])
    assert seqs == list(range(1, count + 1))
    assert distinct_prev == count
    assert report.ok, report
    assert report.chains[0].entries == count


@pytest.mark.postgres
def test_parallel_writers_on_postgresql_never_fork_the_chain(postgres_url: str) -> None:
    from panacea.db.engine import create_db_engine

    engine = create_db_engine(postgres_url)
    # Each of the eight writers holds its own connection.
    factory = sessionmaker(engine, expire_on_commit=False)
    try:
        failures, _ = _parallel_writers(factory, writers=8, each=50)
        assert failures == []
        _assert_one_unforked_chain(factory, 400)
    finally:
        engine.dispose()


def test_parallel_writers_on_sqlite_never_fork_the_chain(
    sqlite_factory: sessionmaker[Session],
) -> None:
    # Without the write lock taken before the head is read, this fails with
    # "UNIQUE constraint failed: audit_entry.chain, audit_entry.seq".
    failures, _ = _parallel_writers(sqlite_factory, writers=4, each=25)
    assert failures == []
    _assert_one_unforked_chain(sqlite_factory, 100)


def test_verifying_while_writers_append_reports_no_tampering(
    factory: sessionmaker[Session],
) -> None:
    failures, verified = _parallel_writers(factory, writers=3, each=20, verifying=True)
    assert failures == []
    assert verified >= 1
    _assert_one_unforked_chain(factory, 60)


def test_entries_are_json_normalised_before_hashing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with factory.begin() as session:
        append(session, event(1, path=tmp_path, when=datetime(2025, 1, 1, tzinfo=UTC)))
    (stored,) = _entries(factory)
    assert stored.details["path"] == str(tmp_path)
    assert stored.organisation_id == ORG
    with factory() as session:
        assert verify_chains(session, keys={}).ok
