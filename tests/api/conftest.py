"""API fixtures: an app on a fresh database, users with roles, authenticated clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.models import Membership, User
from panacea.identity.passwords import cheap_hashing_for_tests_only, set_password
from panacea.identity.roles import Role
from panacea.identity.sessions import SESSION_COOKIE, create_session
from panacea.inventory.organisation import Organisation


@dataclass
class ApiWorld:
    """A running app with its database."""

    client: TestClient
    sessions: sessionmaker[Session]
    settings: Settings

    def organisation(self, name: str) -> int:
        with self.sessions.begin() as s:
            org = Organisation(name=name)
            s.add(org)
            s.flush()
            return org.id

    def user(self, email: str, memberships: dict[int, Role]) -> int:
        with self.sessions.begin() as s:
            user = User(email=email, display_name=email.split("@")[0])
            s.add(user)
            s.flush()
            for org_id, role in memberships.items():
                s.add(Membership(user_id=user.id, organisation_id=org_id, role=role.value))
            return user.id

    def give_password(self, user_id: int, password: str) -> None:
        """Set the user's password through the policy (as the user would)."""
        with self.sessions.begin() as s:
            user = s.get(User, user_id)
            assert user is not None
            set_password(s, user, password)

    def anonymous_client(self) -> TestClient:
        """A fresh browser: no cookie, no CSRF header."""
        return TestClient(self.client.app, base_url="http://localhost:8000")

    def session_client(self, user_id: int, *, assurance: str = "mfa") -> TestClient:
        """A client logged in as the user (session created directly, MFA passed)."""
        with self.sessions.begin() as s:
            user = s.get(User, user_id)
            assert user is not None
            row, token = create_session(s, user=user, assurance=assurance)
            csrf = row.csrf_token
        client = TestClient(self.client.app, base_url="http://localhost:8000")
        client.cookies.set(SESSION_COOKIE, token)
        client.headers["X-CSRF-Token"] = csrf
        return client


@pytest.fixture
def cheap_hashing() -> Iterator[None]:
    """argon2 with the smallest parameters for the test (production ones are tested apart)."""
    with cheap_hashing_for_tests_only():
        yield


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    # data_dir: where demo mode generates its KEK for a PostgreSQL database (not the repo).
    return Settings(database_url=db_url, demo_mode=True, data_dir=tmp_path)


@pytest.fixture
def api_world(api_settings: Settings) -> Iterator[ApiWorld]:
    engine = create_db_engine(api_settings.database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = create_app(api_settings, sessions=sessions)
    with TestClient(app, base_url="http://localhost:8000") as client:
        yield ApiWorld(client=client, sessions=sessions, settings=api_settings)
    engine.dispose()
