"""HTTP hardening: security headers, CORS, body limits, and no credentials in any log."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive, Scope, Send

from panacea.api.app import create_app
from panacea.api.hardening import API_CSP, BodyLimit
from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.models import Membership, User
from panacea.identity.passwords import cheap_hashing_for_tests_only, hash_password
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import SESSION_COOKIE, create_session
from panacea.identity.tokens import create_token
from panacea.inventory.organisation import Organisation
from tests.api.conftest import ApiWorld

FOREIGN = "https://evil.example"
DASHBOARD = "https://dashboard.hospital.example"


def app_with(sqlite_url: str, tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(database_url=sqlite_url, demo_mode=True, data_dir=tmp_path, **overrides)
    return TestClient(create_app(settings), base_url="http://localhost:8000")


# --- security headers -----------------------------------------------------------------------


def assert_hardened(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == API_CSP
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "server" not in headers


def test_security_headers_on_success_and_on_errors(api_world: ApiWorld) -> None:
    client = api_world.client
    for response in (
        client.get("/api/v1/health"),
        client.get("/api/v1/orgs"),  # 401 problem
        client.get("/api/v1/no-such-route"),  # 404 problem
        client.post("/api/v1/orgs", content=b"x" * (api_world.settings.max_request_bytes + 1)),
    ):
        assert_hardened(response)
        assert "strict-transport-security" not in response.headers


def test_hsts_only_when_the_public_url_is_https(sqlite_url: str, tmp_path: Path) -> None:
    with app_with(sqlite_url, tmp_path) as plain:
        assert "strict-transport-security" not in plain.get("/api/v1/health").headers
    with app_with(sqlite_url, tmp_path, public_url="https://panacea.hospital.example") as tls:
        response = tls.get("/api/v1/health")
    hsts = response.headers["strict-transport-security"]
    # RFC 6797 section 6.1: max-age in seconds; two years, all subdomains.
    assert hsts == "max-age=63072000; includeSubDomains"
    assert_hardened(response)


# --- CORS -----------------------------------------------------------------------------------


def test_cors_is_closed_by_default(api_world: ApiWorld) -> None:
    client = api_world.client
    simple = client.get("/api/v1/health", headers={"Origin": FOREIGN})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-credentials" not in simple.headers
    preflight = client.options(
        "/api/v1/orgs",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-methods" not in preflight.headers


def test_cors_opens_only_to_configured_origins(sqlite_url: str, tmp_path: Path) -> None:
    with app_with(sqlite_url, tmp_path, cors_origins=[DASHBOARD]) as client:
        allowed = client.get("/api/v1/health", headers={"Origin": DASHBOARD})
        assert allowed.headers["access-control-allow-origin"] == DASHBOARD
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "origin" in allowed.headers["vary"].lower()
        preflight = client.options(
            "/api/v1/orgs",
            headers={
                "Origin": DASHBOARD,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-csrf-token",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == DASHBOARD
        assert "POST" in preflight.headers["access-control-allow-methods"]
        foreign = client.get("/api/v1/health", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in foreign.headers
        refused = client.options(
            "/api/v1/orgs", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


# --- request size limits ----------------------------------------------------------------------


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["type"] == "urn:panacea:problem:too-large"
    assert str(limit) in problem["detail"]


def test_json_body_over_the_limit_is_413(sqlite_url: str, tmp_path: Path) -> None:
    with app_with(sqlite_url, tmp_path, max_request_bytes=1000) as client:
        body = {"email": "a@example.org", "password": "p" * 2000}
        response = client.post("/api/v1/auth/login", json=body)
        assert_too_large(response, 1000)
        # Under the limit the request reaches the route (and fails on the credentials).
        small = client.post("/api/v1/auth/login", json={"email": "a@example.org", "password": "x"})
        assert small.status_code == 401


def test_streamed_body_without_length_over_the_limit_is_413(
    sqlite_url: str, tmp_path: Path
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b'{"padding": "' + b"x" * 100 + b'"}'

    with app_with(sqlite_url, tmp_path, max_request_bytes=1000) as client:
        response = client.post(
            "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_too_large(response, 1000)


def test_body_limit_stops_reading_a_stream_at_the_limit() -> None:
    """The app never gets more than the limit; the client gets 413 at once (ASGI level)."""
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            total += len(message.get("body", b""))
            seen.append(total)
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [{"type": "http.request", "body": b"x" * 400, "more_body": True}] * 100
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return chunks[pulled - 1]

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    limited = BodyLimit(app, default=1000, uploads=10_000, upload_prefix="/imports")
    scope: Scope = {"type": "http", "path": "/api/v1/x", "headers": [], "method": "POST"}
    # In its own thread: under pytest-xdist this worker may still hold the browser tests'
    # Playwright session, whose event loop runs in the main thread.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, limited(scope, receive, send)).result()
    assert seen == [400, 800]  # the third chunk (1200 > 1000) never reaches the app
    assert pulled == 3
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413


def test_uploads_have_their_own_larger_limit(sqlite_url: str, tmp_path: Path) -> None:
    settings = {"max_request_bytes": 1000, "max_upload_bytes": 5000}
    with app_with(sqlite_url, tmp_path, **settings) as client:
        # Over the JSON limit but under the upload one: reaches auth (401), not 413.
        under = client.post("/api/v1/orgs/1/imports", content=b"x" * 3000)
        assert under.status_code == 401
        assert_too_large(client.post("/api/v1/orgs/1/imports", content=b"x" * 6000), 5000)


# --- no credentials in logs -------------------------------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def uvicorn_log_levels() -> Iterator[None]:
    """uvicorn sets its loggers' levels globally; put them back afterwards."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def start_server(app: FastAPI) -> LiveServer:
    port = free_port()
    # log_config=None: uvicorn leaves handlers alone, so its records reach caplog; "trace"
    # also logs every ASGI message with its headers (uvicorn's MessageLoggerMiddleware).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="trace", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # up to 10 s
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 10 s"
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=10)
    assert not live.thread.is_alive()


