"""TOTP: the window, single use of a step, sealed secrets, enrolment rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity import totp
from panacea.identity.encryption import unseal
from panacea.identity.errors import ConflictError, IdentityError
from panacea.identity.models import TotpCredential, User

NOW = datetime(2026, 3, 1, 8, 0, 15, tzinfo=UTC)  # mid-step
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
STEP = int(NOW.timestamp()) // 30


def code_at(moment: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(moment)


def wrong_code(secret: str, moment: datetime) -> str:
    """Six digits valid at no step of the window around ``moment``."""
    valid = {code_at(moment + timedelta(seconds=d), secret) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_window_is_one_step_either_way() -> None:
    for offset, accepted in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        step = totp.matching_step(
            SECRET, code_at(NOW + timedelta(seconds=offset)), now=NOW, after_step=0
        )
        assert (step is not None) is accepted, offset
        if accepted:
            assert step == STEP + offset // 30


def test_a_used_step_is_not_accepted_again() -> None:
    code = code_at(NOW)
    assert totp.matching_step(SECRET, code, now=NOW, after_step=STEP - 1) == STEP
    assert totp.matching_step(SECRET, code, now=NOW, after_step=STEP) is None
    # An older step's code after a newer one was used: refused too.
    older = code_at(NOW - timedelta(seconds=30))
    assert totp.matching_step(SECRET, older, now=NOW, after_step=STEP) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x", "١٢٣٤٥٦"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(SECRET, code, now=NOW, after_step=0) is None


def test_spaces_in_a_code_are_ignored() -> None:
    code = code_at(NOW)
    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]} ", now=NOW, after_step=0) == STEP


def _user(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        user = User(email="lead@stmary.example", display_name="Lead")
        s.add(user)
        s.flush()
        return user.id


def test_secret_is_sealed_and_shown_once(auth_sessions: sessionmaker[Session]) -> None:
    user_id = _user(auth_sessions)
    with auth_sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        enrolment = totp.begin_enrolment(s, user, now=NOW)
    assert len(enrolment.secret) == 32  # base32: 160 bits
    assert enrolment.otpauth_uri.startswith("otpauth://totp/PANACEA:lead%40stmary.example?")
    assert f"secret={enrolment.secret}" in enrolment.otpauth_uri
    assert enrolment.qr_svg.startswith("<svg")
    with auth_sessions() as s:
        row = s.execute(select(TotpCredential)).scalar_one()
        assert enrolment.secret.encode() not in row.secret_encrypted
        assert row.confirmed_at is None
        plain = unseal(
            s, row.secret_encrypted, table="totp_credential", row_id=row.id,
            column="secret_encrypted",
        )  # fmt: skip
        assert plain == enrolment.secret.encode()


def test_confirm_then_verify_then_no_replay(auth_sessions: sessionmaker[Session]) -> None:
    user_id = _user(auth_sessions)
    with auth_sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        secret = totp.begin_enrolment(s, user, now=NOW).secret
        # Not confirmed yet: not a second factor.
        assert not totp.verify(s, user_id, code_at(NOW, secret), now=NOW)
        with pytest.raises(totp.InvalidTotpCodeError, match="does not match"):
            totp.confirm(s, user_id, wrong_code(secret, NOW), now=NOW)
        totp.confirm(s, user_id, code_at(NOW, secret), now=NOW)
        assert totp.has_confirmed_totp(s, user_id)
        # The confirming code's step is spent.
        assert not totp.verify(s, user_id, code_at(NOW, secret), now=NOW)
        later = NOW + timedelta(seconds=30)
        assert totp.verify(s, user_id, code_at(later, secret), now=later)
        assert not totp.verify(s, user_id, code_at(later, secret), now=later)
        row = s.execute(select(TotpCredential)).scalar_one()
        assert row.last_used_step == STEP + 1
        # A confirmed TOTP cannot be replaced by enrolling again.
        with pytest.raises(ConflictError, match="already has a confirmed TOTP"):
            totp.begin_enrolment(s, user, now=NOW)


def test_pending_enrolment_expires_and_is_replaced(auth_sessions: sessionmaker[Session]) -> None:
    user_id = _user(auth_sessions)
    with auth_sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        first = totp.begin_enrolment(s, user, now=NOW)
        late = NOW + totp.ENROLMENT_TTL + timedelta(seconds=1)
        with pytest.raises(IdentityError, match="expired"):
            totp.confirm(s, user_id, code_at(late, first.secret), now=late)
        second = totp.begin_enrolment(s, user, now=late)
        assert second.secret != first.secret
        assert len(s.execute(select(TotpCredential)).scalars().all()) == 1
        totp.confirm(s, user_id, code_at(late, second.secret), now=late)
    with auth_sessions() as s, pytest.raises(IdentityError, match="no pending TOTP enrolment"):
        totp.confirm(s, user_id, "123456", now=NOW)
