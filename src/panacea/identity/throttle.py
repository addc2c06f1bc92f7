"""Throttling of failed authentication attempts (NIST SP 800-63B section 5.2.2).

Two limits, both checked *before* a credential is verified (a throttled attempt is refused
without looking at the password or code, so it teaches the attacker nothing):

Per account (key ``account:<normalised e-mail>``, the same for e-mails that have no account,
so the answer never reveals whether one exists): the first :data:`FREE_FAILURES` consecutive
failures cost nothing. From then on, the attempt that would be failure number ``n`` may only be
made ``2**(n - 5)`` seconds after the previous failure, at most :data:`MAX_DELAY_SECONDS`::

    failures so far   0-4   5     6     7     8    ...   14     15 and more
    next attempt      free  2 s   4 s   8 s   16 s ...   512 s  900 s (15 min)

A success (the whole login, second factor included) resets the account's counter.

Per client address: at most :data:`ADDRESS_MAX_FAILURES` failures in any rolling hour; the
next attempt is allowed when the oldest failure of the window is an hour old.

Failures are recorded in the caller's *guard* session, a transaction of its own that commits
even though the request fails, so a rollback of the request cannot erase them. Every
function takes ``now`` so that tests can prove the numbers exactly.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.identity.errors import ThrottledError
from panacea.identity.models import AddressFailure, LoginThrottle

FREE_FAILURES = 5
MAX_DELAY_SECONDS = 15 * 60
ADDRESS_MAX_FAILURES = 100
ADDRESS_WINDOW = timedelta(hours=1)
ACCOUNT_KEY_PREFIX = "account:"


def normalise_email(email: str) -> str:
    """The form under which an e-mail is looked up and throttled: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def account_key(email: str) -> str:
    """The throttle key of the account ``email`` names (whether or not it exists)."""
    return f"{ACCOUNT_KEY_PREFIX}{normalise_email(email)}"[:400]


def required_delay(failures_so_far: int) -> int:
    """Seconds the next attempt must wait after the last failure, given the failures so far.

    The next attempt would be failure number ``n = failures_so_far + 1``; up to the fifth it is
    free, after that it waits ``2**(n - 5)`` seconds, capped at 15 minutes.
    """
    n = failures_so_far + 1
    if n <= FREE_FAILURES:
        return 0
    # Past the cap the exponent only grows; stop computing 2**n once it cannot matter.
    if n - FREE_FAILURES >= MAX_DELAY_SECONDS.bit_length():
        return MAX_DELAY_SECONDS
    return int(min(2 ** (n - FREE_FAILURES), MAX_DELAY_SECONDS))


def _seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds (at least 1) from ``now`` until ``moment`` (for Retry-After)."""
    return max(1, math.ceil((moment - now).total_seconds()))


def _throttle_row(session: Session, key: str, *, lock: bool) -> LoginThrottle | None:
    stmt = select(LoginThrottle).where(LoginThrottle.key == key)
    if lock:
        # PostgreSQL: attempts on one account queue here until the previous one is recorded,
        # so parallel guesses cannot all slip through the same free slot.
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def check(session: Session, *, key: str, address: str, now: datetime) -> None:
    """Raise ThrottledError if an attempt on ``key`` from ``address`` must wait at ``now``.

    Locks the account's throttle row (where the database can) until ``session`` ends.
    """
    row = _throttle_row(session, key, lock=True)
    if row is not None and row.last_failure_at is not None:
        delay = required_delay(row.consecutive_failures)
        allowed_at = row.last_failure_at + timedelta(seconds=delay)
        if delay and now < allowed_at:
            raise ThrottledError(_seconds_until(allowed_at, now))
    if not address:
        return
    since = now - ADDRESS_WINDOW
    recent = session.execute(
        select(func.count())
        .select_from(AddressFailure)
        .where(AddressFailure.address == address, AddressFailure.at > since)
    ).scalar_one()
    if recent < ADDRESS_MAX_FAILURES:
        return
    # A slot frees when enough of the oldest failures leave the window to bring it below the cap.
    freeing = session.execute(
        select(AddressFailure.at)
        .where(AddressFailure.address == address, AddressFailure.at > since)
        .order_by(AddressFailure.at)
        .offset(recent - ADDRESS_MAX_FAILURES)
        .limit(1)
    ).scalar_one()
    raise ThrottledError(_seconds_until(freeing + ADDRESS_WINDOW, now))


def record_failure(session: Session, *, key: str, address: str, now: datetime) -> int:
    """Count a failure of ``key`` from ``address`` at ``now``; return the consecutive failures.

    Also forgets address failures older than the window (they no longer count).
    """
    row = _throttle_row(session, key, lock=True)
    if row is None:
        try:
            # A concurrent first failure may create the row first; then count on that one.
            with session.begin_nested():
                session.add(LoginThrottle(key=key, consecutive_failures=0))
        except IntegrityError:
            pass
        row = _throttle_row(session, key, lock=True)
        assert row is not None
    row.consecutive_failures += 1
    row.last_failure_at = now
    if address:
        session.add(AddressFailure(address=address[:64], at=now))
    session.execute(delete(AddressFailure).where(AddressFailure.at <= now - ADDRESS_WINDOW))
    session.flush()
    return row.consecutive_failures


def reset(session: Session, *, key: str) -> None:
    """Forget the consecutive failures of ``key`` (after a successful login)."""
    row = _throttle_row(session, key, lock=True)
    if row is not None and row.consecutive_failures:
        row.consecutive_failures = 0
        row.last_failure_at = None
        session.flush()


def failures_of(session: Session, key: str) -> int:
    """The consecutive failures recorded for ``key`` (0 if none)."""
    row = _throttle_row(session, key, lock=False)
    return 0 if row is None else row.consecutive_failures
