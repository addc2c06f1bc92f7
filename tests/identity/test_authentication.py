"""The login service: password step, throttling, audit in its own transaction, second factor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity import authentication, throttle, totp
from panacea.identity.audit_records import PLATFORM_CHAIN, AuditEntry, chain_of
from panacea.identity.audit_verify import verify_chains
from panacea.identity.authentication import Attempt, SignedIn
from panacea.identity.errors import AuthenticationError, MfaRequiredError, ThrottledError
from panacea.identity.models import LoginThrottle, Membership, User, UserSession
from panacea.identity.passwords import (
    Argon2Parameters,
    hash_password,
    set_password,
)
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from panacea.inventory.organisation import Organisation

PASSWORD = "grey heron over the river"
WRONG = "grey heron over the lake"
HERE = Attempt(client_address="192.0.2.20", user_agent="pytest")
T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def make_user(
    sessions: sessionmaker[Session],
    email: str,
    *,
    role: Role | None = None,
    password: str | None = PASSWORD,
    disabled: bool = False,
) -> int:
    with sessions.begin() as s:
        user = User(email=email, display_name=email.split("@")[0], disabled=disabled)
        s.add(user)
        s.flush()
        if password is not None:
            set_password(s, user, password)
        if role is not None:
            org = Organisation(name=f"Hospital of {email}")
            s.add(org)
            s.flush()
            s.add(Membership(user_id=user.id, organisation_id=org.id, role=role.value))
        return user.id


def login(
    sessions: sessionmaker[Session],
    email: str,
    password: str,
    *,
    now: datetime | None = None,
    attempt: Attempt = HERE,
    previous_token: str | None = None,
) -> SignedIn:
    with sessions.begin() as s:
        return authentication.login(
            s,
            sessions,
            email=email,
            password=password,
            attempt=attempt,
            now=now,
            previous_token=previous_token,
        )


def refused(sessions: sessionmaker[Session], email: str, password: str, **kw: object) -> str:
    """The error class and message of a refused login."""
    with pytest.raises((AuthenticationError, ThrottledError)) as caught:
        login(sessions, email, password, **kw)  # type: ignore[arg-type]
    return f"{type(caught.value).__name__}: {caught.value}"


def entries(
    sessions: sessionmaker[Session], action: str, chain: str = PLATFORM_CHAIN
) -> list[AuditEntry]:
    """The entries of ``action`` in ``chain`` (the platform's: the record of authentication)."""
    with sessions() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.chain == chain)
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )


def test_login_opens_a_password_session_and_audits_it(
    auth_sessions: sessionmaker[Session],
) -> None:
    user_id = make_user(auth_sessions, "analyst@stmary.example", role=Role.ANALYST)
    signed = login(auth_sessions, " Analyst@StMary.example ", PASSWORD)
    assert signed.user.id == user_id
    assert signed.session_row.assurance == "password"
    assert signed.mfa == authentication.MfaStatus(
        required=False, methods=(), enrolment_required=False
    )
    with auth_sessions() as s:
        row = s.execute(
            select(UserSession).where(UserSession.token_digest == digest(signed.token))
        ).scalar_one()
        assert row.revoked_at is None
        assert row.client_address == "192.0.2.20"
        user = s.get(User, user_id)
        assert user is not None
        assert user.last_login_at is not None
    [entry] = entries(auth_sessions, "auth.login")
    assert (entry.outcome, entry.organisation_id, entry.chain) == ("success", None, "platform")
    assert entry.actor_user_id == user_id
    assert PASSWORD not in json.dumps(entry.details)
    assert signed.token not in json.dumps(entry.details)


