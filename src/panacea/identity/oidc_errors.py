"""Errors of single sign-on (OpenID Connect).

::

    IdentityError
    └── OidcError                  base of single sign-on errors
        ├── SsoNotConfiguredError  a PANACEA_OIDC_* setting is missing or unusable
        ├── OidcProviderError      the provider is unreachable, slow or answers malformed data
        └── OidcLoginError         the provider's answer failed validation (state, code, ID token)
            └── PendingLoginError  the sealed pending-login cookie is absent, altered or stale
"""

from __future__ import annotations

from panacea.identity.errors import IdentityError


class OidcError(IdentityError):
    """Base of single sign-on errors."""


class SsoNotConfiguredError(OidcError):
    """Single sign-on is not configured, or its settings are unusable (names the setting)."""


class OidcProviderError(OidcError):
    """The identity provider could not be reached, timed out, or sent a malformed document."""


class OidcLoginError(OidcError):
    """The login did not verify: wrong state, refused code, or an ID token that fails a check."""


class PendingLoginError(OidcLoginError):
    """The pending-login cookie is absent, forged, altered, expired or for another request."""
