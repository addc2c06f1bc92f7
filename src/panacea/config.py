"""Settings: one object, read from the environment (prefix ``PANACEA_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
