"""Audit routes: list with filters and pages, verify, export (itself audited); audit:read only."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from panacea.identity.audit import AuditEvent, append
from panacea.identity.audit_records import AuditEntry, chain_of
from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld
from tests.identity.test_audit_export import assert_r4_audit_event


def _record(world: ApiWorld, org: int, *actions: str) -> None:
    with world.sessions.begin() as session:
        for n, action in enumerate(actions):
            append(
                session,
                AuditEvent(
                    action=action,
                    organisation_id=org,
                    actor_user_id=1,
                    actor="someone@a.example",
                    via="session",
                    target=f"asset:{n}",
                    outcome="failure" if action == "auth.login" else "success",
                    details={"n": n},
                ),
            )


def _auditor(world: ApiWorld, org: int) -> Any:
    return world.session_client(world.user("auditor@a.example", {org: Role.AUDITOR}))


def test_an_auditor_pages_through_the_log_with_filters(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    _record(
        api_world, a, "auth.login", "asset.updated", "auth.logout", "asset.updated", "plan.created"
    )
    _record(api_world, b, "asset.updated")
    client = _auditor(api_world, a)

    seen: list[int] = []
    url: str | None = f"/api/v1/orgs/{a}/audit?limit=2"
    for _ in range(10):
        if url is None:
            break
        page = client.get(url).json()
        seen += [item["seq"] for item in page["items"]]
        url = f"/api/v1/orgs/{a}/audit?limit=2&cursor={page['next']}" if page["next"] else None
    assert seen == [1, 2, 3, 4, 5]

    auth = client.get(f"/api/v1/orgs/{a}/audit", params={"action": "auth.*"}).json()
    assert [i["action"] for i in auth["items"]] == ["auth.login", "auth.logout"]
    item = auth["items"][0]
    assert (item["chain"], item["outcome"], item["target"]) == (chain_of(a), "failure", "asset:0")
    assert len(item["hash"]) == len(item["prev_hash"]) == 64
    failures = client.get(f"/api/v1/orgs/{a}/audit", params={"outcome": "failure"}).json()
    assert [i["seq"] for i in failures["items"]] == [1]
    future = client.get(f"/api/v1/orgs/{a}/audit", params={"since": "2999-01-01T00:00:00Z"})
    assert future.json()["items"] == []
    naive = client.get(f"/api/v1/orgs/{a}/audit", params={"since": "2025-01-01T00:00:00"})
    assert naive.status_code == 422


def test_only_audit_read_opens_the_log(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    analyst = api_world.session_client(api_world.user("analyst@a.example", {a: Role.ANALYST}))
    outsider = api_world.session_client(api_world.user("aud@b.example", {b: Role.AUDITOR}))
    for path in ("", "/verify", "/export"):
        denied = analyst.get(f"/api/v1/orgs/{a}/audit{path}")
        assert denied.status_code == 403
        assert denied.json()["type"] == "urn:panacea:problem:permission-denied"
        assert outsider.get(f"/api/v1/orgs/{a}/audit{path}").status_code == 404
    assert api_world.anonymous_client().get(f"/api/v1/orgs/{a}/audit").status_code == 401


def test_verify_reports_the_first_bad_entry(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    _record(api_world, a, "asset.updated", "asset.updated", "asset.updated")
    client = _auditor(api_world, a)
    clean = client.get(f"/api/v1/orgs/{a}/audit/verify").json()
    assert clean["ok"] is True
    assert (clean["chain"], clean["entries"], clean["problem"]) == (chain_of(a), 3, None)

    with api_world.sessions.begin() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.chain == chain_of(a), AuditEntry.seq == 2)
            .values(actor="nobody@a.example")
        )
        victim = session.execute(
            select(AuditEntry.id).where(AuditEntry.chain == chain_of(a), AuditEntry.seq == 2)
        ).scalar_one()
    report = client.get(f"/api/v1/orgs/{a}/audit/verify").json()
    assert report["ok"] is False
    assert report["problem"]["kind"] == "modified"
    assert (report["problem"]["seq"], report["problem"]["entry_id"]) == (2, victim)


def test_exports_are_streamed_and_audited(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    _record(api_world, a, "auth.login", "asset.updated")
    client = _auditor(api_world, a)

    jsonl = client.get(f"/api/v1/orgs/{a}/audit/export", params={"format": "jsonl"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/jsonl")
    assert "attachment" in jsonl.headers["content-disposition"]
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    # The export is recorded before the first line goes out, so it is in the export.
    assert [r["action"] for r in records] == ["auth.login", "asset.updated", "audit.exported"]
    exported = records[-1]
    assert exported["details"] == {"format": "jsonl", "filter": {}}
    assert exported["actor"] == "auditor@a.example"

    fhir = client.get(
        f"/api/v1/orgs/{a}/audit/export", params={"format": "fhir", "action": "auth.*"}
    )
    assert fhir.headers["content-type"].startswith("application/fhir+ndjson")
    (resource,) = [json.loads(line) for line in fhir.text.splitlines()]
    assert_r4_audit_event(resource)
    assert resource["type"]["code"] == "110114"

    with api_world.sessions() as session:
        exports = session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "audit.exported")
        ).scalars()
        assert [d["format"] for d in exports] == ["jsonl", "fhir"]
    assert client.get(f"/api/v1/orgs/{a}/audit/export", params={"format": "csv"}).status_code == 422
