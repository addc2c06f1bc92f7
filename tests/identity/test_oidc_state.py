"""The sealed pending-login cookie: opens only unaltered, under its key, while fresh."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from panacea.db.base import utcnow
from panacea.identity.oidc_errors import PendingLoginError
from panacea.identity.oidc_state import PendingLogin, seal, sealing_key, unseal

KEY = sealing_key(b"a test secret key of enough length")


def _pending() -> PendingLogin:
    return PendingLogin(
        state="state-123", nonce="nonce-456", code_verifier="v" * 86, issued_at=utcnow()
    )


def test_a_sealed_login_opens_to_the_same_values() -> None:
    pending = _pending()
    opened = unseal(seal(pending, KEY), KEY)
    assert (opened.state, opened.nonce, opened.code_verifier) == (
        "state-123",
        "nonce-456",
        "v" * 86,
    )
    assert abs((opened.issued_at - pending.issued_at).total_seconds()) < 0.001


def test_the_seal_hides_the_verifier_and_nonce() -> None:
    raw = base64.urlsafe_b64decode(seal(_pending(), KEY) + "==")
    assert b"nonce-456" not in raw
    assert b"vvvv" not in raw


def test_two_seals_of_the_same_login_differ() -> None:
    pending = _pending()
    assert seal(pending, KEY) != seal(pending, KEY)


def test_an_altered_seal_is_refused() -> None:
    value = seal(_pending(), KEY)
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    raw[20] ^= 0x01
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(PendingLoginError, match="not valid"):
        unseal(altered, KEY)


def test_another_key_cannot_open_it() -> None:
    other = sealing_key(b"another secret key of enough length")
    with pytest.raises(PendingLoginError, match="not valid"):
        unseal(seal(_pending(), KEY), other)


@pytest.mark.parametrize("value", ["", "x" * 5000, "not base64 !!", "AAAA"])
def test_missing_oversized_or_garbage_values_are_refused(value: str) -> None:
    with pytest.raises(PendingLoginError):
        unseal(value, KEY)


def test_a_stale_login_is_refused() -> None:
    value = seal(_pending(), KEY)
    with pytest.raises(PendingLoginError, match="expired"):
        unseal(value, KEY, now=utcnow() + timedelta(minutes=11))
    assert unseal(value, KEY, now=utcnow() + timedelta(minutes=9)).state == "state-123"


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sealing_key(b"short")