def test_sign_in_and_sign_out_are_copied_to_each_organisation_of_the_user(
    auth_sessions: sessionmaker[Session],
) -> None:
    user_id = make_user(auth_sessions, "analyst@stmary.example", role=Role.ANALYST)
    with auth_sessions.begin() as s:
        [home] = s.scalars(select(Membership.organisation_id).where(Membership.user_id == user_id))
        second, stranger = Organisation(name="St Jude"), Organisation(name="St Luke")
        s.add_all([second, stranger])
        s.flush()
        s.add(Membership(user_id=user_id, organisation_id=second.id, role=Role.VIEWER.value))
        member_of, other = sorted([home, second.id]), stranger.id
    refused(auth_sessions, "analyst@stmary.example", WRONG)
    signed = login(auth_sessions, "analyst@stmary.example", PASSWORD)
    with auth_sessions.begin() as s:
        authentication.logout(s, session_id=signed.session_row.id, attempt=HERE)

    for action in ("auth.login", "auth.logout"):
        [platform] = [e for e in entries(auth_sessions, action) if e.outcome == "success"]
        copies = [entries(auth_sessions, action, chain_of(org)) for org in member_of]
        for org, [copy] in zip(member_of, copies, strict=True):
            assert copy.organisation_id == org
            assert (copy.action, copy.outcome, copy.at) == (action, "success", platform.at)
            assert (copy.actor_user_id, copy.actor, copy.via, copy.client_address) == (
                platform.actor_user_id,
                platform.actor,
                platform.via,
                platform.client_address,
            )
            assert copy.details == {**platform.details, "platform_seq": platform.seq}
        assert entries(auth_sessions, action, chain_of(other)) == []
    # A refused attempt names an account nobody proved to own: the platform keeps it alone.
    assert [e.outcome for e in entries(auth_sessions, "auth.login")] == ["failure", "success"]
    with auth_sessions() as s:
        report = verify_chains(s, keys={})
    assert {c.chain for c in report.chains} == {PLATFORM_CHAIN, *map(chain_of, member_of)}
    assert all(c.ok for c in report.chains), [c.problem for c in report.chains]


def test_unknown_account_is_refused_exactly_like_a_wrong_password(
    auth_sessions: sessionmaker[Session],
) -> None:
    make_user(auth_sessions, "known@stmary.example")
    make_user(auth_sessions, "sso@stmary.example", password=None)
    make_user(auth_sessions, "gone@stmary.example", disabled=True)
    wrong = refused(auth_sessions, "known@stmary.example", WRONG)
    assert wrong == "AuthenticationError: invalid credentials"
    assert refused(auth_sessions, "nobody@stmary.example", WRONG) == wrong
    assert refused(auth_sessions, "sso@stmary.example", PASSWORD) == wrong
    # A disabled account with its right password: the same answer.
    assert refused(auth_sessions, "gone@stmary.example", PASSWORD) == wrong
    reasons = [e.details["reason"] for e in entries(auth_sessions, "auth.login")]
    assert reasons == [
        "wrong password",
        "unknown account",
        "no password (single sign-on account)",
        "account disabled",
    ]
    for entry in entries(auth_sessions, "auth.login"):
        assert entry.outcome == "failure"
        assert WRONG not in json.dumps(entry.details)
        assert PASSWORD not in json.dumps(entry.details)


def test_failed_login_audit_survives_the_request_rollback(
    auth_sessions: sessionmaker[Session],
) -> None:
    make_user(auth_sessions, "known@stmary.example")
    with auth_sessions() as s:
        # The request transaction has a change of its own, which must be rolled back. (On
        # SQLite it stays pending: one writer at a time, and the guard writes first.)
        s.add(Organisation(name="Rolled back"))
        if s.get_bind().dialect.name == "postgresql":
            s.flush()
        with pytest.raises(AuthenticationError):
            authentication.login(
                s, auth_sessions, email="known@stmary.example", password=WRONG, attempt=HERE
            )
        s.rollback()
    with auth_sessions() as s:
        assert (
            s.execute(select(Organisation).where(Organisation.name == "Rolled back")).first()
            is None
        )
        assert throttle.failures_of(s, throttle.account_key("known@stmary.example")) == 1
    [entry] = entries(auth_sessions, "auth.login")
    assert (entry.outcome, entry.details["reason"]) == ("failure", "wrong password")
    assert entry.details["consecutive_failures"] == 1


@pytest.mark.parametrize("email", ["known@stmary.example", "nobody@stmary.example"])
def test_throttle_numbers_through_login(email: str, auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "known@stmary.example")
    for _ in range(5):
        assert refused(auth_sessions, email, WRONG, now=T0).startswith("AuthenticationError")
    # Throttled: refused without checking the password (the right one is refused too, and
    # nothing is counted).
    assert refused(auth_sessions, email, PASSWORD, now=T0) == (
        "ThrottledError: too many failed attempts; retry in 2 s"
    )
    assert refused(auth_sessions, email, PASSWORD, now=T0 + timedelta(seconds=1.2)) == (
        "ThrottledError: too many failed attempts; retry in 1 s"
    )
    with auth_sessions() as s:
        assert throttle.failures_of(s, throttle.account_key(email)) == 5
    later = T0 + timedelta(seconds=2)
    assert refused(auth_sessions, email, WRONG, now=later).startswith("AuthenticationError")
    assert refused(auth_sessions, email, PASSWORD, now=later).endswith("retry in 4 s")
    assert len(entries(auth_sessions, "auth.login")) == 6  # throttled refusals are not audited


