"""What the top-level options set for every command: the database and the verbosity."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import open_database


@dataclass
class CliState:
    database_url: str
    verbose: bool = False
    _factory: sessionmaker[Session] | None = None

    def factory(self) -> sessionmaker[Session]:
        """The session factory of the selected database, opened (and migrated) once."""
        if self._factory is None:
            self._factory = open_database(self.database_url)
        return self._factory


def state(ctx: typer.Context) -> CliState:
    """The CliState the main callback stored on the context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise RuntimeError("the panacea CLI was not started through its main callback")
    return obj
