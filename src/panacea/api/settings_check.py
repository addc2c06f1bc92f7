"""Refuse to start on unsafe settings; in demo mode, generate what is missing instead.

Checked when the application is built (``create_app``), so a misconfigured server fails at
start with a message saying which setting and why, never later on a user's request:

* ``secret_key`` must be set and must not be a placeholder or weak (under 32 characters, a
  known placeholder word, or too few distinct characters). Demo mode replaces a missing or weak
  one with a random secret for this process. The value itself is never echoed.
* the key-encryption key, when configured, must load (a missing KEK outside demo mode is
  refused: :func:`panacea.identity.keys.kek_source`).
* ``cors_origins`` must list origins, not ``*``: with credentials allowed, a wildcard would
  let any web site act with the user's session.
* ``public_url`` must be an http(s) URL with a host name (WebAuthn binds passkeys to it).
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

from pydantic import SecretStr

from panacea.config import Settings
from panacea.errors import PanaceaError
from panacea.identity.keys import kek_source

MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 10
# Words found in sample configurations; a secret containing one was not generated at random.
PLACEHOLDER_WORDS = (
    "changeme",
    "changethis",
    "replaceme",
    "placeholder",
    "yoursecret",
    "secretkey",
    "notsecret",
    "insecure",
    "example",
    "default",
    "dummy",
)
log = logging.getLogger(__name__)


class SettingsError(PanaceaError):
    """A setting makes the platform unsafe to serve; the message names the setting."""


def secret_key_weakness(value: str) -> str | None:
    """Why ``value`` is not an acceptable secret key, or None if it is acceptable.

    The reason never quotes the value.
    """
    if len(value) < MIN_SECRET_CHARS:
        return f"shorter than {MIN_SECRET_CHARS} characters"
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    for word in PLACEHOLDER_WORDS:
        if word in letters:
            return f"contains the placeholder word {word!r}"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"fewer than {MIN_DISTINCT_CHARS} distinct characters"
    return None


def check_settings(settings: Settings) -> Settings:
    """The settings to serve with: ``settings`` itself, or a copy with generated demo secrets.

    Raises SettingsError (or EncryptionError for the KEK) outside demo mode when a required
    secret is missing or weak, and in any mode for a wildcard CORS origin or a bad public URL.
    """
    _check_public_url(settings.public_url)
    if "*" in settings.cors_origins:
        raise SettingsError(
            "PANACEA_CORS_ORIGINS contains '*': list the exact origins allowed to call the API "
            "with credentials (e.g. https://panacea.hospital.example)"
        )
    # Loads (and so validates) a configured KEK now; outside demo mode a missing one raises.
    source = kek_source(settings)
    if settings.kek is not None or settings.kek_file is not None:
        source.current()
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    weakness = "not set" if secret is None else secret_key_weakness(secret)
    if weakness is None:
        return settings
    if not settings.demo_mode:
        raise SettingsError(
            f"PANACEA_SECRET_KEY is {weakness}: set it to a long random value, e.g. the output "
            "of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    log.warning(
        "demo mode: PANACEA_SECRET_KEY is %s; using a random secret for this process "
        "(what it signs does not survive a restart)",
        weakness,
    )
    return settings.model_copy(update={"secret_key": SecretStr(secrets.token_urlsafe(48))})


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"PANACEA_PUBLIC_URL {url!r} is not an http(s) URL with a host name "
            "(e.g. https://panacea.hospital.example)"
        )
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        log.warning(
            "PANACEA_PUBLIC_URL %s is plain http: cookies are sent without Secure and tokens "
            "cross the network in clear; serve over https (behind a TLS proxy)",
            url,
        )