def test_success_resets_the_counter(auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "known@stmary.example", role=Role.ANALYST)
    for _ in range(6):
        refused(auth_sessions, "known@stmary.example", WRONG, now=T0)
    login(auth_sessions, "known@stmary.example", PASSWORD, now=T0 + timedelta(seconds=4))
    with auth_sessions() as s:
        row = s.execute(select(LoginThrottle)).scalar_one()
        assert (row.consecutive_failures, row.last_failure_at) == (0, None)


def test_password_alone_does_not_reset_the_counter_when_mfa_follows(
    auth_sessions: sessionmaker[Session],
) -> None:
    make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    for _ in range(3):
        refused(auth_sessions, "lead@stmary.example", WRONG, now=T0)
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD, now=T0)
    assert signed.mfa == authentication.MfaStatus(
        required=True, methods=(), enrolment_required=True
    )
    with auth_sessions() as s:
        assert throttle.failures_of(s, throttle.account_key("lead@stmary.example")) == 3


def test_address_cap_applies_to_logins(auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "known@stmary.example")
    for i in range(100):
        refused(auth_sessions, f"guess{i}@stmary.example", WRONG, now=T0 + timedelta(seconds=i))
    message = refused(
        auth_sessions, "known@stmary.example", PASSWORD, now=T0 + timedelta(seconds=100)
    )
    assert message == "ThrottledError: too many failed attempts; retry in 3500 s"
    # From another address the account signs in.
    login(
        auth_sessions,
        "known@stmary.example",
        PASSWORD,
        now=T0 + timedelta(seconds=100),
        attempt=Attempt(client_address="192.0.2.21"),
    )


def test_rehash_on_login_when_parameters_changed(auth_sessions: sessionmaker[Session]) -> None:
    user_id = make_user(auth_sessions, "old@stmary.example", password=None)
    with auth_sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.password_hash = hash_password(PASSWORD, parameters=Argon2Parameters(1, 16, 1))
    login(auth_sessions, "old@stmary.example", PASSWORD)
    with auth_sessions() as s:
        user = s.get(User, user_id)
        assert user is not None
        assert user.password_hash is not None
        assert "$m=8,t=1,p=1$" in user.password_hash  # the active (test) parameters now
    [entry] = entries(auth_sessions, "auth.login")
    assert entry.details["rehashed"] is True
    login(auth_sessions, "old@stmary.example", PASSWORD)
    assert entries(auth_sessions, "auth.login")[-1].details["rehashed"] is False


def test_login_revokes_the_session_the_browser_had(auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "known@stmary.example")
    first = login(auth_sessions, "known@stmary.example", PASSWORD)
    second = login(auth_sessions, "known@stmary.example", PASSWORD, previous_token=first.token)
    assert second.token != first.token
    with auth_sessions() as s:
        old = s.get(UserSession, first.session_row.id)
        new = s.get(UserSession, second.session_row.id)
        assert old is not None
        assert old.revoked_at is not None
        assert new is not None
        assert new.revoked_at is None


def test_disabled_session_user_cannot_step_up(auth_sessions: sessionmaker[Session]) -> None:
    user_id = make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD)
    with auth_sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.disabled = True
    with pytest.raises(AuthenticationError, match="session has ended"), auth_sessions.begin() as s:
        authentication.verify_second_factor(
            s,
            auth_sessions,
            session_id=signed.session_row.id,
            method="totp",
            code="123456",
            attempt=HERE,
        )


def _enrol_and_confirm(
    sessions: sessionmaker[Session], signed: SignedIn, now: datetime
) -> tuple[str, authentication.TotpConfirmed]:
    with sessions.begin() as s:
        enrolment = authentication.begin_totp_enrolment(
            s, session_id=signed.session_row.id, attempt=HERE, now=now
        )
    code = pyotp.TOTP(enrolment.secret).at(now)
    with sessions.begin() as s:
        confirmed = authentication.confirm_totp(
            s, sessions, session_id=signed.session_row.id, code=code, attempt=HERE, now=now
        )
    return enrolment.secret, confirmed


