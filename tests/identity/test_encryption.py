"""Envelope encryption of sensitive fields: seal/unseal, binding to the place, KEK handling."""

from __future__ import annotations

import logging
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import LargeBinary, select, update
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.db.models import Base
from panacea.identity.encryption import (
    ENCRYPTED_COLUMNS,
    active_data_key,
    seal,
    unseal,
    unwrap,
)
from panacea.identity.errors import EncryptionError
from panacea.identity.key_records import DataKey
from panacea.identity.keys import (
    Kek,
    KekSource,
    bind_kek,
    demo_kek_path,
    kek_source,
    read_kek_file,
    write_kek_file,
)
from panacea.identity.models import TotpCredential, User

SECRET = b"JBSWY3DPEHPK3PXP-totp-secret-of-dr-house"


def sealing_sessions(db_url: str, kek: Kek) -> sessionmaker[Session]:
    engine = create_db_engine(db_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_kek(sessions, KekSource(value=SecretStr(kek.encoded())))
    return sessions


@pytest.fixture
def kek() -> Kek:
    return Kek.generate()


@pytest.fixture
def sessions(db_url: str, kek: Kek) -> Iterator[sessionmaker[Session]]:
    made = sealing_sessions(db_url, kek)
    yield made
    made.kw["bind"].dispose()


def store_totp(sessions: sessionmaker[Session], email: str, secret: bytes) -> int:
    """A TOTP credential row whose secret is sealed for its own row id; returns the id."""
    with sessions.begin() as s:
        user = User(email=email)
        s.add(user)
        s.flush()
        row = TotpCredential(user_id=user.id, secret_encrypted=b"")
        s.add(row)
        s.flush()
        row.secret_encrypted = seal(
            s, secret, table="totp_credential", row_id=row.id, column="secret_encrypted"
        )
        return row.id


def read_totp(sessions: sessionmaker[Session], row_id: int) -> bytes:
    with sessions() as s:
        row = s.get(TotpCredential, row_id)
        assert row is not None
        return unseal(
            s,
            row.secret_encrypted,
            table="totp_credential",
            row_id=row_id,
            column="secret_encrypted",
        )


def test_round_trip_and_layout(sessions: sessionmaker[Session], kek: Kek) -> None:
    row_id = store_totp(sessions, "house@example.org", SECRET)
    assert read_totp(sessions, row_id) == SECRET
    with sessions() as s:
        sealed = s.get_one(TotpCredential, row_id).secret_encrypted
        dek = s.execute(select(DataKey)).scalar_one()
    # version, DEK id, 12-byte nonce, ciphertext as long as the plaintext, 16-byte tag.
    assert sealed[0] == 1
    assert int.from_bytes(sealed[1:5], "big") == dek.id
    assert len(sealed) == 1 + 4 + 12 + len(SECRET) + 16
    assert dek.kek_id == kek.kek_id
    assert dek.active is True
    assert len(dek.wrapped) == 40


def test_each_seal_uses_a_fresh_nonce(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        a = seal(s, SECRET, table="totp_credential", row_id=1, column="secret_encrypted")
        b = seal(s, SECRET, table="totp_credential", row_id=1, column="secret_encrypted")
        assert a != b
        assert a[5:17] != b[5:17]
        # One data key serves both.
        assert len(s.execute(select(DataKey)).scalars().all()) == 1


def test_empty_plaintext_round_trips(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        sealed = seal(s, b"", table="t", row_id=0, column="c")
        assert unseal(s, sealed, table="t", row_id=0, column="c") == b""


@pytest.mark.parametrize(
    ("table", "row_id", "column"),
    [
        ("totp_credential", 2, "secret_encrypted"),  # copied to another row
        ("totp_credential", 1, "other_encrypted"),  # copied to another column
        ("recovery_code", 1, "secret_encrypted"),  # copied to another table
    ],
)
def test_a_value_moved_elsewhere_does_not_verify(
    sessions: sessionmaker[Session], table: str, row_id: int, column: str
) -> None:
    with sessions.begin() as s:
        sealed = seal(s, SECRET, table="totp_credential", row_id=1, column="secret_encrypted")
        with pytest.raises(EncryptionError, match="does not verify"):
            unseal(s, sealed, table=table, row_id=row_id, column=column)


def test_altered_truncated_or_unknown_values_are_refused(sessions: sessionmaker[Session]) -> None:
    place = {"table": "totp_credential", "row_id": 1, "column": "secret_encrypted"}
    with sessions.begin() as s:
        sealed = seal(s, SECRET, **place)  # type: ignore[arg-type]
        flipped = bytearray(sealed)
        flipped[20] ^= 0x01
        with pytest.raises(EncryptionError, match="does not verify"):
            unseal(s, bytes(flipped), **place)  # type: ignore[arg-type]
        with pytest.raises(EncryptionError, match="truncated"):
            unseal(s, sealed[:32], **place)  # type: ignore[arg-type]
        with pytest.raises(EncryptionError, match="unknown version 2"):
            unseal(s, b"\x02" + sealed[1:], **place)  # type: ignore[arg-type]
        # Relabelled with another data key id: no such key.
        with pytest.raises(EncryptionError, match="data key 99, which is gone"):
            unseal(s, sealed[:1] + (99).to_bytes(4, "big") + sealed[5:], **place)  # type: ignore[arg-type]


def test_relabelling_with_another_existing_data_key_fails(
    sessions: sessionmaker[Session], kek: Kek
) -> None:
    with sessions.begin() as s:
        sealed = seal(s, SECRET, table="t", row_id=1, column="c")
        first, _ = active_data_key(s)
        first.active = None
        s.flush()
        from panacea.identity.encryption import new_data_key

        second = new_data_key(s, kek)
        relabelled = sealed[:1] + second.id.to_bytes(4, "big") + sealed[5:]
        with pytest.raises(EncryptionError, match="does not verify"):
            unseal(s, relabelled, table="t", row_id=1, column="c")
        # The original still opens: retired keys stay usable until rotation re-encrypts.
        assert unseal(s, sealed, table="t", row_id=1, column="c") == SECRET


@pytest.mark.parametrize(
    ("table", "row_id", "column"),
    [("Totp", 1, "c"), ("t", 1, "c;drop"), ("t", -1, "c"), ("t", True, "c"), ("t|x", 1, "c")],
)
def test_invalid_places_are_refused(
    sessions: sessionmaker[Session], table: str, row_id: int, column: str
) -> None:
    with sessions() as s, pytest.raises(EncryptionError, match="invalid"):
        seal(s, SECRET, table=table, row_id=row_id, column=column)


def test_a_copy_of_the_database_alone_reveals_nothing(db_url: str, kek: Kek) -> None:
    sessions = sealing_sessions(db_url, kek)
    row_id = store_totp(sessions, "house@example.org", SECRET)
    with sessions() as s:
        record = s.execute(select(DataKey)).scalar_one()
        raw_dek = unwrap(record, kek)
        # Every byte of every row of every table, as a dump or a stolen replica would see them.
        dump = b""
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
    sessions.kw["bind"].dispose()
    if db_url.startswith("sqlite:///"):
        dump += Path(db_url.removeprefix("sqlite:///")).read_bytes()
    assert SECRET not in dump
    assert SECRET[:16] not in dump
    assert raw_dek not in dump
    assert kek.key not in dump
    # With any other KEK the value stays closed, whether or not the KEK id is forged.
    thief = sealing_sessions(db_url, Kek.generate())
    with pytest.raises(EncryptionError, match="wrapped by KEK"):
        read_totp(thief, row_id)
    forged_kek = Kek.generate()
    with thief.begin() as s:
        s.execute(update(DataKey).values(kek_id=forged_kek.kek_id))
    forger = sealing_sessions(db_url, forged_kek)
    with pytest.raises(EncryptionError, match="does not unwrap"):
        read_totp(forger, row_id)
    thief.kw["bind"].dispose()
    forger.kw["bind"].dispose()


def test_no_kek_outside_demo_mode_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/p.db", demo_mode=False)
    with pytest.raises(
        EncryptionError, match=r"no key-encryption key configured.*PANACEA_KEK_FILE"
    ):
        kek_source(settings)


def test_demo_mode_generates_a_private_kek_next_to_the_database(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=sqlite_url, demo_mode=True)
    source = kek_source(settings)
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    assert source.file == db_file.with_name(f"{db_file.stem}.kek")
    engine = create_db_engine(sqlite_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_kek(sessions, source)
    with caplog.at_level(logging.WARNING, logger="panacea.identity.keys"):
        row_id = store_totp(sessions, "demo@example.org", SECRET)
    assert any("demo mode: generated a key-encryption key" in r.message for r in caplog.records)
    assert source.file is not None
    assert stat.S_IMODE(source.file.stat().st_mode) == 0o600
    # A new process (a new source) reads the same file back and opens the value.
    again = sessionmaker(engine, expire_on_commit=False)
    bind_kek(again, kek_source(settings))
    assert read_totp(again, row_id) == SECRET
    engine.dispose()


def test_demo_kek_for_a_server_database_goes_to_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo_mode=True)
    assert demo_kek_path(settings, "postgresql+psycopg://u@127.0.0.1/x") == tmp_path / "panacea.kek"
    assert demo_kek_path(settings, "sqlite://") == tmp_path / "panacea.kek"


def test_kek_settings_precedence_and_validation(tmp_path: Path) -> None:
    kek = Kek.generate()
    path = tmp_path / "k.kek"
    write_kek_file(path, kek)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_kek_file(path) == kek
    by_file = kek_source(Settings(kek_file=path))
    assert by_file.current().kek_id == kek.kek_id
    other = Kek.generate()
    by_value = kek_source(Settings(kek_file=path, kek=SecretStr(other.encoded())))
    assert by_value.current() == other
    with pytest.raises(EncryptionError, match="cannot create the KEK file"):
        write_kek_file(path, other)
    with pytest.raises(EncryptionError, match="not base64"):
        kek_source(Settings(kek=SecretStr("not base64!"))).current()
    with pytest.raises(EncryptionError, match="must be 32 bytes, found 18"):
        kek_source(Settings(kek=SecretStr("A" * 24))).current()
    with pytest.raises(EncryptionError, match="cannot read the KEK file"):
        kek_source(Settings(kek_file=tmp_path / "missing.kek")).current()
    # The key never shows in a repr (logs, tracebacks).
    assert kek.encoded() not in repr(kek)
    assert kek.encoded() not in repr(by_value)


def test_a_replaced_kek_file_is_picked_up_when_a_data_key_needs_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    """How a running server follows `panacea keys rotate`, which replaces the file."""
    old, new = Kek.generate(), Kek.generate()
    path = tmp_path / "k.kek"
    write_kek_file(path, old)
    source = KekSource(file=path)
    assert source.current() == old
    path.unlink()
    write_kek_file(path, new)
    assert source.matching(new.kek_id) == new
    with pytest.raises(EncryptionError, match=f"wrapped by KEK {old.kek_id}"):
        source.matching(old.kek_id)


def test_every_encrypted_looking_column_is_registered() -> None:
    """A sealed column missing from the registry would be lost when the data key rotates."""
    registered = {(c.table, c.column) for c in ENCRYPTED_COLUMNS}
    found = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, LargeBinary) and column.name.endswith("_encrypted")
    }
    assert found == registered
    for name, column in registered:
        table = Base.metadata.tables[name]
        assert column in table.columns
        assert [c.name for c in table.primary_key.columns] == ["id"]


def test_docs_list_exactly_the_registered_columns() -> None:
    """docs/security.md's table of sealed columns is the registry (the operator's reference)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    block = text.split("<!-- encrypted-columns:start -->")[1].split("<!-- encrypted-columns:end")[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    documented = {tuple(cell.strip().strip("`") for cell in row.split("|")[1:3]) for row in rows}
    assert documented == {(c.table, c.column) for c in ENCRYPTED_COLUMNS}


def test_concurrent_first_seals_share_one_data_key(db_url: str, kek: Kek) -> None:
    """Two transactions sealing at once on an empty table create exactly one data key."""
    first = sealing_sessions(db_url, kek)
    second = sealing_sessions(db_url, kek)
    results: dict[str, bytes | BaseException] = {}
    started = threading.Event()

    def seal_in_second() -> None:
        try:
            with second.begin() as s:
                started.set()
                results["b"] = seal(s, b"value-b", table="t", row_id=2, column="c")
        except BaseException as e:  # reported by the assertion below
            results["b"] = e

    with first.begin() as s:
        results["a"] = seal(s, b"value-a", table="t", row_id=1, column="c")
        worker = threading.Thread(target=seal_in_second)
        worker.start()
        started.wait(timeout=10)
        # Let the second reach its insert (it then waits on the first's uncommitted key).
        time.sleep(0.3)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(results["b"], bytes), results["b"]
    with first() as s:
        assert len(s.execute(select(DataKey)).scalars().all()) == 1
        assert unseal(s, results["a"], table="t", row_id=1, column="c") == b"value-a"  # type: ignore[arg-type]
        assert unseal(s, results["b"], table="t", row_id=2, column="c") == b"value-b"
    first.kw["bind"].dispose()
    second.kw["bind"].dispose()
