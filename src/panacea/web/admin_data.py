"""The data of the administration pages: members, API tokens, the audit log and its check.

Read through the identity services the API uses (``user_views.list_users``,
``api_tokens.list_tokens``, ``audit_export.entries_query``, ``audit_verify.verify_audit``);
the changes made from the pages (role, token revocation) go through ``users.set_role`` and
``api_tokens.revoke``, which append their own audit entries.

The audit table is paged by ``seq`` on the unique index (chain, seq), newest first by default.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from panacea.config import Settings
from panacea.identity import api_tokens, users
from panacea.identity.actors import Actor
from panacea.identity.audit_checkpoints import CheckpointError
from panacea.identity.audit_export import AuditFilter, entries_query
from panacea.identity.audit_records import AuditEntry, chain_of
from panacea.identity.audit_verify import verify_audit
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission, Role
from panacea.identity.user_views import list_users
from panacea.web.table_paging import TablePage, TableRequest

log = logging.getLogger(__name__)

AUDIT_SORTS = ("seq",)
DETAILS_MAX_CHARS = 300
# Members shown on the users page (an organisation has tens to hundreds).
MAX_MEMBERS = 2000


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def member_rows(session: Session, organisation_id: int) -> list[dict[str, Any]]:
    """The organisation's members for the users table, by user id."""
    return [
        {
            "id": m.user_id,
            "email": m.email,
            "name": m.display_name,
            "role": m.role,
            "mfa": ", ".join(m.mfa_methods) or ("none (required)" if m.mfa_required else "none"),
            "state": "disabled" if m.disabled else "active",
            "sso": "yes" if m.from_sso else "",
            "break_glass": "eligible" if m.break_glass_eligible else "",
            "last_login": _when(m.last_login_at),
        }
        for m in list_users(session, organisation_id, limit=MAX_MEMBERS)
    ]


def change_role(session: Session, access: OrgAccess, user_id: int, role: str) -> str:
    """Give member ``user_id`` ``role`` (``users.set_role``: audited ``role.changed``).

    Raises IdentityError subclasses as ``set_role`` does (a non-member, the last
    administrator, a role single sign-on assigns) and ValueError for an unknown role.
    """
    view = users.set_role(
        session, access.organisation_id, user_id, Role(role), actor=Actor.of(access)
    )
    return view.role


def token_rows(session: Session, access: OrgAccess) -> list[dict[str, Any]]:
    """The caller's tokens (every token of the organisation for administrators)."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "prefix": t.prefix,
            "owner": t.owner_email,
            "scopes": ", ".join(t.scopes),
            "created": _when(t.created_at),
            "expires": _when(t.expires_at),
            "last_used": _when(t.last_used_at),
            "status": t.status,
        }
        for t in api_tokens.list_tokens(session, access)
    ]


def revoke_token(session: Session, access: OrgAccess, token_id: int) -> str:
    """Revoke token ``token_id`` (``api_tokens.revoke``: audited ``token.revoked``)."""
    return api_tokens.revoke(session, access, token_id).status


def grantable(access: OrgAccess) -> list[str]:
    """The scopes the caller may give a new token, in the matrix's order."""
    allowed = api_tokens.grantable_scopes(access)
    return [p.value for p in Permission if p in allowed]


@dataclass(frozen=True)
class AuditQuery:
    """The audit table's filters: an action (``auth.*`` for a prefix), an outcome, break-glass."""

    action: str | None = None
    outcome: str | None = None
    break_glass: bool | None = None

    def audit_filter(self) -> AuditFilter:
        return AuditFilter(action=self.action, outcome=self.outcome, break_glass=self.break_glass)


def audit_page(
    session: Session, organisation_id: int, query: AuditQuery, request: TableRequest
) -> TablePage:
    """One page of the organisation's audit log (its chain), by seq."""
    stmt = entries_query(organisation_id, query.audit_filter())
    total = session.scalar(stmt.with_only_columns(func.count(AuditEntry.id)).order_by(None)) or 0
    if request.offset >= total > 0:
        last = (total - 1) // request.size + 1
        request = TableRequest(last, request.size, request.sort, request.descending)
    order = AuditEntry.seq.desc() if request.descending else AuditEntry.seq.asc()
    rows = session.scalars(stmt.order_by(order).limit(request.size).offset(request.offset))
    return TablePage([_entry(e) for e in rows], int(total), request)


def _entry(e: AuditEntry) -> dict[str, Any]:
    details = json.dumps(e.details, sort_keys=True, ensure_ascii=False, default=str)
    if len(details) > DETAILS_MAX_CHARS:
        details = details[: DETAILS_MAX_CHARS - 1] + "…"
    return {
        "id": e.id,
        "seq": e.seq,
        "at": e.at.strftime("%Y-%m-%d %H:%M:%S"),
        "actor": e.actor,
        "via": e.via,
        "action": e.action,
        "outcome": e.outcome,
        "target": e.target,
        "break_glass": "break-glass" if e.break_glass_grant_id is not None else "",
        "address": e.client_address,
        "details": details,
    }


@dataclass(frozen=True)
class Verification:
    """The check of the organisation's chain, as the page states it (word, never colour)."""

    ok: bool
    text: str


def verify_chain(session: Session, settings: Settings, organisation_id: int) -> Verification:
    """Verify the organisation's chain as ``GET .../audit/verify`` does (read-only)."""
    try:
        report = verify_audit(session, settings, chains=[chain_of(organisation_id)])
    except CheckpointError as e:
        log.error("audit verification of organisation %s: %s", organisation_id, e)
        return Verification(
            False,
            "Not verified: the audit signing key or checkpoint file cannot be read "
            "(see the server log).",
        )
    chain = report.chains[0]
    signatures = (
        "signatures checked"
        if report.signatures_checked
        else "signatures not checked (no trusted key configured)"
    )
    if chain.ok:
        return Verification(
            True,
            f"Verified: {chain.entries:,} entries (last seq {chain.last_seq}), "
            f"{chain.checkpoints} checkpoints, {chain.witnessed} witnessed, {signatures}.",
        )
    problem = chain.problem
    if problem is None:  # pragma: no cover - a chain is not ok only with a problem
        return Verification(False, "Not verified.")
    where = f" at seq {problem.seq}" if problem.seq is not None else ""
    return Verification(
        False, f"TAMPERING DETECTED ({problem.kind.value}{where}): {problem.message}"
    )