def test_totp_enrolment_confirmation_and_step_up(auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    now = datetime.now(UTC)
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)
    secret, confirmed = _enrol_and_confirm(auth_sessions, signed, now)
    assert len(confirmed.recovery_codes) == 10
    assert confirmed.session_row.assurance == "mfa"
    assert confirmed.token != signed.token
    with auth_sessions() as s:
        old = s.get(UserSession, signed.session_row.id)
        assert old is not None
        assert old.revoked_at is not None
        status = authentication.mfa_status(s, signed.user.id)
    assert status == authentication.MfaStatus(
        required=True, methods=("totp", "recovery_code"), enrolment_required=False
    )
    actions = [e.action for e in entries(auth_sessions, "mfa.totp.enrolled")] + [
        e.action for e in entries(auth_sessions, "mfa.totp.confirmed")
    ]
    assert actions == ["mfa.totp.enrolled", "mfa.totp.confirmed"]
    for entry in entries(auth_sessions, "mfa.totp.enrolled") + entries(
        auth_sessions, "mfa.totp.confirmed"
    ):
        text = json.dumps(entry.details)
        assert secret not in text
        assert all(c not in text for c in confirmed.recovery_codes)

    # Next login: the second factor with the next step's code (the confirmation's is spent).
    later = now + timedelta(seconds=totp.INTERVAL_SECONDS)
    again = login(auth_sessions, "lead@stmary.example", PASSWORD, now=later)
    assert again.mfa.required
    assert again.mfa.methods == ("totp", "recovery_code")
    code = pyotp.TOTP(secret).at(later)
    with auth_sessions.begin() as s:
        done = authentication.verify_second_factor(
            s, auth_sessions, session_id=again.session_row.id, method="totp", code=code,
            attempt=HERE, now=later,
        )  # fmt: skip
    assert done.session_row.assurance == "mfa"
    assert done.recovery_codes_remaining == 10
    # The same code again (same step, another session): refused as a replay.
    third = login(auth_sessions, "lead@stmary.example", PASSWORD, now=later)
    with pytest.raises(AuthenticationError, match="invalid code"), auth_sessions.begin() as s:
        authentication.verify_second_factor(
            s, auth_sessions, session_id=third.session_row.id, method="totp", code=code,
            attempt=HERE, now=later,
        )  # fmt: skip
    [failure] = [e for e in entries(auth_sessions, "auth.mfa") if e.outcome == "failure"]
    assert failure.details["reason"] == "wrong totp"


def test_recovery_code_is_single_use(auth_sessions: sessionmaker[Session]) -> None:
    make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    now = datetime.now(UTC)
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)
    _, confirmed = _enrol_and_confirm(auth_sessions, signed, now)
    code = confirmed.recovery_codes[3]
    first = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)
    with auth_sessions.begin() as s:
        done = authentication.verify_second_factor(
            s, auth_sessions, session_id=first.session_row.id, method="recovery_code",
            code=code.upper().replace("-", " "), attempt=HERE, now=now,
        )  # fmt: skip
    assert done.recovery_codes_remaining == 9
    [used] = entries(auth_sessions, "mfa.recovery_code.used")
    assert used.details == {"remaining": 9}
    assert code not in json.dumps(used.details)
    second = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)
    with pytest.raises(AuthenticationError, match="invalid code"), auth_sessions.begin() as s:
        authentication.verify_second_factor(
            s, auth_sessions, session_id=second.session_row.id, method="recovery_code",
            code=code, attempt=HERE, now=now,
        )  # fmt: skip


def test_second_factor_failures_share_the_password_counter(
    auth_sessions: sessionmaker[Session],
) -> None:
    make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    now = datetime.now(UTC)
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)
    _, confirmed = _enrol_and_confirm(auth_sessions, signed, now)
    for _ in range(3):
        refused(auth_sessions, "lead@stmary.example", WRONG, now=now)
    again = login(auth_sessions, "lead@stmary.example", PASSWORD, now=now)

    def step_up(code: str) -> None:
        with auth_sessions.begin() as s:
            authentication.verify_second_factor(
                s, auth_sessions, session_id=again.session_row.id, method="recovery_code",
                code=code, attempt=HERE, now=now,
            )  # fmt: skip

    for _ in range(2):
        with pytest.raises(AuthenticationError):
            step_up("0000-0000-0000-0000")
    # 3 wrong passwords + 2 wrong codes = 5: the next attempt waits 2 s, even a right code.
    with pytest.raises(ThrottledError) as caught:
        step_up(confirmed.recovery_codes[0])
    assert caught.value.retry_after == 2
    with auth_sessions() as s:
        assert throttle.failures_of(s, throttle.account_key("lead@stmary.example")) == 5


def test_enrolment_needs_the_existing_factor_first(auth_sessions: sessionmaker[Session]) -> None:
    from panacea.identity.models import PasskeyCredential

    user_id = make_user(auth_sessions, "lead@stmary.example", role=Role.SECURITY_LEAD)
    with auth_sessions.begin() as s:
        s.add(PasskeyCredential(user_id=user_id, credential_id=b"cred", public_key=b"key"))
    signed = login(auth_sessions, "lead@stmary.example", PASSWORD)
    assert signed.mfa.methods == ("passkey",)
    with pytest.raises(MfaRequiredError, match="verify it before"), auth_sessions.begin() as s:
        authentication.begin_totp_enrolment(s, session_id=signed.session_row.id, attempt=HERE)
