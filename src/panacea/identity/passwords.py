"""Password hashing (argon2id) and the password policy (NIST SP 800-63B section 5.1.1.2).

Public API (used by the users service and the login service):

- :func:`hash_password` ``(password) -> str`` -- an argon2id PHC string.
- :func:`verify_password` ``(hash, password) -> bool`` -- never raises on a mismatch.
- :func:`needs_rehash` ``(hash) -> bool`` -- the hash was made with other parameters.
- :func:`check_password_policy` ``(password, *, email, display_name)`` -- raises
  :class:`~panacea.identity.errors.PasswordPolicyError` with the rule that failed.
- :func:`set_password` ``(session, user, password)`` -- policy check, hash, store.
- :func:`hash_random_secret` ``(secret) -> str`` -- for machine-made secrets (recovery codes).
- :func:`spend_verify_time` ``(password)`` -- one verify against a dummy hash (timing).

Parameters (:data:`PRODUCTION_PARAMETERS`): argon2id, m = 64 MiB, t = 3, p = 1. RFC 9106
section 4 recommends argon2id with t = 3 and 64 MiB where 2 GiB is too much; OWASP's Password
Storage Cheat Sheet lists m = 19 MiB, t = 2, p = 1 as the floor. One lane (p = 1) keeps one
login on one core: the platform runs on small hospital servers where several logins may be
verified at once. On the 2-core development machine a verify takes about 150 ms when
idle (300 to 900 ms with a load average of 8).

Tests may switch to :data:`TEST_ONLY_PARAMETERS` with :func:`cheap_hashing_for_tests_only`; the
name says what it is for, and nothing in ``src/`` calls it.

Passwords are normalised to NFKC before hashing and before the length count (SP 800-63B
5.1.1.2: "the verifier SHOULD apply the Normalization Process for Stabilized Strings using
either the NFKC or NFKD normalization"), so the same password typed on two keyboards that
produce different code points for it verifies.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import HashingError, InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.errors import IdentityError, PasswordPolicyError
from panacea.identity.models import User

log = logging.getLogger(__name__)

# SP 800-63B 5.1.1.2: at least 8 characters, SHALL permit at least 64; we ask for 12 (the
# project's rule for single-factor accounts) and accept up to 128 (beyond that a paste error is
# likelier than a passphrase, and argon2's input stays small).
MIN_LENGTH = 12
MAX_LENGTH = 128
# A context word (e-mail, name, service name) shorter than this is too common to forbid.
CONTEXT_WORD_MIN = 4
SERVICE_NAME = "panacea"


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id cost parameters: time cost (passes), memory in KiB, parallelism (lanes)."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost_kib,
            parallelism=self.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )


PRODUCTION_PARAMETERS = Argon2Parameters(time_cost=3, memory_cost_kib=64 * 1024, parallelism=1)
# Machine-generated secrets (recovery codes: 80 random bits) cannot be guessed from a
# dictionary, so memory hardness buys little; OWASP's floor keeps checking all ten of a user's
# codes (one verify each) near a single password verify.
RANDOM_SECRET_PARAMETERS = Argon2Parameters(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)
# The smallest argon2 allows (8 KiB per lane): for tests only, never for stored credentials.
TEST_ONLY_PARAMETERS = Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1)

_active = PRODUCTION_PARAMETERS
_active_random = RANDOM_SECRET_PARAMETERS


def active_parameters() -> Argon2Parameters:
    """The parameters new hashes are made with."""
    return _active


@contextmanager
def cheap_hashing_for_tests_only() -> Iterator[None]:
    """FOR TESTS ONLY: hash with :data:`TEST_ONLY_PARAMETERS` inside the ``with`` block.

    Production code never calls this: a hash made here would be cracked quickly.
    """
    global _active, _active_random
    previous = (_active, _active_random)
    _active = _active_random = TEST_ONLY_PARAMETERS
    try:
        yield
    finally:
        _active, _active_random = previous


@lru_cache(maxsize=4)
def _hasher(parameters: Argon2Parameters) -> PasswordHasher:
    return parameters.hasher()


def normalise(password: str) -> str:
    """The NFKC form of ``password`` (what is counted, compared and hashed)."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str, *, parameters: Argon2Parameters | None = None) -> str:
    """The argon2id PHC string of ``password`` (NFKC-normalised, random 16-byte salt).

    ``parameters`` defaults to the active ones (:func:`active_parameters`). Raises
    IdentityError if the argon2 library fails (e.g. out of memory).
    """
    try:
        return _hasher(parameters or _active).hash(normalise(password))
    except HashingError as e:
        raise IdentityError(f"password hashing failed in argon2: {e}") from e


