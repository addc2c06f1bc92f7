"""Two API processes behind one PostgreSQL database serve the same sessions and tokens.

API processes are stateless (DESIGN.md section 4): a session opened on one is valid on the
other, a token issued by one works on the other, and a logout or revocation on one is seen by
the other at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from panacea.db.engine import create_db_engine
from panacea.identity.keys import Kek, write_kek_file
from panacea.identity.models import Membership, User
from panacea.identity.passwords import set_password
from panacea.identity.roles import Role
from panacea.inventory.organisation import Organisation
from tests.cli.test_serve import clean_env, free_port, serve, stop, wait_healthy

pytestmark = pytest.mark.postgres
PASSWORD = secrets.token_urlsafe(18)


@pytest.fixture
def org_and_user(postgres_url: str) -> tuple[int, str]:
    engine = create_db_engine(postgres_url)
    with sessionmaker(engine).begin() as s:
        org = Organisation(name="Shared Hospital")
        user = User(email="analyst@shared.example", display_name="Analyst")
        s.add_all([org, user])
        s.flush()
        s.add(Membership(user_id=user.id, organisation_id=org.id, role=Role.ANALYST.value))
        set_password(s, user, PASSWORD)
        ids = (org.id, user.email)
    engine.dispose()
    return ids


@pytest.fixture
def two_servers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    kek_file = tmp_path / "panacea.kek"
    write_kek_file(kek_file, Kek.generate())
    env = clean_env(
        secret_key=secrets.token_urlsafe(32),
        kek_file=str(kek_file),
        audit_signing_key_file=str(tmp_path / "audit.pem"),
        audit_checkpoint_file=str(tmp_path / "checkpoints.jsonl"),
        data_dir=str(tmp_path),
    )
    ports = [free_port(), free_port()]
    processes = [serve(postgres_url, port, env, "127.0.0.1") for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for process, base in zip(processes, bases, strict=True):
            assert wait_healthy(process, f"{base}/api/v1/health").status_code == 200
        yield bases[0], bases[1]
    finally:
        for process in processes:
            stop(process)


def test_sessions_and_tokens_are_shared_between_processes(
    two_servers: tuple[str, str], org_and_user: tuple[int, str]
) -> None:
    first, second = two_servers
    org_id, email = org_and_user
    with httpx.Client(base_url=first, timeout=30) as a:
        login = a.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        cookies = dict(a.cookies.items())
    headers = {"X-CSRF-Token": csrf}
    with httpx.Client(base_url=second, timeout=30, cookies=cookies, headers=headers) as b:
        assert b.get(f"/api/v1/orgs/{org_id}").status_code == 200
        created = b.post(
            f"/api/v1/orgs/{org_id}/tokens",
            json={"name": "ci", "scopes": ["inventory:read"], "expires_in_days": 1},
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        token_id = created.json()["token"]["id"]
    bearer = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=first, timeout=30, headers=bearer) as a:
        assert a.get(f"/api/v1/orgs/{org_id}/assets").status_code == 200
    # Revoked on the first process: refused by the second at once.
    with httpx.Client(base_url=first, timeout=30, cookies=cookies, headers=headers) as a:
        assert a.delete(f"/api/v1/orgs/{org_id}/tokens/{token_id}").status_code == 204
        assert a.post("/api/v1/auth/logout").status_code == 204
    with httpx.Client(base_url=second, timeout=30, headers=bearer) as b:
        assert b.get(f"/api/v1/orgs/{org_id}/assets").status_code == 401
    with httpx.Client(base_url=second, timeout=30, cookies=cookies) as b:
        assert b.get(f"/api/v1/orgs/{org_id}").status_code == 401
