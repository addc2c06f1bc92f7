"""Administration pages: members and roles, API tokens, the audit log and its verification,
and the browser-side calls that keep secrets off the websocket."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from panacea.identity import api_tokens
from panacea.identity.audit import append
from panacea.identity.audit_records import AuditEntry, chain_of
from panacea.identity.errors import ConflictError
from panacea.identity.roles import Permission, Role
from panacea.web.admin_data import (
    AuditQuery,
    audit_page,
    change_role,
    grantable,
    member_rows,
    revoke_token,
    token_rows,
    verify_chain,
)
from panacea.web.browser_api import answer_of, call_script
from panacea.web.table_paging import TableRequest
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of
from tests.web.conftest import elements, find, signed_in
from tests.web.org_access import member_access

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def test_members_of_this_organisation_only(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    other = api_world.organisation("St Bart")
    api_world.user("nurse@anne.example", {org: Role.VIEWER})
    api_world.user("doc@bart.example", {other: Role.VIEWER})
    with api_world.sessions() as db:
        rows = member_rows(db, org)
    assert [r["email"] for r in rows] == ["nurse@anne.example"]
    assert rows[0]["role"] == "viewer"
    assert rows[0]["state"] == "active"


def test_role_change_is_audited_and_the_last_admin_stays(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    admin = member_access(api_world, "admin@anne.example", org, Role.ADMIN)
    nurse = api_world.user("nurse@anne.example", {org: Role.VIEWER})
    with api_world.sessions.begin() as db:
        assert change_role(db, admin, nurse, "analyst") == "analyst"
    [entry] = audit_of(api_world, org, "role.changed")
    assert entry.target == f"user:{nurse}"
    assert entry.details == {"old": "viewer", "new": "analyst"}
    with api_world.sessions() as db, pytest.raises(ConflictError, match="last administrator"):
        change_role(db, admin, admin.principal.user_id, "viewer")
    with api_world.sessions() as db, pytest.raises(ValueError, match="not a valid Role"):
        change_role(db, admin, nurse, "overlord")


def test_tokens_listed_and_revoked_with_audit(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    analyst = member_access(api_world, "a@anne.example", org, Role.ANALYST)
    with api_world.sessions.begin() as db:
        view, secret = api_tokens.issue_token(
            db,
            analyst,
            name="exporter",
            scopes=[Permission.FINDINGS_READ],
            lifetime=timedelta(days=30),
            max_lifetime=timedelta(days=365),
        )
    assert Permission.FINDINGS_READ.value in grantable(analyst)
    assert Permission.USERS_MANAGE.value not in grantable(analyst)
    with api_world.sessions() as db:
        [row] = token_rows(db, analyst)
    assert row["name"] == "exporter"
    assert row["status"] == "active"
    assert secret not in json.dumps(row)
    with api_world.sessions.begin() as db:
        assert revoke_token(db, analyst, view.id) == "revoked"
    [entry] = audit_of(api_world, org, "token.revoked")
    assert entry.target == f"token:{view.id}"


def test_audit_pages_newest_first_with_filters(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    admin = member_access(api_world, "admin@anne.example", org, Role.ADMIN)
    for n in range(12):
        with api_world.sessions.begin() as db:
            append(db, admin.event("test.thing" if n % 2 else "auth.thing", target=f"n:{n}"))
    with api_world.sessions() as db:
        first = audit_page(db, org, AuditQuery(), TableRequest(1, 10, "seq", True))
        second = audit_page(db, org, AuditQuery(), TableRequest(2, 10, "seq", True))
        auth = audit_page(db, org, AuditQuery(action="auth.*"), TableRequest(1, 25, "seq", False))
    seqs = [r["seq"] for r in first.rows + second.rows]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == first.total == 12
    assert [r["target"] for r in auth.rows] == [f"n:{n}" for n in range(0, 12, 2)]


def test_verification_states_tampering_in_words(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    admin = member_access(api_world, "admin@anne.example", org, Role.ADMIN)
    with api_world.sessions.begin() as db:
        for n in range(3):
            append(db, admin.event("test.thing", target=f"n:{n}"))
    with api_world.sessions() as db:
        good = verify_chain(db, api_world.settings, org)
    assert good.ok
    assert good.text.startswith("Verified: 3 entries")
    with api_world.sessions.begin() as db:
        db.execute(
            update(AuditEntry)
            .where(AuditEntry.chain == chain_of(org), AuditEntry.seq == 2)
            .values(target="n:changed")
        )
    with api_world.sessions() as db:
        bad = verify_chain(db, api_world.settings, org)
    assert not bad.ok
    assert bad.text.startswith("TAMPERING DETECTED (modified at seq 2)")


def test_browser_calls_carry_values_as_json_literals() -> None:
    script = call_script(
        "POST",
        "/api/v1/orgs/3/users",
        {"email": "x'); alert(1); ('@h.example", "display_name": "</script><b>"},
        secret_field=("initial_password",),
        reveal="user-initial-password",
    )
    assert json.dumps({"email": "x'); alert(1); ('@h.example", "display_name": "</script><b>"}) in (
        script
    )
    assert 'data["initial_password"]' in script
    assert json.dumps("[data-testid=user-initial-password]") in script
    with pytest.raises(ValueError, match="unsupported method"):
        call_script("DELETE", "/x", {}, secret_field=("a",), reveal="b")
    assert answer_of({"status": 201, "detail": "", "revealed": True}).ok
    refused = answer_of({"status": 409, "detail": "already a member", "revealed": "yes"})
    assert not refused.ok
    assert refused.detail == "already a member"
    assert not refused.revealed
    assert answer_of("nonsense").status == 0


def test_admin_pages_follow_the_matrix(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    admin = signed_in(api_world, api_world.user("admin@anne.example", {org: Role.ADMIN}))
    users = elements(admin.get("/admin/users"))
    for testid in ("users-table", "user-role-select", "user-role-submit", "user-add-submit"):
        assert find(users, testid) is not None, testid
    secret = find(users, "user-initial-password")
    assert secret is not None
    assert secret["props"].get("hidden") is True
    auditor = signed_in(api_world, api_world.user("aud@anne.example", {org: Role.AUDITOR}))
    read_only = elements(auditor.get("/admin/users"))
    assert find(read_only, "users-table") is not None
    assert find(read_only, "user-role-submit") is None
    audit = elements(auditor.get("/admin/audit"))
    for testid in ("audit-table", "audit-verify-status", "audit-verify", "audit-action"):
        assert find(audit, testid) is not None, testid
    assert auditor.get("/admin/tokens").status_code == 403  # auditors hold no tokens:manage
    tokens = elements(admin.get("/admin/tokens"))
    for testid in ("tokens-table", "token-name", "token-scopes", "token-create", "token-secret"):
        assert find(tokens, testid) is not None, testid
    viewer = signed_in(api_world, api_world.user("v@anne.example", {org: Role.VIEWER}))
    assert viewer.get("/admin/audit").status_code == 403