def hash_random_secret(secret: str) -> str:
    """The argon2id PHC string of a machine-generated secret (RANDOM_SECRET_PARAMETERS).

    Verify it with :func:`verify_password`.
    """
    return hash_password(secret, parameters=_active_random)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; False otherwise (also for a bad hash).

    The parameters come from the hash itself, so hashes made with old parameters verify.
    """
    try:
        return _hasher(_active).verify(password_hash, normalise(password))
    except InvalidHashError:
        # A damaged stored hash must refuse the login, not crash it; the operator is told.
        log.warning("stored password hash is not a valid argon2 PHC string")
        return False
    except VerificationError:
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if ``password_hash`` was made with other parameters than the active ones."""
    try:
        return _hasher(_active).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=4)
def _dummy_hash(parameters: Argon2Parameters) -> str:
    return hash_password("panacea timing equaliser", parameters=parameters)


def spend_verify_time(password: str) -> None:
    """Verify ``password`` against a dummy hash with the active parameters, and discard it.

    Used when there is no account (or no password) to verify against, so that such an answer
    takes as long as a wrong password and timing does not reveal which e-mails exist.
    """
    verify_password(_dummy_hash(_active), password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the leaked-password corpora, case-folded.

    Taken from the ``zxcvbn`` package (Dropbox's strength estimator, MIT licence), a dependency:
    NIST SP 800-63B section 5.1.1.2 asks verifiers to refuse values "obtained from previous
    breach corpuses". Only a few hundred of them are 12 characters or longer, which is why the
    policy also refuses the user's own e-mail and name.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(normalise(w).casefold() for w in FREQUENCY_LISTS["passwords"] if w.strip())


def _context_words(email: str, display_name: str) -> list[str]:
    email = normalise(email).casefold().strip()
    local = email.partition("@")[0]
    name = " ".join(normalise(display_name).casefold().split())
    words = {email, local, name, name.replace(" ", ""), SERVICE_NAME}
    return sorted((w for w in words if len(w) >= CONTEXT_WORD_MIN), key=len, reverse=True)


def check_password_policy(password: str, *, email: str, display_name: str = "") -> None:
    """Raise PasswordPolicyError unless ``password`` meets SP 800-63B 5.1.1.2 as applied here.

    Rules: 12 to 128 Unicode code points after NFKC; not on the shipped common-password list
    (compared case-insensitively); not built from the user's e-mail, its local part, display
    name or the service name (with such a word removed, 12 code points must remain). No
    composition rules (SP 800-63B: verifiers SHOULD NOT impose them). The message names the
    rule and never repeats the password.
    """
    candidate = normalise(password)
    length = len(candidate)
    if length < MIN_LENGTH:
        raise PasswordPolicyError(
            f"password too short: {length} characters, at least {MIN_LENGTH} required"
        )
    if length > MAX_LENGTH:
        raise PasswordPolicyError(
            f"password too long: {length} characters, at most {MAX_LENGTH} allowed"
        )
    folded = candidate.casefold()
    if folded in common_passwords():
        raise PasswordPolicyError(
            "password is on the list of commonly used passwords; choose another"
        )
    squeezed = "".join(folded.split())
    for word in _context_words(email, display_name):
        for form in (folded, squeezed):
            if word in form and len(form.replace(word, "")) < MIN_LENGTH:
                raise PasswordPolicyError(
                    "password is built from the account's e-mail, name or the service name; "
                    "choose one that does not contain them"
                )


def set_password(
    session: Session, user: User, password: str, *, now: datetime | None = None
) -> None:
    """Check ``password`` against the policy for ``user``, then store its hash.

    Raises PasswordPolicyError (nothing is stored) if the policy refuses it. The caller audits
    the change and, where it is a reset, revokes the user's sessions.
    """
    check_password_policy(password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(password)
    user.password_changed_at = now or utcnow()
    session.flush()
