"""Break-glass routes: request with step-up, the flag on every response, alert, end, review."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry
from panacea.identity.models import BreakGlassGrant, Membership, User, UserSession
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import SESSION_COOKIE, create_session
from panacea.identity.tokens import create_token
from tests.api.conftest import ApiWorld
from tests.identity.alert_listeners import (
    MailSink,
    free_port,
    smtp_server,
    syslog_payload,
    syslog_receiver,
)

API = "/api/v1"
HEADER = "X-Panacea-Break-Glass"
REASON = "Ransomware on the PACS server, on-call lead unreachable, must isolate the VLAN now"


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def syslog() -> Iterator[tuple[socket.socket, int]]:
    with syslog_receiver() as receiver:
        yield receiver


@pytest.fixture
def api_settings(
    db_url: str, tmp_path: Path, mail: tuple[MailSink, int], syslog: tuple[socket.socket, int]
) -> Settings:
    """The app alerts through a real SMTP server and a syslog socket on 127.0.0.1."""
    return Settings(
        database_url=db_url,
        demo_mode=True,
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mail[1],
        smtp_sender="panacea@a.example",
        syslog_host="127.0.0.1",
        syslog_port=syslog[1],
    )


def _eligible(world: ApiWorld, user_id: int, org_id: int) -> None:
    with world.sessions.begin() as s:
        s.execute(
            update(Membership)
            .where(Membership.user_id == user_id, Membership.organisation_id == org_id)
            .values(break_glass_eligible=True)
        )


def _audit(world: ApiWorld, org_id: int, action: str) -> list[AuditEntry]:
    with world.sessions() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.organisation_id == org_id, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            ).scalars()
        )


def _problem(response: Any) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["type"]).removeprefix("urn:panacea:problem:")


def _break_glass_datagram(sock: socket.socket) -> bytes:
    # Audit entries may be forwarded to the same collector; the alert is the BREAK_GLASS one.
    for _ in range(100):
        datagram = sock.recv(65_535)
        if b" BREAK_GLASS " in datagram:
            return datagram
    raise AssertionError("no BREAK_GLASS message among 100 datagrams")


def test_break_glass_elevates_flags_alerts_and_marks_every_action(
    api_world: ApiWorld, mail: tuple[MailSink, int], syslog: tuple[socket.socket, int]
) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("ana@a.example", {a: Role.ANALYST})
    api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    _eligible(api_world, analyst, a)
    client = api_world.session_client(analyst)
    base = f"{API}/orgs/{a}/break-glass"
    before = client.get(f"{base}/active")
    assert before.status_code == 200
    assert before.json() is None
    assert HEADER not in before.headers

    granted = client.post(base, json={"reason": REASON})

    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert (grant["role"], grant["base_role"], grant["active"]) == (
        "security_lead",
        "analyst",
        True,
    )
    assert grant["requester_email"] == "ana@a.example"
    flag = granted.headers[HEADER]
    assert re.fullmatch(r"active; expires=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", flag)
    assert flag.removeprefix("active; expires=")[:16] == grant["expires_at"][:16]
    # The alert went out after the commit (the background task ran before the client returned).
    [received] = mail[0].received
    assert received.rcpt_tos == ["lead@a.example"]
    assert "ana@a.example" in received.message["Subject"]
    body = received.message.get_content()
    assert REASON in body
    assert "Hospital A" in body
    assert f"Expires at:   {grant['expires_at'][:10]} {grant['expires_at'][11:19]} UTC" in body
    _, payload = syslog_payload(_break_glass_datagram(syslog[0]))
    assert payload["grant_id"] == grant["id"]
    assert payload["user"] == "ana@a.example"

    # Every response under the grant is flagged; the elevated role applies.
    org = client.get(f"{API}/orgs/{a}")
    assert org.json()["role"] == "security_lead"
    assert org.headers[HEADER] == flag
    active = client.get(f"{base}/active")
    assert active.json()["id"] == grant["id"]
    assert active.headers[HEADER] == flag
    assert active.json()["alerts"] == [
        {"channel": "email", "status": "sent", "detail": "lead@a.example"},
        {"channel": "syslog", "status": "sent", "detail": "127.0.0.1"},
    ]
    # An action of another part of the API, done under the grant, is marked in the audit log.
    token = client.post(
        f"{API}/orgs/{a}/tokens", json={"name": "incident", "scopes": ["findings:read"]}
    )
    assert token.status_code == 201, token.text
    assert token.headers[HEADER] == flag
    [created] = _audit(api_world, a, "token.created")
    assert created.break_glass_grant_id == grant["id"]
    [granted_entry] = _audit(api_world, a, "break_glass.granted")
    assert granted_entry.break_glass_grant_id == grant["id"]
    assert granted_entry.details["reason"] == REASON
    assert _audit(api_world, a, "break_glass.alert_sent")

    ended = client.post(f"{base}/{grant['id']}/end")

    assert ended.status_code == 200, ended.text
    assert ended.json()["active"] is False
    assert HEADER not in ended.headers
    [ended_entry] = _audit(api_world, a, "break_glass.ended")
    assert ended_entry.break_glass_grant_id == grant["id"]
    after = client.get(f"{API}/orgs/{a}")
    assert after.json()["role"] == "analyst"
    assert HEADER not in after.headers
    assert client.get(f"{base}/active").json() is None


def test_a_second_factor_of_the_last_five_minutes_is_required(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("ana@a.example", {a: Role.ANALYST})
    _eligible(api_world, analyst, a)
    password_only = api_world.session_client(analyst, assurance="password")
    stale = api_world.session_client(analyst)
    with api_world.sessions.begin() as s:
        s.execute(
            update(UserSession)
            .where(UserSession.user_id == analyst, UserSession.assurance == "mfa")
            .values(mfa_at=utcnow() - timedelta(minutes=6))
        )

    for client in (password_only, stale):
        refused = client.post(f"{API}/orgs/{a}/break-glass", json={"reason": REASON})
        assert refused.status_code == 403
        assert _problem(refused) == "mfa-step-up-required"
        assert "last 5 minutes" in refused.json()["detail"]

    refusals = _audit(api_world, a, "break_glass.refused")
    assert [e.details["error"] for e in refusals] == ["StepUpRequiredError"] * 2
    assert {e.outcome for e in refusals} == {"denied"}
    with api_world.sessions() as s:
        assert s.execute(select(BreakGlassGrant)).first() is None


def test_refusals_say_why(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("ana@a.example", {a: Role.ANALYST})
    viewer = api_world.user("vic@a.example", {a: Role.VIEWER})
    _eligible(api_world, analyst, a)
    url = f"{API}/orgs/{a}/break-glass"
    client = api_world.session_client(analyst)

    not_eligible = api_world.session_client(viewer).post(url, json={"reason": REASON})
    assert (not_eligible.status_code, _problem(not_eligible)) == (403, "break-glass-not-eligible")
    vague = client.post(url, json={"reason": "urgent"})
    assert (vague.status_code, _problem(vague)) == (422, "break-glass-reason-rejected")
    missing = client.post(url, json={})
    assert (missing.status_code, _problem(missing)) == (422, "validation-error")
    with api_world.sessions.begin() as s:
        user = s.get(User, analyst)
        assert user is not None
        _, secret = create_token(
            s,
            user=user,
            organisation_id=a,
            name="robot",
            scopes=[Permission.ORGANISATION_READ],
            lifetime=timedelta(days=1),
            max_lifetime=timedelta(days=2),
        )
    by_token = api_world.anonymous_client().post(
        url, json={"reason": REASON}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert (by_token.status_code, _problem(by_token)) == (403, "break-glass-session-required")
    assert client.post(url, json={"reason": REASON}).status_code == 201
    again = client.post(url, json={"reason": REASON})
    assert (again.status_code, _problem(again)) == (409, "conflict")
    assert len(_audit(api_world, a, "break_glass.refused")) == 4


def test_review_queue_expiry_and_review_by_someone_else(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("ana@a.example", {a: Role.ANALYST})
    auditor = api_world.user("aud@a.example", {a: Role.AUDITOR})
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    _eligible(api_world, analyst, a)
    _eligible(api_world, auditor, a)
    base = f"{API}/orgs/{a}/break-glass"
    ana, aud, boss = (api_world.session_client(u) for u in (analyst, auditor, lead))
    analyst_grant = ana.post(base, json={"reason": REASON}).json()
    auditor_grant = aud.post(base, json={"reason": REASON}).json()

    # While elevated, the analyst holds the security lead's permissions...
    assert ana.get(f"{base}/reviews").status_code == 200
    assert boss.get(f"{base}/reviews").json()["items"] == []  # nothing has ended yet
    # ...until the configured 4 hours have passed (the clock moved by rewriting the grant).
    with api_world.sessions.begin() as s:
        s.execute(
            update(BreakGlassGrant)
            .where(BreakGlassGrant.id == analyst_grant["id"])
            .values(
                granted_at=utcnow() - timedelta(hours=4, minutes=1),
                expires_at=utcnow() - timedelta(minutes=1),
            )
        )
    lapsed = ana.get(f"{base}/reviews")
    assert (lapsed.status_code, _problem(lapsed)) == (403, "permission-denied")
    assert ana.get(f"{API}/orgs/{a}").json()["role"] == "analyst"
    assert HEADER not in ana.get(f"{API}/orgs/{a}").headers
    aud.post(f"{base}/{auditor_grant['id']}/end")

    queue = boss.get(f"{base}/reviews?limit=1")
    first = queue.json()
    assert [g["id"] for g in first["items"]] == [analyst_grant["id"]]
    second = boss.get(f"{base}/reviews?limit=1&cursor={first['next']}").json()
    assert [g["id"] for g in second["items"]] == [auditor_grant["id"]]

    own = aud.post(f"{base}/{auditor_grant['id']}/review", json={"outcome": "justified"})
    assert (own.status_code, _problem(own)) == (403, "break-glass-self-review")
    by_analyst = ana.post(f"{base}/{auditor_grant['id']}/review", json={"outcome": "justified"})
    assert (by_analyst.status_code, _problem(by_analyst)) == (403, "permission-denied")
    reviewed = aud.post(
        f"{base}/{analyst_grant['id']}/review",
        json={"outcome": "justified", "notes": "Matches incident INC-42"},
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["review_outcome"] == "justified"
    assert reviewed.json()["reviewed_by_id"] == auditor
    done = boss.post(
        f"{base}/{auditor_grant['id']}/review",
        json={"outcome": "unjustified", "notes": "No incident on record"},
    )
    assert done.json()["review_outcome"] == "unjustified"
    again = boss.post(f"{base}/{auditor_grant['id']}/review", json={"outcome": "justified"})
    assert (again.status_code, _problem(again)) == (409, "conflict")
    assert boss.get(f"{base}/reviews").json()["items"] == []
    entries = _audit(api_world, a, "break_glass.reviewed")
    assert [(e.actor_user_id, e.details["review_outcome"]) for e in entries] == [
        (auditor, "justified"),
        (lead, "unjustified"),
    ]
    unknown = boss.post(f"{base}/999999/review", json={"outcome": "justified"})
    assert (unknown.status_code, _problem(unknown)) == (404, "not-found")


def test_a_dead_mail_server_does_not_block_the_grant(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("ana@a.example", {a: Role.ANALYST})
    api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    _eligible(api_world, analyst, a)
    # Nobody listens on that port; no syslog collector either.
    settings = api_world.settings.model_copy(update={"smtp_port": free_port(), "syslog_host": None})
    with api_world.sessions.begin() as s:
        user = s.get(User, analyst)
        assert user is not None
        row, cookie = create_session(s, user=user, assurance="mfa")
        csrf = row.csrf_token
    app = create_app(settings, sessions=api_world.sessions)
    with TestClient(app, base_url="http://localhost:8000") as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        client.headers["X-CSRF-Token"] = csrf
        granted = client.post(f"{API}/orgs/{a}/break-glass", json={"reason": REASON})
        assert granted.status_code == 201, granted.text
        active = client.get(f"{API}/orgs/{a}/break-glass/active").json()
    assert active["active"] is True
    assert [(x["channel"], x["status"]) for x in active["alerts"]] == [
        ("email", "failed"),
        ("syslog", "skipped"),
    ]
    [failed] = _audit(api_world, a, "break_glass.alert_failed")
    assert failed.outcome == "failure"
    assert failed.break_glass_grant_id == active["id"]
