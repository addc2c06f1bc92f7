"""Passkey ceremonies at the service level, against the software authenticator.

Each refusal test changes exactly one thing from a ceremony that otherwise passes, and checks
the reason recorded in the audit log, so a test cannot pass because of another failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.identity import throttle
from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import (
    ConflictError,
    MfaRequiredError,
    NotFoundError,
    PermissionDeniedError,
    ThrottledError,
)
from panacea.identity.models import PasskeyCredential, User, UserSession
from panacea.identity.passkeys import (
    CEREMONY_TIMEOUT,
    PasskeyAuthenticationError,
    PasskeyError,
    PasskeyRegistrationError,
    RelyingParty,
    authenticate,
    authentication_options,
    delete_passkey,
    list_passkeys,
    register,
    registration_options,
    user_handle,
)
from panacea.identity.principal import Principal
from panacea.identity.secrets_digest import digest
from panacea.identity.sessions import create_session
from tests.identity.software_authenticator import (
    COSE_ALG,
    COSE_CRV,
    COSE_KTY,
    COSE_X,
    COSE_Y,
    FLAG_AT,
    FLAG_UP,
    FLAG_UV,
    AuthenticatorRefusedError,
    SoftwareAuthenticator,
    b64url,
    cose_public_key,
)

RP = RelyingParty.from_public_url("http://localhost:8000")
ORIGIN = "http://localhost:8000"
T = TypeVar("T")


@dataclass
class Account:
    """A user with one browser session, and the factory to act on it in transactions."""

    factory: sessionmaker[Session]
    user_id: int
    email: str
    session_id: int

    def principal(self) -> Principal:
        with self.factory() as s:
            row = s.get(UserSession, self.session_id)
            assert row is not None
            return Principal(
                user_id=self.user_id,
                email=self.email,
                via="session",
                session_id=row.id,
                assurance=row.assurance,
                client_address="127.0.0.1",
            )

    def run(self, action: Callable[[Session, Principal], T]) -> T:
        """Do ``action`` in one transaction, committed even when it raises (as the routes do)."""
        principal = self.principal()
        with self.factory() as s:
            try:
                return action(s, principal)
            finally:
                s.commit()

    def register(self, authenticator: SoftwareAuthenticator, **overrides: Any) -> int:
        options = self.run(lambda s, p: registration_options(s, p, RP))
        response = authenticator.create(options, **overrides)
        return self.run(lambda s, p: register(s, p, RP, response, name="laptop").id)

    def assertion(self, authenticator: SoftwareAuthenticator, **overrides: Any) -> dict[str, Any]:
        options = self.run(lambda s, p: authentication_options(s, p, RP))
        return authenticator.get(options, **overrides)

    def authenticate(self, response: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        def act(s: Session, p: Principal) -> tuple[int, str]:
            row, token = authenticate(s, p, RP, response, **kwargs)
            return row.id, token

        return self.run(act)

    def use_session(self, session_id: int) -> None:
        self.session_id = session_id


def new_account(factory: sessionmaker[Session], email: str, assurance: str = "password") -> Account:
    with factory.begin() as s:
        user = User(email=email, display_name=email.split("@")[0])
        s.add(user)
        s.flush()
        row, _ = create_session(s, user=user, assurance=assurance, client_address="127.0.0.1")
        return Account(factory, user.id, email, row.id)


def audit(factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with factory() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def last_failure_reason(factory: sessionmaker[Session], action: str) -> str:
    entries = [e for e in audit(factory, action) if e.outcome == "failure"]
    assert entries, f"no failed {action} audited"
    return str(entries[-1].details["reason"])


# --- relying party -----------------------------------------------------------------------------


def test_relying_party_of_the_default_public_url() -> None:
    assert RelyingParty(id="localhost", name="PANACEA", origin="http://localhost:8000") == RP


@pytest.mark.parametrize(
    ("url", "rp_id", "origin"),
    [
        ("https://Panacea.Hospital.example/", "panacea.hospital.example", None),
        ("https://panacea.example:443/app", "panacea.example", "https://panacea.example"),
        ("https://panacea.example:8443", "panacea.example", "https://panacea.example:8443"),
        ("http://localhost:80", "localhost", "http://localhost"),
    ],
)
def test_relying_party_id_is_the_host_and_origin_drops_default_port(
    url: str, rp_id: str, origin: str | None
) -> None:
    rp = RelyingParty.from_public_url(url)
    assert rp.id == rp_id
    assert rp.origin == (origin or f"https://{rp_id}")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://[::1]:8000", "ftp://panacea.example", "localhost"]
)
def test_relying_party_refuses_ip_addresses_and_non_http(url: str) -> None:
    with pytest.raises(PasskeyError, match="public_url"):
        RelyingParty.from_public_url(url)


# --- the full ceremony -------------------------------------------------------------------------


def test_registration_stores_the_authenticators_key(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    options = alice.run(lambda s, p: registration_options(s, p, RP))
    assert options["rp"] == {"id": "localhost", "name": "PANACEA"}
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    key = SoftwareAuthenticator(origin=ORIGIN)
    response = key.create(options)
    passkey_id = alice.run(lambda s, p: register(s, p, RP, response, name="  badge  ").id)
    with factory() as s:
        stored = s.get(PasskeyCredential, passkey_id)
        user = s.get(User, alice.user_id)
        assert stored is not None
        assert user is not None
        assert stored.user_id == alice.user_id
        assert stored.credential_id == key.credential_id
        assert stored.public_key == cose_public_key(key.private_key.public_key())
        assert stored.sign_count == 0
        assert stored.name == "badge"
        assert stored.transports == ["hybrid", "internal"]
        assert key.user_handle == user_handle(user)
    [entry] = audit(factory, "passkey.registered")
    assert (entry.outcome, entry.target, entry.organisation_id) == (
        "success",
        f"passkey:{passkey_id}",
        None,
    )
    assert entry.details["aaguid"] == "50414e41-4345-412d-7465-73742d6b6579"


def test_authentication_passes_the_second_factor_and_rotates_the_session(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    passkey_id = alice.register(key)
    options = alice.run(lambda s, p: authentication_options(s, p, RP))
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
    old_session = alice.session_id
    new_session, token = alice.authenticate(key.get(options))
    with factory() as s:
        old = s.get(UserSession, old_session)
        new = s.get(UserSession, new_session)
        stored = s.get(PasskeyCredential, passkey_id)
        assert old is not None
        assert new is not None
        assert stored is not None
        assert old.revoked_at is not None
        assert old.webauthn_challenge is None
        assert new.revoked_at is None
        assert new.assurance == "mfa"
        assert new.mfa_at is not None
        assert new.token_digest == digest(token)
        assert new.csrf_token != old.csrf_token
        assert new.created_at == old.created_at  # the absolute timeout keeps counting
        assert stored.sign_count == 1
        assert stored.last_used_at is not None
        user = s.get(User, alice.user_id)
        assert user is not None
        assert user.last_login_at == stored.last_used_at
    [entry] = audit(factory, "passkey.authenticated")
    assert entry.outcome == "success"
    assert entry.details == {"sign_count": 1, "new_session_id": new_session}
    # The new session has passed its second factor: there is nothing left to step up.
    alice.use_session(new_session)
    with pytest.raises(ConflictError, match="already passed a second factor"):
        alice.run(lambda s, p: authentication_options(s, p, RP))


def test_counter_of_zero_is_accepted_while_both_stay_zero(
    factory: sessionmaker[Session],
) -> None:
    # Section 6.1.1: authenticators without a counter always send 0; only a non-zero counter
    # that fails to increase signals a clone.
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    for _ in range(2):
        session_id, _ = alice.authenticate(alice.assertion(key, sign_count=0))
        with factory.begin() as s:
            row = s.get(UserSession, session_id)
            assert row is not None
            row.assurance = "password"  # sign in again, as after a new password login
        alice.use_session(session_id)


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason_in_error"),
    [
        ({"flags": FLAG_UP | FLAG_AT}, "User verification is required"),
        ({"origin": "https://panacea.evil.example"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b"\x01" * 32}, "challenge was not expected challenge"),
    ],
    ids=["no-user-verification", "wrong-origin", "wrong-rp-id", "wrong-challenge"],
)
def test_registration_refuses(
    factory: sessionmaker[Session], overrides: dict[str, Any], reason_in_error: str
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    with pytest.raises(PasskeyRegistrationError, match="response did not verify"):
        alice.register(SoftwareAuthenticator(origin=ORIGIN), **overrides)
    [entry] = audit(factory, "passkey.registered")
    assert entry.outcome == "failure"
    assert reason_in_error in entry.details["error"]
    assert alice.run(lambda s, p: list_passkeys(s, p)) == []


def test_registration_refuses_a_public_key_off_the_curve(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    bad_key = cbor2.dumps(
        {COSE_KTY: 2, COSE_ALG: -7, COSE_CRV: 1, COSE_X: b"\x01" * 32, COSE_Y: b"\x02" * 32}
    )
    with pytest.raises(PasskeyRegistrationError, match="unusable public key"):
        alice.register(SoftwareAuthenticator(origin=ORIGIN), public_key=bad_key)


def _weak_rsa_key() -> bytes:
    # Deliberately weak: the registration must refuse it.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    n, e = key.public_key().public_numbers().n, key.public_key().public_numbers().e
    return cbor2.dumps(
        {COSE_KTY: 3, COSE_ALG: -257, -1: n.to_bytes(128, "big"), -2: e.to_bytes(3, "big")}
    )


@pytest.mark.parametrize(
    ("public_key", "outcome"),
    [
        (cbor2.dumps([1, 2]), "response did not verify"),
        (cbor2.dumps(5), "response did not verify"),
        (cbor2.dumps({}), "response did not verify"),
        (cbor2.dumps({COSE_KTY: 2, COSE_ALG: -7, COSE_CRV: 1}), "response did not verify"),
        (
            cbor2.dumps({COSE_KTY: 2, COSE_ALG: -7, COSE_CRV: 99, COSE_X: b"1", COSE_Y: b"2"}),
            "unusable public key",
        ),
        (_weak_rsa_key(), "unusable public key"),
    ],
    ids=["list", "integer", "empty-map", "no-coordinates", "unknown-curve", "rsa-1024"],
)
def test_registration_refuses_malformed_or_weak_keys(
    sqlite_factory: sessionmaker[Session], public_key: bytes, outcome: str
) -> None:
    alice = new_account(sqlite_factory, "alice@hospital.example")
    with pytest.raises(PasskeyRegistrationError, match=outcome):
        alice.register(SoftwareAuthenticator(origin=ORIGIN), public_key=public_key)


def test_registration_challenge_is_single_use(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    options = alice.run(lambda s, p: registration_options(s, p, RP))
    response = key.create(options)
    alice.run(lambda s, p: register(s, p, RP, response, name="laptop"))
    with factory.begin() as s:  # enrolled: further passkeys need the second factor
        row = s.get(UserSession, alice.session_id)
        assert row is not None
        row.assurance = "mfa"
    with pytest.raises(PasskeyRegistrationError, match="no pending registration challenge"):
        alice.run(lambda s, p: register(s, p, RP, response, name="again"))


def test_a_challenge_expires_after_the_ceremony_timeout(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    issued = utcnow()
    options = alice.run(lambda s, p: registration_options(s, p, RP, now=issued))
    response = key.create(options)
    late = issued + CEREMONY_TIMEOUT + timedelta(seconds=1)
    with pytest.raises(PasskeyRegistrationError, match="no pending registration challenge"):
        alice.run(lambda s, p: register(s, p, RP, response, name="laptop", now=late))


def test_a_registration_challenge_cannot_answer_an_authentication(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    with factory.begin() as s:
        row = s.get(UserSession, alice.session_id)
        assert row is not None
        row.assurance = "mfa"
    options = alice.run(lambda s, p: registration_options(s, p, RP))
    with factory.begin() as s:
        row = s.get(UserSession, alice.session_id)
        assert row is not None
        row.assurance = "password"
    assertion = key.get({**options, "rpId": RP.id, "allowCredentials": []})
    with pytest.raises(PasskeyAuthenticationError, match="no pending authentication challenge"):
        alice.authenticate(assertion)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"flags": FLAG_UP}, "User verification is required"),
        ({"origin": "https://panacea.evil.example"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b"\x01" * 32}, "challenge was not expected challenge"),
        ({"flags": FLAG_UV}, "User was not present"),
    ],
    ids=["no-user-verification", "wrong-origin", "wrong-rp-id", "wrong-challenge", "no-presence"],
)
def test_authentication_refuses(
    factory: sessionmaker[Session], overrides: dict[str, Any], error: str
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    with pytest.raises(PasskeyAuthenticationError, match="assertion did not verify"):
        alice.authenticate(alice.assertion(key, **overrides))
    failures = [e for e in audit(factory, "passkey.authenticated") if e.outcome == "failure"]
    assert len(failures) == 1
    assert error in failures[0].details["error"]
    with factory() as s:
        row = s.get(UserSession, alice.session_id)
        assert row is not None
        assert (row.assurance, row.revoked_at, row.webauthn_challenge) == ("password", None, None)


def test_a_signature_over_other_data_is_refused(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    impostor = SoftwareAuthenticator(origin=ORIGIN, credential_id=key.credential_id)
    impostor.user_handle = key.user_handle
    with pytest.raises(PasskeyAuthenticationError, match="assertion did not verify"):
        alice.authenticate(alice.assertion(impostor))
    assert "signature" in audit(factory, "passkey.authenticated")[-1].details["error"]


def test_authentication_challenge_is_spent_by_a_failed_answer(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    options = alice.run(lambda s, p: authentication_options(s, p, RP))
    with pytest.raises(PasskeyAuthenticationError):
        alice.authenticate(key.get(options, flags=FLAG_UP))
    # The right answer to the same challenge comes too late: it was spent.
    with pytest.raises(PasskeyAuthenticationError, match="no pending authentication challenge"):
        alice.authenticate(key.get(options))


def test_a_counter_that_does_not_increase_is_refused_as_a_clone(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN, sign_count=41)
    passkey_id = alice.register(key)  # the counter is 41 at registration
    for stale in (41, 7):
        with pytest.raises(PasskeyAuthenticationError, match="possible cloned authenticator"):
            alice.authenticate(alice.assertion(key, sign_count=stale))
        entry = audit(factory, "passkey.authenticated")[-1]
        assert entry.outcome == "failure"
        assert entry.target == f"passkey:{passkey_id}"
        assert entry.details["stored_sign_count"] == 41
        assert entry.details["received_sign_count"] == stale
    with factory() as s:
        stored = s.get(PasskeyCredential, passkey_id)
        assert stored is not None
        assert stored.sign_count == 41
    alice.authenticate(alice.assertion(key, sign_count=42))


def test_a_forged_assertion_with_a_stale_counter_is_no_clone_alarm(
    factory: sessionmaker[Session],
) -> None:
    # The counter is judged only once the signature verified: anyone could send a low one.
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN, sign_count=10)
    alice.register(key)
    impostor = SoftwareAuthenticator(origin=ORIGIN, credential_id=key.credential_id)
    with pytest.raises(PasskeyAuthenticationError, match="assertion did not verify"):
        alice.authenticate(alice.assertion(impostor, sign_count=3))


def test_another_users_credential_is_unknown(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    mallory = new_account(factory, "mallory@hospital.example")
    alice.register(SoftwareAuthenticator(origin=ORIGIN))
    mallorys_key = SoftwareAuthenticator(origin=ORIGIN)
    mallory.register(mallorys_key)
    # Mallory's authenticator answers Alice's challenge (a tampered client ignores the list).
    assertion = alice.assertion(mallorys_key, honour_allow=False)
    with pytest.raises(PasskeyAuthenticationError, match="unknown credential"):
        alice.authenticate(assertion)
    with pytest.raises(AuthenticatorRefusedError):
        alice.assertion(mallorys_key)  # an honest client would not even have answered


def test_a_user_handle_of_someone_else_is_refused(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    with pytest.raises(PasskeyAuthenticationError, match="user handle mismatch"):
        alice.authenticate(alice.assertion(key, user_handle=(999).to_bytes(8, "big")))


def test_failed_assertions_are_failed_login_attempts(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    now = utcnow()
    for _ in range(throttle.FREE_FAILURES):
        with pytest.raises(PasskeyAuthenticationError):
            alice.authenticate(alice.assertion(key, flags=FLAG_UP), now=now)
    with factory() as s:
        assert throttle.failures_of(s, throttle.account_key(alice.email)) == 5
    # The sixth attempt waits 2 s after the fifth failure, even with the right answer.
    with pytest.raises(ThrottledError):
        alice.authenticate(alice.assertion(key), now=now + timedelta(seconds=1))
    alice.authenticate(alice.assertion(key), now=now + timedelta(seconds=3))
    with factory() as s:
        assert throttle.failures_of(s, throttle.account_key(alice.email)) == 0


# --- who may do what ---------------------------------------------------------------------------


def test_an_enrolled_account_needs_its_second_factor_to_add_a_passkey(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    first = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(first)
    # With the password alone, an attacker must not bind a passkey of their own.
    with pytest.raises(MfaRequiredError, match="already has a second factor"):
        alice.run(lambda s, p: registration_options(s, p, RP))
    session_id, _ = alice.authenticate(alice.assertion(first))
    alice.use_session(session_id)
    options = alice.run(lambda s, p: registration_options(s, p, RP))
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(first.credential_id)]
    with pytest.raises(AuthenticatorRefusedError, match="InvalidStateError"):
        first.create(options)  # the same authenticator is not registered twice
    second = SoftwareAuthenticator(origin=ORIGIN)
    alice.run(lambda s, p: register(s, p, RP, second.create(options), name="phone"))
    assert [p.name for p in alice.run(lambda s, p: list_passkeys(s, p))] == ["laptop", "phone"]


def test_api_tokens_cannot_manage_passkeys(factory: sessionmaker[Session]) -> None:
    alice = new_account(factory, "alice@hospital.example")
    token = Principal(user_id=alice.user_id, email=alice.email, via="token", token_id=1)
    with factory() as s, pytest.raises(PermissionDeniedError, match="browser session"):
        registration_options(s, token, RP)


def test_deletion_needs_the_second_factor_and_ones_own_passkey(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    bob = new_account(factory, "bob@hospital.example", assurance="mfa")
    key = SoftwareAuthenticator(origin=ORIGIN)
    passkey_id = alice.register(key)
    with pytest.raises(MfaRequiredError):
        alice.run(lambda s, p: delete_passkey(s, p, passkey_id))
    with pytest.raises(NotFoundError, match=f"no passkey {passkey_id}"):
        bob.run(lambda s, p: delete_passkey(s, p, passkey_id))
    session_id, _ = alice.authenticate(alice.assertion(key))
    alice.use_session(session_id)
    alice.run(lambda s, p: delete_passkey(s, p, passkey_id))
    assert alice.run(lambda s, p: list_passkeys(s, p)) == []
    [entry] = audit(factory, "passkey.deleted")
    assert (entry.target, entry.details["name"]) == (f"passkey:{passkey_id}", "laptop")


def test_a_credential_id_registered_to_someone_else_is_refused(
    factory: sessionmaker[Session],
) -> None:
    alice = new_account(factory, "alice@hospital.example")
    bob = new_account(factory, "bob@hospital.example")
    key = SoftwareAuthenticator(origin=ORIGIN)
    alice.register(key)
    with pytest.raises(PasskeyRegistrationError, match="credential already registered"):
        bob.register(key)
    assert bob.run(lambda s, p: list_passkeys(s, p)) == []
    assert last_failure_reason(factory, "passkey.registered") == "credential already registered"