PASSWORD = "Correct-Horse-Battery-Staple-42"
WRONG_PASSWORD = "Tr0ub4dor&3-but-wrong"


def seed_user(sessions: sessionmaker[Session]) -> tuple[str, str, str]:
    """A member with a password, an API token and a session; returns (token, cookie, csrf)."""
    with sessions.begin() as s:
        org = Organisation(name="Log Hospital")
        s.add(org)
        s.flush()
        with cheap_hashing_for_tests_only():
            user = User(email="logs@hospital.example", password_hash=hash_password(PASSWORD))
        s.add(user)
        s.flush()
        s.add(Membership(user_id=user.id, organisation_id=org.id, role=Role.ANALYST.value))
        _, token = create_token(
            s,
            user=user,
            organisation_id=org.id,
            name="ci",
            scopes=[Permission.ORGANISATION_READ],
            lifetime=timedelta(days=1),
            max_lifetime=timedelta(days=2),
        )
        row, cookie = create_session(s, user=user, assurance="mfa")
        return token, cookie, row.csrf_token


def test_no_credentials_in_any_log_record(
    sqlite_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    uvicorn_log_levels: None,
) -> None:
    # Everything, from every logger: uvicorn (trace), httpx/httpcore, SQLAlchemy (statements,
    # parameters and result rows), our own.
    # (set_level also sets the capture handler's level: level 1 for every call.)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "httpx", "httpcore", "panacea", None):
        caplog.set_level(1, logger=name)
    engine = create_db_engine(sqlite_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    # The app first, as a server process starts: it installs the redaction for the process.
    app = create_app(
        Settings(database_url=sqlite_url, demo_mode=True, data_dir=tmp_path), sessions=sessions
    )
    token, cookie, csrf = seed_user(sessions)
    live = start_server(app)
    try:
        with httpx.Client(base_url=live.base_url, timeout=10) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/orgs", headers=headers).status_code == 200
        with httpx.Client(base_url=live.base_url, timeout=10) as browser:
            browser.cookies.set(SESSION_COOKIE, cookie)
            assert browser.get("/api/v1/auth/me").status_code == 200
            # A state change with cookie and CSRF token.
            browser.post("/api/v1/orgs/1/risk/assessments", headers={"X-CSRF-Token": csrf}, json={})
        with httpx.Client(base_url=live.base_url, timeout=10) as client:
            with cheap_hashing_for_tests_only():
                ok = client.post(
                    "/api/v1/auth/login",
                    json={"email": "logs@hospital.example", "password": PASSWORD},
                )
                assert ok.status_code == 200
                issued = ok.cookies[SESSION_COOKIE]
                bad = client.post(
                    "/api/v1/auth/login",
                    json={"email": "logs@hospital.example", "password": WRONG_PASSWORD},
                )
                assert bad.status_code == 401
            # Credentials misplaced in a query string, as careless clients do.
            leaky = client.get(
                "/api/v1/health", params={"access_token": token, "password": PASSWORD}
            )
            assert leaky.status_code == 200
            # A streamed body over the limit with the token in it.
            streamed = client.post(
                "/api/v1/auth/login",
                content=iter([f'{{"password": "{PASSWORD}", "t": "{token}"'.encode()] * 40000),
                headers={"content-type": "application/json"},
            )
            assert streamed.status_code == 413
            assert streamed.request.headers["transfer-encoding"] == "chunked"
    finally:
        stop_server(live)
        engine.dispose()

    records = caplog.records
    loggers = {r.name for r in records}
    # The capture really saw these libraries at work (else this test could not fail).
    assert {"uvicorn.access", "uvicorn.asgi", "httpx"} <= loggers, sorted(loggers)
    assert any(n.startswith("sqlalchemy.engine") for n in loggers)
    assert any(n.startswith("httpcore") for n in loggers)
    assert any("/api/v1/health" in r.getMessage() for r in records if r.name == "uvicorn.access")
    # The oversized stream was refused cleanly (no "Exception in ASGI application").
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    # ...and had something to redact.
    assert any("[redacted]" in r.getMessage() for r in records)
    secrets = {
        "bearer token": token,
        "session cookie": cookie,
        "issued session cookie": issued,
        "CSRF token": csrf,
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
    }
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        text += repr({k: v for k, v in vars(record).items() if k != "exc_info"})
        for what, value in secrets.items():
            assert value not in text, f"{what} in a {record.name} record: {text[:300]}"
