"""Fixtures of the identity tests: cheap argon2 and session factories that can seal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import create_db_engine
from panacea.identity.keys import Kek, KekSource, bind_kek
from panacea.identity.passwords import cheap_hashing_for_tests_only


@pytest.fixture
def cheap_hashing() -> Iterator[None]:
    """argon2 with the smallest parameters for the test (production ones are tested apart)."""
    with cheap_hashing_for_tests_only():
        yield


@pytest.fixture
def auth_sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on ``db_url`` whose sessions seal with a fresh KEK."""
    engine = create_db_engine(db_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_kek(sessions, KekSource(value=SecretStr(Kek.generate().encoded())))
    yield sessions
    engine.dispose()
