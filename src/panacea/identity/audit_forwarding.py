"""What happens to audit entries once their transaction has committed: SIEM, checkpoints.

:func:`panacea.identity.audit.append` lists each new entry in
``session.info["audit_appended"]``. The listeners installed here run on the sessions of one
factory: after a commit they send those entries to the SIEM (RFC 5424 syslog) and make the
checkpoints that fell due; after a rollback they drop the list, so a change that was rolled
back is never reported. Nothing here raises into the committing code: the change is
committed already, and a SIEM or witness that is down must not turn it into an error
(failures are logged; ``panacea audit checkpoint`` and ``panacea audit export`` catch up).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from panacea.config import Settings
from panacea.identity.audit import APPENDED_KEY, entry_json
from panacea.identity.audit_checkpoints import CheckpointError, record_checkpoint
from panacea.identity.audit_records import AuditEntry
from panacea.identity.siem import forward_entries

log = logging.getLogger(__name__)

_installed: weakref.WeakKeyDictionary[sessionmaker[Session], AuditForwarder] = (
    weakref.WeakKeyDictionary()
)


def due_checkpoints(records: Sequence[Mapping[str, Any]], every: int) -> dict[str, tuple[int, str]]:
    """Chains whose committed entries reached a multiple of ``every``: chain -> (seq, hash) of
    the last committed entry, which the checkpoint signs. ``every`` < 1 disables them."""
    if every < 1:
        return {}
    spans: dict[str, tuple[int, int, str]] = {}
    for record in records:
        chain, seq, hash_ = str(record["chain"]), int(record["seq"]), str(record["hash"])
        low, high, last = spans.get(chain, (seq, seq, hash_))
        spans[chain] = (min(low, seq), max(high, seq), hash_ if seq >= high else last)
    # Due when some multiple of ``every`` lies in [low, high]; the newest entry is signed.
    return {
        chain: (high, last)
        for chain, (low, high, last) in spans.items()
        if high // every > (low - 1) // every
    }


class AuditForwarder:
    """The after-commit work for the sessions of one factory."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        # Weak: the factory holds this forwarder (its listeners); the reverse would keep the
        # factory, and its engine, alive for ever through the registry below.
        self._sessions = weakref.ref(sessions)
        self.settings = settings

    def after_commit(self, session: Session) -> None:
        # SQLAlchemy also calls this when a savepoint is released; only the outermost commit
        # makes the entries durable.
        if session.get_nested_transaction() is not None:
            return
        appended: list[AuditEntry] = session.info.pop(APPENDED_KEY, [])
        # An entry added in a savepoint that was rolled back is no longer in the session.
        committed = [e for e in appended if inspect(e).persistent]
        if not committed:
            return
        try:
            # Copied now: the objects may be expired once the commit finishes.
            records = [entry_json(e) for e in committed]
            self.publish(records)
        except Exception:
            # The transaction is committed: an error raised from here would reach the caller
            # as if its change had failed. Whatever went wrong is logged instead.
            log.exception("audit entries committed but not forwarded or checkpointed")

    def after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        # The outermost transaction ended: after a commit the list is gone already; after a
        # rollback or close() nothing of it may be forwarded. A savepoint's end (rolled back
        # or not) leaves the outer transaction's entries in place; the persistence check of
        # after_commit drops those that the savepoint took with it.
        if transaction.parent is None:
            session.info.pop(APPENDED_KEY, None)

    def publish(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Send committed entries to the SIEM and make the checkpoints that are due."""
        forward_entries(self.settings, records)
        sessions = self._sessions()
        if sessions is None:
            return
        for chain, (seq, hash_) in due_checkpoints(
            records, self.settings.audit_checkpoint_every
        ).items():
            try:
                record_checkpoint(sessions, self.settings, chain, seq, hash_)
            except (CheckpointError, SQLAlchemyError) as e:
                log.error("audit checkpoint of %s at seq %d not made: %s", chain, seq, e)


def install_audit_forwarding(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Forward committed audit entries of ``sessions``' sessions to the SIEM and checkpoint
    the chains every ``settings.audit_checkpoint_every`` entries. Installing twice on the same
    factory changes nothing."""
    if sessions in _installed:
        return
    forwarder = AuditForwarder(sessions, settings)
    _installed[sessions] = forwarder
    event.listen(sessions, "after_commit", forwarder.after_commit)
    event.listen(sessions, "after_transaction_end", forwarder.after_transaction_end)
