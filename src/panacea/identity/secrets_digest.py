"""Random bearer secrets and their stored digests.

Session and API tokens carry 256 bits of randomness, so a plain SHA-256 digest is enough to
store them (no slow hash is needed against guessing); comparison is by digest lookup.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """The hex SHA-256 digest under which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
