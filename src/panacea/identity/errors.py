"""Errors of the identity layer.

::

    PanaceaError
    └── IdentityError
        ├── AuthenticationError   wrong credentials; the message never says which part
        ├── ThrottledError              too many failures; carries the seconds to wait
        ├── MfaRequiredError            the session must pass a second factor first
        ├── PermissionDeniedError       authenticated, but the role does not allow it
        ├── NotFoundError               absent, or another organisation's (the same answer)
        ├── PasswordPolicyError       a new password breaks the policy
        ├── ConflictError               a name or e-mail already taken
        ├── AuditIntegrityError    the audit chain does not verify
        └── EncryptionError        a key is missing or wrong, or a sealed value does not verify
"""

from __future__ import annotations

from panacea.errors import PanaceaError


class IdentityError(PanaceaError):
    """Base of the identity layer's errors."""


class AuthenticationError(IdentityError):
    """Credentials did not verify (the message never reveals whether the account exists)."""

    def __init__(self, message: str = "invalid credentials") -> None:
        super().__init__(message)


class ThrottledError(IdentityError):
    """Too many failed attempts; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class MfaRequiredError(IdentityError):
    """The session has not passed the second factor that the role requires."""


class PermissionDeniedError(IdentityError):
    """The principal's role (or token scope) does not include the permission."""


class NotFoundError(IdentityError):
    """The object does not exist or belongs to another organisation."""


class PasswordPolicyError(IdentityError):
    """A new password breaks NIST SP 800-63B rules."""


class ConflictError(IdentityError):
    """A unique name is already taken."""


class AuditIntegrityError(IdentityError):
    """The audit log failed verification."""


class EncryptionError(IdentityError):
    """A key-encryption key is missing or wrong, or a sealed value does not verify."""
