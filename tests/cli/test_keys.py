"""``panacea keys``: KEK generation and rotation, data-key rotation, status."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from panacea.cli.main import main
from panacea.config import get_settings
from panacea.db.engine import create_db_engine
from panacea.identity.audit_records import AuditEntry
from panacea.identity.encryption import ENCRYPTED_COLUMNS, seal, unseal
from panacea.identity.errors import EncryptionError
from panacea.identity.key_records import DataKey
from panacea.identity.key_rotation import rotate_kek
from panacea.identity.keys import Kek, KekSource, bind_kek, read_kek_file, write_kek_file
from panacea.identity.models import TotpCredential, User

SECRETS = {"a@example.org": b"secret-of-a-0123456789", "b@example.org": b"secret-of-b-9876543210"}
PLACE = {"table": "totp_credential", "column": "secret_encrypted"}


@pytest.fixture
def kek_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A configured KEK file (PANACEA_KEK_FILE), outside demo mode."""
    path = tmp_path / "panacea.kek"
    write_kek_file(path, Kek.generate())
    monkeypatch.setenv("PANACEA_KEK_FILE", str(path))
    monkeypatch.delenv("PANACEA_KEK", raising=False)
    monkeypatch.delenv("PANACEA_DEMO_MODE", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def sessions_with(db_url: str, kek: Kek) -> sessionmaker[Session]:
    sessions = sessionmaker(create_db_engine(db_url), expire_on_commit=False)
    bind_kek(sessions, KekSource(value=SecretStr(kek.encoded())))
    return sessions


def store_secrets(db_url: str, kek: Kek) -> dict[int, bytes]:
    """TOTP rows sealed under ``kek``; returns row id -> plaintext."""
    sessions = sessions_with(db_url, kek)
    stored: dict[int, bytes] = {}
    with sessions.begin() as s:
        for email, secret in SECRETS.items():
            user = User(email=email)
            s.add(user)
            s.flush()
            row = TotpCredential(user_id=user.id, secret_encrypted=b"")
            s.add(row)
            s.flush()
            row.secret_encrypted = seal(s, secret, row_id=row.id, **PLACE)  # type: ignore[arg-type]
            stored[row.id] = secret
    sessions.kw["bind"].dispose()
    return stored


def read_secrets(db_url: str, kek: Kek) -> dict[int, bytes]:
    sessions = sessions_with(db_url, kek)
    try:
        with sessions() as s:
            rows = s.execute(select(TotpCredential)).scalars().all()
            return {
                r.id: unseal(s, r.secret_encrypted, row_id=r.id, **PLACE)  # type: ignore[arg-type]
                for r in rows
            }
    finally:
        sessions.kw["bind"].dispose()


def sealed_values(db_url: str) -> dict[int, bytes]:
    engine = create_db_engine(db_url)
    with Session(engine) as s:
        values = {r.id: r.secret_encrypted for r in s.execute(select(TotpCredential)).scalars()}
    engine.dispose()
    return values


def data_keys(db_url: str) -> list[tuple[int, str, bool | None]]:
    engine = create_db_engine(db_url)
    with Session(engine) as s:
        rows = s.execute(select(DataKey.id, DataKey.kek_id, DataKey.active).order_by(DataKey.id))
        keys = [(i, k, a) for i, k, a in rows]
    engine.dispose()
    return keys


def audit_of(db_url: str, action: str) -> list[AuditEntry]:
    engine = create_db_engine(db_url)
    with Session(engine) as s:
        entries = list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())
    engine.dispose()
    return entries


