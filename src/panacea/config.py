"""Settings: one object, read from the environment (prefix ``PANACEA_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///panacea.db"


class Settings(BaseSettings):
    """Runtime settings of the platform.

    ``database_url`` selects the store: an SQLite file by default (one hospital, one machine),
    ``postgresql+psycopg://...`` in production.
    """

    model_config = SettingsConfigDict(env_prefix="PANACEA_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL)
    nvd_api_key: str | None = None
    nvd_api_url: str = "https://services.nvd.nist.gov/rest/json/cves/2.0"
    kev_url: str = (
        "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
    )
    epss_url: str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
    feed_timeout_seconds: float = 60.0
    data_dir: Path = Path(".")

    # --- serving (panacea serve) -------------------------------------------------------------
    # The address users type: WebAuthn binds passkeys to its host name (an IP is not allowed).
    public_url: str = "http://localhost:8000"
    # "demo" relaxes nothing but the secrets check: a demo may run on generated keys.
    demo_mode: bool = False
    # Signs OIDC state and other short-lived values. Required outside demo mode.
    secret_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_request_bytes: int = 1_048_576
    max_upload_bytes: int = 50 * 1_048_576
    # Behind a TLS-terminating proxy, trust its X-Forwarded-* headers from these addresses.
    trusted_proxies: list[str] = Field(default_factory=list)

    # --- sessions and tokens ------------------------------------------------------------------
    session_idle_minutes: float = 30.0
    session_absolute_hours: float = 12.0
    api_token_max_days: int = 365

    # --- keys (kept outside the database) ------------------------------------------------------
    # Key-encryption key for envelope encryption of sensitive fields: a file of 32 random bytes
    # (base64) or the value itself. Rotated with `panacea keys rotate`.
    kek_file: Path | None = None
    kek: SecretStr | None = None
    # Ed25519 private key (PEM) that signs audit checkpoints.
    audit_signing_key_file: Path | None = None
    # Append-only file that receives every checkpoint (the external witness).
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_every: int = 100

    # --- alerts and SIEM ----------------------------------------------------------------------
    syslog_host: str | None = None
    syslog_port: int = 514
    syslog_protocol: str = "udp"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "panacea@localhost"

    # --- single sign-on (OpenID Connect) ------------------------------------------------------
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_groups_claim: str = "groups"
    oidc_organisation: str | None = None
    # "client_secret_basic" (default) or "client_secret_post" (RFC 6749 section 2.3.1).
    oidc_token_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    # ID token `acr` values that count as multi-factor (e.g. Keycloak LoA "2", "gold").
    oidc_mfa_acr_values: list[str] = Field(default_factory=list)
    oidc_timeout_seconds: float = 10.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
