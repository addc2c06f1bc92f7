"""Storage: engine, sessions, declarative base and Alembic migrations."""

from panacea.db.base import Base, OrgOwned, utcnow
from panacea.db.engine import create_db_engine, migrate, open_database, session_scope

__all__ = [
    "Base",
    "OrgOwned",
    "create_db_engine",
    "migrate",
    "open_database",
    "session_scope",
    "utcnow",
]
