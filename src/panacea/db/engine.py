"""Engine creation, migrations and transactional sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.errors import StorageError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; cascades and integrity depend on them.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """Return an engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://...``).

    Raises StorageError if the URL is malformed or names an unknown driver.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+psycopg://"):
        # psycopg prepares a statement after five runs; right after a bulk import the server's
        # generic plan for the chunked IN (...) lookups is many times slower than a custom one.
        connect_args["prepare_threshold"] = None
    try:
        # hide_parameters: values (tokens, CSRF secrets, personal data) never appear in the text
        # of a database error, which may reach a log.
        engine = create_engine(url, future=True, connect_args=connect_args, hide_parameters=True)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise StorageError(f"cannot open database {url!r}: {e}") from e
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration pointing at the packaged migrations and at ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("panacea.db") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the newest migration."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as e:
        raise StorageError(f"cannot migrate database: {e}") from e


def open_database(url: str) -> sessionmaker[Session]:
    """Open (and migrate) the database at ``url``; return its session factory."""
    engine = create_db_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
