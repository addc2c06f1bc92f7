"""What the top-level options set for every command: the database and the verbosity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import get_settings
from panacea.db.engine import open_database
from panacea.identity.actors import Actor
from panacea.identity.audit import append
from panacea.identity.audit_forwarding import install_audit_forwarding


@dataclass
class CliState:
    database_url: str
    verbose: bool = False
    _factory: sessionmaker[Session] | None = None

    def factory(self) -> sessionmaker[Session]:
        """The session factory of the selected database, opened (and migrated) once."""
        if self._factory is None:
            self._factory = open_database(self.database_url)
            # Changes made at the console reach the SIEM and the checkpoints like the API's.
            settings = get_settings().model_copy(update={"database_url": self.database_url})
            install_audit_forwarding(self._factory, settings)
        return self._factory

    def audit(
        self,
        session: Session,
        action: str,
        *,
        organisation_id: int | None,
        target: str = "",
        **details: Any,
    ) -> None:
        """Record a command's change in the audit log, in ``session``'s transaction.

        The console has no login: the actor is the operating-system account and host.
        """
        append(
            session,
            Actor.operator().event(
                action, organisation_id=organisation_id, target=target, **details
            ),
        )


def state(ctx: typer.Context) -> CliState:
    """The CliState the main callback stored on the context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise RuntimeError("the panacea CLI was not started through its main callback")
    return obj
