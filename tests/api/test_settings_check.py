"""Start-up refusal of unsafe settings, and generated secrets in demo mode."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from panacea.api.app import create_app
from panacea.api.settings_check import SettingsError, check_settings, secret_key_weakness
from panacea.config import Settings
from panacea.identity.errors import EncryptionError
from panacea.identity.keys import Kek, write_kek_file

# fixed (not generated) so that test ids are the same in every pytest-xdist worker
STRONG = "k3Vq9ZrT0bWm7XyLp2HdN8sGf4JcR6uE1aYtQoBv5iKw"


@pytest.fixture
def kek_file(tmp_path: Path) -> Path:
    path = tmp_path / "panacea.kek"
    write_kek_file(path, Kek.generate())
    return path


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("changeme", "shorter than 32"),
        ("secret", "shorter than 32"),
        ("placeholder", "shorter than 32"),
        ("x" * 64, "fewer than 10 distinct"),
        ("ab" * 40, "fewer than 10 distinct"),
        ("CHANGE-ME-" + STRONG, "placeholder word 'changeme'"),
        ("please-replace-me-with-a-real-secret-value-123", "placeholder word 'replaceme'"),
        ("this-is-a-placeholder-secret-key-0123456789", "placeholder word 'placeholder'"),
    ],
)
def test_weak_secret_keys_are_recognised(value: str, reason: str) -> None:
    weakness = secret_key_weakness(value)
    assert weakness is not None
    assert reason in weakness
    assert value not in weakness


def test_generated_secrets_are_accepted() -> None:
    for _ in range(20):
        assert secret_key_weakness(secrets.token_urlsafe(32)) is None


@pytest.mark.parametrize("value", [None, "changeme", "x" * 64])
def test_outside_demo_mode_a_missing_or_weak_secret_refuses_to_start(
    sqlite_url: str, kek_file: Path, value: str | None
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        kek_file=kek_file,
        secret_key=SecretStr(value) if value is not None else None,
    )
    with pytest.raises(SettingsError, match="PANACEA_SECRET_KEY is") as caught:
        create_app(settings)
    if value is not None:
        assert value not in str(caught.value)


def test_outside_demo_mode_a_good_configuration_starts(sqlite_url: str, kek_file: Path) -> None:
    settings = Settings(database_url=sqlite_url, kek_file=kek_file, secret_key=SecretStr(STRONG))
    assert check_settings(settings) is settings
    create_app(settings)


def test_outside_demo_mode_a_missing_kek_refuses_to_start(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, secret_key=SecretStr(STRONG))
    with pytest.raises(EncryptionError, match="no key-encryption key configured"):
        create_app(settings)


def test_a_broken_kek_file_refuses_to_start_in_any_mode(sqlite_url: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.kek"
    broken.write_text("not a key\n")
    for demo in (False, True):
        settings = Settings(
            database_url=sqlite_url, kek_file=broken, secret_key=SecretStr(STRONG), demo_mode=demo
        )
        with pytest.raises(EncryptionError, match="not base64"):
            create_app(settings)


def test_demo_mode_generates_a_secret_for_the_process(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=sqlite_url, demo_mode=True, data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="panacea.api.settings_check"):
        checked = check_settings(settings)
    assert settings.secret_key is None
    assert checked.secret_key is not None
    generated = checked.secret_key.get_secret_value()
    assert secret_key_weakness(generated) is None
    assert generated not in caplog.text
    assert "demo mode: PANACEA_SECRET_KEY is not set" in caplog.text
    # Another start, another secret.
    again = check_settings(settings).secret_key
    assert again is not None
    assert again.get_secret_value() != generated
    # A weak one given in demo mode is replaced too.
    weak = settings.model_copy(update={"secret_key": SecretStr("changeme")})
    replaced = check_settings(weak).secret_key
    assert replaced is not None
    assert replaced.get_secret_value() != "changeme"
    # The app serves with the generated secret.
    app = create_app(settings)
    served = app.state.panacea.settings.secret_key
    assert served is not None
    assert secret_key_weakness(served.get_secret_value()) is None


def test_wildcard_cors_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=sqlite_url, demo_mode=True, cors_origins=["*"])
    with pytest.raises(SettingsError, match="PANACEA_CORS_ORIGINS contains"):
        check_settings(settings)


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://localhost", "https://"])
def test_public_url_must_be_http_with_a_host(url: str) -> None:
    with pytest.raises(SettingsError, match="PANACEA_PUBLIC_URL"):
        check_settings(Settings(demo_mode=True, public_url=url))


def test_plain_http_on_a_network_name_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(demo_mode=True, data_dir=tmp_path, public_url="http://panacea.lan:8000")
    with caplog.at_level(logging.WARNING, logger="panacea.api.settings_check"):
        check_settings(settings)
    assert "is plain http" in caplog.text
