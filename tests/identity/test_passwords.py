"""Password hashing (argon2id, parameters, rehash, NFKC) and the SP 800-63B policy."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.errors import PasswordPolicyError
from panacea.identity.models import User
from panacea.identity.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PRODUCTION_PARAMETERS,
    TEST_ONLY_PARAMETERS,
    Argon2Parameters,
    active_parameters,
    cheap_hashing_for_tests_only,
    check_password_policy,
    common_passwords,
    hash_password,
    hash_random_secret,
    needs_rehash,
    set_password,
    verify_password,
)

EMAIL = "alice.smith@stmary.example"
NAME = "Alice Smith"
GOOD = "purple monkey dishwasher tulip"


def test_production_parameters_are_argon2id_within_owasp_and_rfc_9106() -> None:
    # Production parameters (one real hash, ~150 ms): argon2id, 64 MiB, t=3, p=1.
    encoded = hash_password(GOOD)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    params = extract_parameters(encoded)
    assert (params.memory_cost, params.time_cost, params.parallelism) == (65536, 3, 1)
    assert params.salt_len == 16
    assert params.hash_len == 32
    # OWASP floor (m=19 MiB, t=2) and RFC 9106's 64 MiB option.
    assert PRODUCTION_PARAMETERS.memory_cost_kib >= 19 * 1024
    assert PRODUCTION_PARAMETERS.time_cost >= 2
    assert verify_password(encoded, GOOD)
    assert not verify_password(encoded, GOOD + " ")
    assert not needs_rehash(encoded)


def test_cheap_parameters_only_inside_the_test_block() -> None:
    assert active_parameters() == PRODUCTION_PARAMETERS
    with cheap_hashing_for_tests_only():
        assert active_parameters() == TEST_ONLY_PARAMETERS
        cheap = hash_password(GOOD)
        assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert hash_random_secret("abcd").startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert active_parameters() == PRODUCTION_PARAMETERS
    # A hash made with other parameters still verifies, and asks to be rehashed.
    assert verify_password(cheap, GOOD)
    assert needs_rehash(cheap)


@pytest.mark.usefixtures("cheap_hashing")
def test_hashes_are_salted_and_bad_hashes_refuse() -> None:
    first, second = hash_password(GOOD), hash_password(GOOD)
    assert first != second
    assert not verify_password("not a hash", GOOD)
    assert not verify_password("$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA", GOOD)
    assert needs_rehash("not a hash")


@pytest.mark.usefixtures("cheap_hashing")
def test_other_parameters_are_detected() -> None:
    old = hash_password(GOOD, parameters=Argon2Parameters(1, 16, 1))
    assert "m=16,t=1,p=1" in old
    assert verify_password(old, GOOD)
    assert needs_rehash(old)


@pytest.mark.usefixtures("cheap_hashing")
def test_passwords_are_nfkc_normalised_before_hashing() -> None:
    composed = "café au lait très chaud"  # é as U+00E9
    decomposed = "cafe\u0301 au lait tre\u0300s chaud"  # e + combining accent
    assert composed != decomposed
    assert verify_password(hash_password(composed), decomposed)
    fullwidth = "ｐａｓｓｐｈｒａｓｅ１２３"  # fullwidth forms fold to ASCII under NFKC
    assert verify_password(hash_password(fullwidth), "passphrase123")


def test_length_counts_code_points_after_nfkc() -> None:
    with pytest.raises(PasswordPolicyError, match=r"too short: 11 characters, at least 12"):
        check_password_policy("x7#kQ2!mZp9", email=EMAIL)
    check_password_policy("x7#kQ2!mZp9w", email=EMAIL)
    # 22 code points typed, 11 after NFKC (each e + combining acute becomes one é).
    with pytest.raises(PasswordPolicyError, match="too short: 11"):
        check_password_policy("e\u0301" * 11, email=EMAIL)
    check_password_policy("e\u0301" * 12, email=EMAIL)
    # An emoji is one code point.
    with pytest.raises(PasswordPolicyError, match="too short: 11"):
        check_password_policy("🔒" * 11, email=EMAIL)
    check_password_policy("🔒" * 12, email=EMAIL)
    # Six ligatures "ﬁ" are six code points typed, twelve after NFKC ("fi" each).
    check_password_policy("ﬁ" * 6, email=EMAIL)
    assert MIN_LENGTH == 12


def test_maximum_length() -> None:
    check_password_policy("k" * MAX_LENGTH, email=EMAIL)
    with pytest.raises(PasswordPolicyError, match=rf"too long: {MAX_LENGTH + 1} characters"):
        check_password_policy("k" * (MAX_LENGTH + 1), email=EMAIL)
    assert MAX_LENGTH >= 128


def test_no_composition_rules() -> None:
    # Lower case only, no digit, no symbol: fine if long and uncommon (SP 800-63B 5.1.1.2).
    check_password_policy("purplemonkeydishwasher", email=EMAIL, display_name=NAME)
    check_password_policy("829301746529", email=EMAIL, display_name=NAME)


def test_common_passwords_are_refused_whatever_the_case() -> None:
    assert len(common_passwords()) >= 10_000
    assert "qwerty123456" in common_passwords()
    for password in ("qwerty123456", "QWERTY123456", "1q2w3e4r5t6y"):
        with pytest.raises(PasswordPolicyError, match="commonly used") as caught:
            check_password_policy(password, email=EMAIL)
        assert password not in str(caught.value)


@pytest.mark.parametrize(
    "password",
    [
        EMAIL,
        EMAIL.upper(),
        "alice.smith2024!",
        "Alice Smith 2024!",
        "alicesmith!2024",
        "panacea2024!!",
        "alice.smithalice.smith",
    ],
)
def test_own_email_name_and_service_name_are_refused(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match="e-mail, name or the service name") as caught:
        check_password_policy(password, email=EMAIL, display_name=NAME)
    assert password not in str(caught.value)


def test_a_long_passphrase_may_mention_the_name() -> None:
    # With the name removed, 12+ characters remain: not built from it.
    check_password_policy("alice smith walks the dogs at dawn", email=EMAIL, display_name=NAME)
    # A short context word (under 4 characters) is not forbidden.
    check_password_policy("bo likes quiet mornings", email="bo@x.example", display_name="Bo")


@pytest.mark.usefixtures("cheap_hashing")
def test_set_password_checks_then_stores(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory.begin() as s:
        user = User(email=EMAIL, display_name=NAME)
        s.add(user)
        s.flush()
        with pytest.raises(PasswordPolicyError, match="too short"):
            set_password(s, user, "short")
        assert user.password_hash is None
        assert user.password_changed_at is None
        set_password(s, user, GOOD)
        user_id = user.id
    with sqlite_factory() as s:
        stored = s.get(User, user_id)
        assert stored is not None
        assert stored.password_hash is not None
        assert verify_password(stored.password_hash, GOOD)
        assert stored.password_changed_at is not None
