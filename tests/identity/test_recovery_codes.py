"""Recovery codes: format, stored as argon2id hashes, single use, replaced on reissue."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity import recovery_codes
from panacea.identity.models import RecoveryCode, User

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("cheap_hashing")


def _user(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        user = User(email="lead@stmary.example", display_name="Lead")
        s.add(user)
        s.flush()
        return user.id


def test_canonical_form_forgives_case_dashes_and_lookalikes() -> None:
    assert recovery_codes.canonical("ABCD-EFGH-JKMN-PQRS") == "abcdefghjkmnpqrs"
    assert recovery_codes.canonical(" abcd efgh jkmn pqrs ") == "abcdefghjkmnpqrs"
    assert recovery_codes.canonical("OOOO-IIII-LLLL-0000") == "0000111111110000"
    for bad in ("", "abcd-efgh-jkmn", "abcd-efgh-jkmn-pqrsx", "abcd-efgh-jkmn-pqru", "!" * 16):
        assert recovery_codes.canonical(bad) is None


def test_issue_stores_only_hashes(sqlite_factory: sessionmaker[Session]) -> None:
    user_id = _user(sqlite_factory)
    with sqlite_factory.begin() as s:
        codes = recovery_codes.issue(s, user_id)
    assert len(codes) == recovery_codes.COUNT == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}", code)
    with sqlite_factory() as s:
        stored = s.execute(select(RecoveryCode.code_hash)).scalars().all()
    assert len(stored) == 10
    for code_hash in stored:
        assert code_hash.startswith("$argon2id$")
        assert all(c.replace("-", "") not in code_hash for c in codes)


def test_each_code_works_once(auth_sessions: sessionmaker[Session]) -> None:
    user_id = _user(auth_sessions)
    with auth_sessions.begin() as s:
        codes = recovery_codes.issue(s, user_id)
    with auth_sessions.begin() as s:
        assert not recovery_codes.consume(s, user_id, "0000-0000-0000-0000", now=NOW)
        assert recovery_codes.consume(s, user_id, codes[7], now=NOW)
        assert not recovery_codes.consume(s, user_id, codes[7], now=NOW)
        assert recovery_codes.remaining(s, user_id) == 9
        assert recovery_codes.consume(s, user_id, codes[0].upper(), now=NOW)
        assert recovery_codes.remaining(s, user_id) == 8
    with auth_sessions() as s:
        used = (
            s.execute(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).scalars().all()
        )
        assert len(used) == 2


def test_another_users_code_does_not_work(sqlite_factory: sessionmaker[Session]) -> None:
    first = _user(sqlite_factory)
    with sqlite_factory.begin() as s:
        other = User(email="other@stmary.example", display_name="Other")
        s.add(other)
        s.flush()
        codes = recovery_codes.issue(s, first)
        assert not recovery_codes.consume(s, other.id, codes[0], now=NOW)


def test_reissue_replaces_the_old_codes(sqlite_factory: sessionmaker[Session]) -> None:
    user_id = _user(sqlite_factory)
    with sqlite_factory.begin() as s:
        old = recovery_codes.issue(s, user_id)
        new = recovery_codes.issue(s, user_id)
        assert recovery_codes.remaining(s, user_id) == 10
        assert not recovery_codes.consume(s, user_id, old[0], now=NOW)
        assert recovery_codes.consume(s, user_id, new[0], now=NOW)
