"""Who makes an administrative change: a member acting through the API, or the operator's CLI.

Services that change accounts take an :class:`Actor` so that they can append the audit entry
in the same transaction as the change, and decide whether the actor has authority over an
account that also belongs to other organisations.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from panacea.identity.audit import AuditEvent
from panacea.identity.principal import OrgAccess


@dataclass(frozen=True, kw_only=True)
class Actor:
    """The author of a change, as the audit log records it.

    ``user_id`` is None for the platform operator (the ``panacea`` CLI run on the server, with
    direct access to the database): such an actor has authority over every account.
    ``token_organisation_id`` is the one organisation an API token is bound to.
    """

    user_id: int | None
    name: str
    via: str
    client_address: str = ""
    break_glass_grant_id: int | None = None
    token_organisation_id: int | None = None

    @classmethod
    def of(cls, access: OrgAccess) -> Actor:
        """The caller of an API route."""
        principal = access.principal
        return cls(
            user_id=principal.user_id,
            name=principal.actor,
            via=principal.via,
            client_address=principal.client_address,
            break_glass_grant_id=access.break_glass_grant_id,
            token_organisation_id=principal.token_organisation_id,
        )

    @classmethod
    def operator(cls) -> Actor:
        """The operator running the CLI: the console has no login, so the operating-system
        account and host name it (as :meth:`panacea.cli.state.CliState.audit` does)."""
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers) nor LOGNAME/USER
            login = "unknown"
        return cls(user_id=None, name=f"{login}@{socket.gethostname()}", via="cli")

    @property
    def is_operator(self) -> bool:
        return self.user_id is None

    def event(
        self,
        action: str,
        *,
        organisation_id: int | None,
        target: str = "",
        outcome: str = "success",
        **details: Any,
    ) -> AuditEvent:
        """An audit event by this actor, in the chain of ``organisation_id``."""
        return AuditEvent(
            action=action,
            organisation_id=organisation_id,
            actor_user_id=self.user_id,
            actor=self.name,
            via=self.via,
            outcome=outcome,
            target=target,
            client_address=self.client_address,
            break_glass_grant_id=self.break_glass_grant_id,
            details=details,
        )
