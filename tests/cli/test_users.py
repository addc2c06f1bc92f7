"""``panacea users``: create, grant, list, reset, disable; passwords printed once; audited."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.cli.main import main
from panacea.db.engine import create_db_engine
from panacea.identity.audit_records import AuditEntry
from panacea.identity.models import User
from panacea.identity.passwords import cheap_hashing_for_tests_only, verify_password
from panacea.identity.sessions import create_session
from panacea.inventory.service import ensure_organisation

ORG = "Hospital A"


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    with cheap_hashing_for_tests_only():
        yield


@pytest.fixture
def db(sqlite_url: str) -> Iterator[tuple[str, sessionmaker[Session]]]:
    engine = create_db_engine(sqlite_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        ensure_organisation(s, ORG)
    yield sqlite_url, sessions
    engine.dispose()


def _run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--db", url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _user(sessions: sessionmaker[Session], email: str) -> User:
    with sessions() as s:
        user = s.execute(select(User).where(User.email == email)).scalar_one()
        s.expunge(user)
        return user


def _password_in(out: str) -> str:
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if "shown once" in line)
    return lines[index + 1].strip()


def test_create_prints_a_one_time_password_that_verifies(
    db: tuple[str, sessionmaker[Session]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, sessions = db
    code, out, _ = _run(
        capsys, url, "users", "create", "Admin@A.example", "--org", ORG, "--role", "admin"
    )
    assert code == 0
    assert "created admin@a.example" in out
    password = _password_in(out)
    user = _user(sessions, "admin@a.example")
    assert user.password_hash is not None
    assert verify_password(user.password_hash, password)
    assert user.password_changed_at is None  # to be replaced at first sign-in
    with sessions() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [e.action for e in entries] == ["user.created", "membership.added"]
    assert {e.via for e in entries} == {"cli"}
    assert all(password not in json.dumps(e.details) for e in entries)
    code, _, err = _run(
        capsys, url, "users", "create", "admin@a.example", "--org", ORG, "--role", "viewer"
    )
    assert code == 1
    assert "already exists" in err


def test_create_with_a_chosen_password_from_stdin(
    db: tuple[str, sessionmaker[Session]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, sessions = db
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    argv = ["users", "create", "lead@a.example", "--org", ORG, "--role", "security_lead"]
    code, out, _ = _run(capsys, url, *argv, "--name", "Lead", "--password-stdin")
    assert code == 0
    assert "shown once" not in out
    user = _user(sessions, "lead@a.example")
    assert user.password_hash is not None
    assert verify_password(user.password_hash, "correct horse battery staple")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = _run(
        capsys,
        url,
        "users",
        "create",
        "x@a.example",
        "--org",
        ORG,
        "--role",
        "viewer",
        "--password-stdin",
    )
    assert code == 1
    assert "too short" in err
    with sessions() as s:
        assert s.execute(select(User).where(User.email == "x@a.example")).first() is None


def test_grant_list_reset_and_disable(
    db: tuple[str, sessionmaker[Session]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, sessions = db
    with sessions.begin() as s:
        ensure_organisation(s, "Hospital B")
    for email, role in [("admin@a.example", "admin"), ("nurse@a.example", "analyst")]:
        assert _run(capsys, url, "users", "create", email, "--org", ORG, "--role", role)[0] == 0
    code, out, _ = _run(
        capsys, url, "users", "grant", "nurse@a.example", "--org", "Hospital B", "--role", "viewer"
    )
    assert (code, out.strip()) == (0, "nurse@a.example is viewer in Hospital B")
    code, out, _ = _run(capsys, url, "users", "list", "--org", ORG, "--format", "json")
    document = json.loads(out)
    assert document["schema"] == "panacea.users/1"
    assert [(u["email"], u["role"]) for u in document["users"]] == [
        ("admin@a.example", "admin"),
        ("nurse@a.example", "analyst"),
    ]
    code, out, _ = _run(capsys, url, "users", "list")
    assert (code, out.split()[:2]) == (0, ["2", "accounts"])
    code, out, _ = _run(capsys, url, "users", "list", "--format", "json")
    accounts = {u["email"]: u for u in json.loads(out)["users"]}
    assert accounts["nurse@a.example"]["memberships"] == [
        ["Hospital A", "analyst"],
        ["Hospital B", "viewer"],
    ]

    nurse = _user(sessions, "nurse@a.example")
    with sessions.begin() as s:
        row = s.get(User, nurse.id)
        assert row is not None
        create_session(s, user=row, assurance="password")
    code, out, _ = _run(capsys, url, "users", "reset-password", "nurse@a.example")
    assert code == 0
    new_password = _password_in(out)
    nurse = _user(sessions, "nurse@a.example")
    assert nurse.password_hash is not None
    assert verify_password(nurse.password_hash, new_password)
    code, out, _ = _run(capsys, url, "users", "reset-mfa", "nurse@a.example")
    assert code == 0
    assert "0 sessions ended" in out  # the reset above ended the only one

    code, _, err = _run(capsys, url, "users", "disable", "admin@a.example")
    assert code == 1
    assert "last administrator" in err
    code, out, _ = _run(capsys, url, "users", "disable", "nurse@a.example", "--reason", "left")
    assert code == 0
    assert _user(sessions, "nurse@a.example").disabled
    with sessions() as s:
        disabled = s.execute(
            select(AuditEntry.organisation_id).where(AuditEntry.action == "user.disabled")
        ).scalars()
        assert set(disabled) == {1, 2}  # audited in both organisations of the user
    code, _, err = _run(capsys, url, "users", "disable", "nobody@a.example")
    assert (code, err.count("\n")) == (1, 1)
    assert "no user nobody@a.example" in err
