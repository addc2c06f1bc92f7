"""Time-based one-time passwords (RFC 6238) as a second factor.

- The secret is 160 random bits (RFC 4226 section 4, R6: "the length of the shared secret
  MUST be at least 128 bits; this document RECOMMENDs a shared secret length of 160 bits"),
  shown once, at enrolment, as an ``otpauth://`` URI and its QR code; in the database it is
  envelope-encrypted (:mod:`panacea.identity.encryption`), bound to its row.
- Codes are 6 digits, 30-second steps, HMAC-SHA1: what every authenticator app supports.
- One step of clock drift either way is accepted (RFC 6238 section 5.2 recommends at most
  one step of "network delay" tolerance).
- A step is accepted at most once (RFC 6238 section 5.2: the verifier "MUST NOT accept the
  second attempt of the OTP after the successful validation has been issued for the first
  OTP"): ``last_used_step`` only grows, through a compare-and-set update, so two concurrent
  requests with the same code cannot both pass.
- An enrolment must be confirmed with a first code within :data:`ENROLMENT_TTL`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from panacea.identity.encryption import seal, unseal
from panacea.identity.errors import ConflictError, IdentityError
from panacea.identity.models import TotpCredential, User

ISSUER = "PANACEA"
DIGITS = 6
INTERVAL_SECONDS = 30
VALID_WINDOW = 1
ENROLMENT_TTL = timedelta(minutes=10)
_TABLE = "totp_credential"
_COLUMN = "secret_encrypted"
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


class InvalidTotpCodeError(IdentityError):
    """A code given to confirm an enrolment did not verify."""


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user's authenticator app needs; shown once, never retrievable again."""

    credential_id: int
    secret: str
    otpauth_uri: str
    qr_svg: str


def confirmed_credential(session: Session, user_id: int) -> TotpCredential | None:
    """The user's confirmed TOTP credential, or None."""
    return session.execute(
        select(TotpCredential).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
        )
    ).scalar_one_or_none()


def has_confirmed_totp(session: Session, user_id: int) -> bool:
    """True if the user has a confirmed TOTP credential."""
    return bool(
        session.execute(
            select(
                exists().where(
                    TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
                )
            )
        ).scalar_one()
    )


def begin_enrolment(session: Session, user: User, *, now: datetime) -> TotpEnrolment:
    """Create an unconfirmed TOTP credential for ``user``; return its secret, URI and QR code.

    A pending (unconfirmed) enrolment is replaced. Raises ConflictError if the user already
    has a confirmed one (it must be removed first, so a stolen password cannot swap it).
    """
    if has_confirmed_totp(session, user.id):
        raise ConflictError(f"user {user.id} already has a confirmed TOTP authenticator")
    session.execute(
        delete(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_(None)
        )
    )
    secret = pyotp.random_base32()  # 32 base32 characters = 160 bits
    row = TotpCredential(user_id=user.id, secret_encrypted=b"", created_at=now, last_used_step=0)
    session.add(row)
    # The sealed value is bound to the row id, which only the flush assigns.
    session.flush()
    row.secret_encrypted = seal(
        session, secret.encode("ascii"), table=_TABLE, row_id=row.id, column=_COLUMN
    )
    session.flush()
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )
    svg = segno.make(uri, error="m").svg_inline(scale=4, title=f"{ISSUER} TOTP enrolment")
    return TotpEnrolment(credential_id=row.id, secret=secret, otpauth_uri=uri, qr_svg=svg)


def matching_step(secret: str, code: str, *, now: datetime, after_step: int) -> int | None:
    """The time step (> ``after_step``) within the window at which ``code`` is valid, or None."""
    code = "".join(code.split())
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS)
    current = totp.timecode(now)
    found: int | None = None
    # Every step of the window is compared (no early exit), so timing does not tell which.
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)) and step > after_step:
            found = step if found is None else found
    return found


def _secret_of(session: Session, row: TotpCredential) -> str:
    plain = unseal(session, row.secret_encrypted, table=_TABLE, row_id=row.id, column=_COLUMN)
    return plain.decode("ascii")


def _consume(session: Session, row: TotpCredential, code: str, *, now: datetime) -> bool:
    step = matching_step(_secret_of(session, row), code, now=now, after_step=row.last_used_step)
    if step is None:
        return False
    # Compare-and-set: of two requests carrying the same code, only one moves the step.
    moved = session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == row.id, TotpCredential.last_used_step < step)
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(moved, "rowcount", 0) or 0) != 1:
        return False
    row.last_used_step = step
    return True


def verify(session: Session, user_id: int, code: str, *, now: datetime) -> bool:
    """True (and the code's step is used up) if ``code`` is valid for the user's confirmed TOTP.

    False for a wrong, malformed, replayed or expired code, or when no TOTP is confirmed.
    """
    row = confirmed_credential(session, user_id)
    return row is not None and _consume(session, row, code, now=now)


def confirm(session: Session, user_id: int, code: str, *, now: datetime) -> TotpCredential:
    """Confirm the user's pending enrolment with a first code; return the credential.

    Raises IdentityError if there is no pending enrolment, it is older than ENROLMENT_TTL, or
    the code does not verify (the caller counts that as a failed attempt).
    """
    row = session.execute(
        select(TotpCredential).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None)
        )
    ).scalar_one_or_none()
    if row is None:
        raise IdentityError(f"user {user_id} has no pending TOTP enrolment to confirm")
    if now - row.created_at > ENROLMENT_TTL:
        raise IdentityError(
            f"the TOTP enrolment of user {user_id} expired "
            f"(older than {int(ENROLMENT_TTL.total_seconds() // 60)} minutes); enrol again"
        )
    if not _consume(session, row, code, now=now):
        raise InvalidTotpCodeError(
            "the code does not match the authenticator being enrolled; check the device clock"
        )
    row.confirmed_at = now
    session.flush()
    return row
