"""The throttle's numbers, exactly: free failures, exponential waits, the cap, the address cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity import throttle
from panacea.identity.errors import ThrottledError
from panacea.identity.models import AddressFailure

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
KEY = throttle.account_key("nurse@stmary.example")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def retry_after(session: Session, now: datetime, *, key: str = KEY, address: str = "") -> int:
    """The Retry-After of an attempt at ``now``, or 0 if it is allowed."""
    try:
        throttle.check(session, key=key, address=address, now=now)
    except ThrottledError as e:
        return e.retry_after
    return 0


def test_required_delay_table() -> None:
    assert [throttle.required_delay(f) for f in range(5)] == [0, 0, 0, 0, 0]
    # Failures so far -> wait before the next attempt: 5 -> 2 s, 6 -> 4 s, ... 13 -> 512 s.
    assert [throttle.required_delay(f) for f in range(5, 15)] == [
        2, 4, 8, 16, 32, 64, 128, 256, 512, 900,
    ]  # fmt: skip
    assert throttle.required_delay(100) == 900
    assert throttle.required_delay(10**9) == 900


def test_account_key_normalises_the_email() -> None:
    assert throttle.account_key("  Nurse@StMary.Example ") == KEY
    assert KEY == "account:nurse@stmary.example"
    # Fullwidth letters fold under NFKC: a look-alike does not get a fresh counter.
    assert throttle.account_key("ｎｕｒｓｅ@stmary.example") == KEY


def test_five_failures_free_then_2_4_8_seconds(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for i in range(5):
            assert retry_after(s, at(0)) == 0, f"attempt {i + 1} must be free"
            assert throttle.record_failure(s, key=KEY, address="", now=at(0)) == i + 1
        # The 6th attempt waits 2 s after the 5th failure.
        assert retry_after(s, at(0)) == 2
        assert retry_after(s, at(1.5)) == 1
        assert retry_after(s, at(1.999)) == 1
        assert retry_after(s, at(2)) == 0
        throttle.record_failure(s, key=KEY, address="", now=at(2))
        # The 7th: 4 s after the 6th failure.
        assert retry_after(s, at(2)) == 4
        assert retry_after(s, at(5.9)) == 1
        assert retry_after(s, at(6)) == 0
        throttle.record_failure(s, key=KEY, address="", now=at(6))
        # The 8th: 8 s.
        assert retry_after(s, at(6)) == 8
        assert retry_after(s, at(14)) == 0


def test_wait_is_capped_at_fifteen_minutes(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for _ in range(14):
            throttle.record_failure(s, key=KEY, address="", now=at(0))
        assert throttle.failures_of(s, KEY) == 14
        assert retry_after(s, at(0)) == 900
        for n in range(15, 40):
            last = at(900 * n)
            throttle.record_failure(s, key=KEY, address="", now=last)
            assert retry_after(s, last) == 900, f"after {n} failures"
            assert retry_after(s, last + timedelta(seconds=899)) == 1
            assert retry_after(s, last + timedelta(seconds=900)) == 0


def test_reset_forgets_the_failures(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for _ in range(8):
            throttle.record_failure(s, key=KEY, address="", now=at(0))
        assert retry_after(s, at(0)) == 16
        throttle.reset(s, key=KEY)
        assert throttle.failures_of(s, KEY) == 0
        assert retry_after(s, at(0)) == 0
        # Counting starts again from one.
        assert throttle.record_failure(s, key=KEY, address="", now=at(1)) == 1


def test_accounts_are_throttled_separately(factory: sessionmaker[Session]) -> None:
    other = throttle.account_key("someone.else@stmary.example")
    with factory.begin() as s:
        for _ in range(10):
            throttle.record_failure(s, key=KEY, address="", now=at(0))
        assert retry_after(s, at(0)) > 0
        assert retry_after(s, at(0), key=other) == 0


def test_address_cap_100_per_rolling_hour(factory: sessionmaker[Session]) -> None:
    address = "192.0.2.7"
    with factory.begin() as s:
        # 100 failures one second apart, each on another account (no account throttle).
        for i in range(100):
            key = throttle.account_key(f"guess{i}@stmary.example")
            assert retry_after(s, at(i), key=key, address=address) == 0
            throttle.record_failure(s, key=key, address=address, now=at(i))
        fresh = throttle.account_key("fresh@stmary.example")
        # The 101st attempt, on any account, waits until the first failure is an hour old.
        assert retry_after(s, at(100), key=fresh, address=address) == 3600 - 100
        assert retry_after(s, at(3599.5), key=fresh, address=address) == 1
        assert retry_after(s, at(3600), key=fresh, address=address) == 0
        # Another address is not affected.
        assert retry_after(s, at(100), key=fresh, address="192.0.2.8") == 0
        # After one more failure at 3600 s, the next slot frees when the 2nd failure ages out.
        throttle.record_failure(s, key=fresh, address=address, now=at(3600))
        other = throttle.account_key("other@stmary.example")
        assert retry_after(s, at(3600), key=other, address=address) == 1
        assert retry_after(s, at(3601), key=other, address=address) == 0


def test_99_failures_an_hour_are_allowed(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for i in range(99):
            key = throttle.account_key(f"guess{i}@stmary.example")
            throttle.record_failure(s, key=key, address="192.0.2.9", now=at(0))
        assert retry_after(s, at(0), key="account:x", address="192.0.2.9") == 0


def test_old_address_failures_are_forgotten(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for i in range(5):
            throttle.record_failure(s, key=KEY, address="192.0.2.10", now=at(i))
        throttle.record_failure(s, key=KEY, address="192.0.2.11", now=at(3604))
        left = s.execute(select(func.count()).select_from(AddressFailure)).scalar_one()
        # Failures at 0..4 s are an hour or more old at 3604 s; only the newest remains.
        assert left == 1


@pytest.mark.parametrize("failures", [0, 4])
def test_throttle_error_message_says_when(failures: int, factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for _ in range(failures + 6):
            throttle.record_failure(s, key=KEY, address="", now=at(0))
        with pytest.raises(ThrottledError, match=r"retry in \d+ s") as caught:
            throttle.check(s, key=KEY, address="", now=at(0))
        assert caught.value.retry_after == throttle.required_delay(failures + 6)