def test_generate_writes_a_private_kek_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new.kek"
    assert main(["keys", "generate", "--out", str(out)]) == 0
    kek = read_kek_file(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert kek.kek_id in capsys.readouterr().out
    # Never overwrites: losing a KEK loses what it protects.
    assert main(["keys", "generate", "--out", str(out)]) == 1
    assert read_kek_file(out) == kek


def test_rotate_rewraps_data_keys_and_replaces_the_kek_file(
    db_url: str, kek_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = read_kek_file(kek_file)
    stored = store_secrets(db_url, old)
    before = sealed_values(db_url)
    assert main(["--db", db_url, "keys", "rotate"]) == 0
    new = read_kek_file(kek_file)
    assert new != old
    assert f"KEK {old.kek_id} -> {new.kek_id}" in capsys.readouterr().out
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert not kek_file.with_name("panacea.kek.new").exists()
    # Values were not re-encrypted, only their data key re-wrapped.
    assert sealed_values(db_url) == before
    assert [k for _, k, _ in data_keys(db_url)] == [new.kek_id]
    assert read_secrets(db_url, new) == stored
    with pytest.raises(EncryptionError, match=f"wrapped by KEK {new.kek_id}"):
        read_secrets(db_url, old)
    # Even if the old KEK claimed the new id, it cannot unwrap.
    with pytest.raises(EncryptionError, match="does not unwrap"):
        read_secrets_claiming(db_url, old, new.kek_id)
    [entry] = audit_of(db_url, "keys.kek_rotated")
    assert entry.organisation_id is None
    assert entry.chain == "platform"
    assert entry.via == "cli"
    assert entry.details == {"old_kek": old.kek_id, "new_kek": new.kek_id, "data_keys": 1}
    assert old.encoded() not in str(entry.details)


def read_secrets_claiming(db_url: str, kek: Kek, kek_id: str) -> dict[int, bytes]:
    """Unseal with ``kek`` after relabelling the data keys as wrapped by ``kek_id``."""
    engine = create_db_engine(db_url)
    with Session(engine) as s, s.begin():
        s.execute(update(DataKey).values(kek_id=kek.kek_id))
    engine.dispose()
    return read_secrets(db_url, kek)


def test_rotate_from_a_kek_value_to_a_new_file(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = Kek.generate()
    monkeypatch.setenv("PANACEA_KEK", old.encoded())
    monkeypatch.delenv("PANACEA_KEK_FILE", raising=False)
    get_settings.cache_clear()
    stored = store_secrets(db_url, old)
    # A value cannot be replaced in place: the command asks where the new KEK goes.
    assert main(["--db", db_url, "keys", "rotate"]) == 1
    assert "pass --new-kek-file" in capsys.readouterr().err
    target = tmp_path / "rotated.kek"
    assert main(["--db", db_url, "keys", "rotate", "--new-kek-file", str(target)]) == 0
    assert "set PANACEA_KEK_FILE=" in capsys.readouterr().out
    new = read_kek_file(target)
    assert read_secrets(db_url, new) == stored
    with pytest.raises(EncryptionError):
        read_secrets(db_url, old)
    get_settings.cache_clear()


def test_rotate_takes_an_existing_new_kek_file(db_url: str, kek_file: Path, tmp_path: Path) -> None:
    old = read_kek_file(kek_file)
    stored = store_secrets(db_url, old)
    given = tmp_path / "given.kek"
    new = Kek.generate()
    write_kek_file(given, new)
    assert main(["--db", db_url, "keys", "rotate", "--new-kek-file", str(given)]) == 0
    assert read_kek_file(given) == new
    # The configured file is left alone: the operator switches PANACEA_KEK_FILE.
    assert read_kek_file(kek_file) == old
    assert read_secrets(db_url, new) == stored
    # Rotating to the key already in use is refused.
    assert main(["--db", db_url, "keys", "rotate", "--new-kek-file", str(given)]) == 1


def test_a_refused_rotation_changes_nothing(
    db_url: str, kek_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = read_kek_file(kek_file)
    store_secrets(db_url, old)
    # A second data key wrapped by some other KEK (a mixed-up restore, say).
    stranger = Kek.generate()
    sessions = sessions_with(db_url, stranger)
    with sessions.begin() as s:
        s.add(DataKey(wrapped=b"\x00" * 40, kek_id=stranger.kek_id, active=None))
    sessions.kw["bind"].dispose()
    keys_before = data_keys(db_url)
    assert main(["--db", db_url, "keys", "rotate"]) == 1
    assert f"wrapped by KEK {stranger.kek_id}" in capsys.readouterr().err
    assert data_keys(db_url) == keys_before
    assert read_kek_file(kek_file) == old
    assert not kek_file.with_name("panacea.kek.new").exists()
    assert audit_of(db_url, "keys.kek_rotated") == []


def test_an_interrupted_rotation_is_finished_or_reported(
    db_url: str, kek_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = read_kek_file(kek_file)
    stored = store_secrets(db_url, old)
    staged = kek_file.with_name("panacea.kek.new")
    stale = Kek.generate()
    write_kek_file(staged, stale)
    # Staged, but no data key uses it: the rotation never committed.
    assert main(["--db", db_url, "keys", "rotate"]) == 1
    assert "did not commit" in capsys.readouterr().err
    staged.unlink()
    # Committed, then the process died before replacing the file.
    new = Kek.generate()
    write_kek_file(staged, new)
    sessions = sessions_with(db_url, old)
    with sessions.begin() as s:
        rotate_kek(s, old=old, new=new)
    sessions.kw["bind"].dispose()
    assert main(["--db", db_url, "keys", "rotate"]) == 0
    assert "finished an interrupted rotation" in capsys.readouterr().out
    assert read_kek_file(kek_file) == new
    assert not staged.exists()
    assert read_secrets(db_url, new) == stored


def test_rotate_data_key_reencrypts_every_sealed_column(
    db_url: str, kek_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kek = read_kek_file(kek_file)
    stored = store_secrets(db_url, kek)
    before = sealed_values(db_url)
    [(old_id, _, _)] = data_keys(db_url)
    assert main(["--db", db_url, "keys", "rotate-data-key"]) == 0
    out = capsys.readouterr().out
    assert "totp_credential.secret_encrypted: 2" in out
    [(new_id, kek_id, active)] = data_keys(db_url)
    assert new_id != old_id
    assert (kek_id, active) == (kek.kek_id, True)
    after = sealed_values(db_url)
    for row_id, sealed in after.items():
        assert sealed != before[row_id]
        assert int.from_bytes(sealed[1:5], "big") == new_id
    assert read_secrets(db_url, kek) == stored
    # The old ciphertexts name a data key that no longer exists.
    sessions = sessions_with(db_url, kek)
    with sessions() as s:
        for row_id, sealed in before.items():
            with pytest.raises(EncryptionError, match=f"data key {old_id}, which is gone"):
                unseal(s, sealed, row_id=row_id, **PLACE)  # type: ignore[arg-type]
    sessions.kw["bind"].dispose()
    [entry] = audit_of(db_url, "keys.data_key_rotated")
    assert entry.organisation_id is None
    assert entry.details == {
        "new_data_key": new_id,
        "retired": [old_id],
        # Every registered sealed column is counted; only the TOTP secrets hold values here.
        "values": {
            f"{c.table}.{c.column}": 2 if c.table == "totp_credential" else 0
            for c in ENCRYPTED_COLUMNS
        },
    }
    # Then a KEK rotation still covers the new data key.
    assert main(["--db", db_url, "keys", "rotate"]) == 0
    assert read_secrets(db_url, read_kek_file(kek_file)) == stored


def test_status_lists_data_keys_and_sealed_counts(
    db_url: str, kek_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kek = read_kek_file(kek_file)
    store_secrets(db_url, kek)
    capsys.readouterr()
    assert main(["--db", db_url, "keys", "status"]) == 0
    out = capsys.readouterr().out
    assert kek.kek_id in out
    assert "(configured)" in out
    assert "totp_credential.secret_encrypted: 2 sealed values" in out


def test_keys_commands_refuse_to_run_without_a_kek(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("PANACEA_KEK", "PANACEA_KEK_FILE", "PANACEA_DEMO_MODE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    assert main(["--db", sqlite_url, "keys", "rotate-data-key"]) == 1
    assert "no key-encryption key configured" in capsys.readouterr().err
    get_settings.cache_clear()
