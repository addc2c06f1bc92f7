"""Single-use recovery codes: the way back in when the TOTP device is lost.

Ten codes are issued when a TOTP authenticator is confirmed and shown once. Each is 16
characters of Crockford's base32 (80 random bits), printed as ``xxxx-xxxx-xxxx-xxxx``; only
its argon2id hash is stored (:func:`panacea.identity.passwords.hash_random_secret`). A code is
spent by a compare-and-set on ``used_at``, so two concurrent requests cannot both use it.
Input is forgiving as Crockford intended: case, dashes and spaces are ignored, and the
look-alikes ``o``, ``i``, ``l`` read as ``0``, ``1``, ``1``.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from panacea.identity.models import RecoveryCode
from panacea.identity.passwords import hash_random_secret, verify_password

COUNT = 10
LENGTH = 16
GROUP = 4
# Crockford's base32: no i, l, o, u (https://www.crockford.com/base32.html).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    """A code as shown to the user: groups of four joined by dashes."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def canonical(code: str) -> str | None:
    """The stored form of a typed code, or None if it cannot be one."""
    cleaned = "".join(code.split()).replace("-", "").lower().translate(_LOOKALIKES)
    if len(cleaned) != LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def issue(session: Session, user_id: int) -> list[str]:
    """Replace the user's recovery codes with :data:`COUNT` new ones; return them for display.

    The plaintexts exist only in the return value: show them once.
    """
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(RecoveryCode(user_id=user_id, code_hash=hash_random_secret(c)) for c in codes)
    session.flush()
    return [display(c) for c in codes]


def remaining(session: Session, user_id: int) -> int:
    """How many unused recovery codes the user has."""
    return int(
        session.execute(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        ).scalar_one()
    )


def consume(session: Session, user_id: int, code: str, *, now: datetime) -> bool:
    """True (and the code is spent) if ``code`` is one of the user's unused recovery codes."""
    typed = canonical(code)
    if typed is None:
        return False
    unused = session.execute(
        select(RecoveryCode.id, RecoveryCode.code_hash)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        .order_by(RecoveryCode.id)
        .limit(COUNT)
    ).all()
    for code_id, code_hash in unused:
        if not verify_password(code_hash, typed):
            continue
        spent = session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(spent, "rowcount", 0) or 0) == 1
    return False
