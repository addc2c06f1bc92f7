"""Servers of the federation tests, all on 127.0.0.1 at free ports:

- :func:`second_instance`: another PANACEA, ``panacea serve`` in its own process, with its own
  SQLite database (a copy of the migrated template) and data directory, in demo mode;
- :func:`medallion_server`: the OASIS TAXII 2.1 reference server (memory backend), in its
  own process;
- :class:`WireProxy`: a small HTTP proxy in front of a server that records every exchange (the
  wire, as seen between two platforms) and, when told, alters one byte of one object of a
  request or answer, keeping the JSON valid and its length unchanged (tampering in transit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.keys import bind_kek, kek_source
from tests.sharing.taxii_world import free_port

REPO = Path(__file__).resolve().parents[2]
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "transfer-encoding", "keep-alive", "host", "content-encoding"}
)


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Wait (at most 30 s) until ``port`` accepts connections; fail with the log if it dies."""
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(
                f"{what} exited with {process.returncode}: {log.read_text()[-3000:]}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on port {port} within 30 s")


@contextmanager
def running(command: list[str], *, port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            wait_listening(port, process, command[2], log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@dataclass
class SecondInstance:
    """Another PANACEA: its base URL, and sessions on its own database (same KEK)."""

    base_url: str
    database_url: str
    sessions: sessionmaker[Session]
    log: Path


@contextmanager
def second_instance(template: Path, folder: Path) -> Iterator[SecondInstance]:
    """``panacea serve`` on a copy of the migrated ``template`` database, in demo mode (its KEK
    generated next to its database, shared with the sessions given to the test)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "instance2.db"
    shutil.copy(template, database)
    url = f"sqlite:///{database}"
    settings = Settings(database_url=url, demo_mode=True, data_dir=folder)
    engine = create_db_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_kek(sessions, kek_source(settings, url))
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PANACEA_") and k != "PYTHONPATH"
    }
    env.update(
        {
            "PANACEA_DEMO_MODE": "true",
            "PANACEA_DATA_DIR": str(folder),
            "PANACEA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PYTHONPATH": str(REPO),
        }
    )
    command = [
        sys.executable,
        "-m",
        "panacea.cli.main",
        "--db",
        url,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = folder / "instance2.log"
    try:
        with running(command, port=port, env=env, log=log):
            yield SecondInstance(f"http://127.0.0.1:{port}", url, sessions, log)
    finally:
        engine.dispose()


@dataclass
class Medallion:
    server: str  # http://127.0.0.1:port (discovery at /taxii2/, the API root at /community/)
    api_root: str
    collection_id: str
    user: str
    password: str


@contextmanager
def medallion_server(folder: Path, *, page_size: int = 5) -> Iterator[Medallion]:
    """medallion 3 with one empty read-write collection, HTTP Basic ``hub:hub-secret``."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    collection = "9f0a63a5-1f5f-4c7e-8a6f-3b2d4bcb1f10"
    data = {
        "/discovery": {
            "title": "community hub",
            "default": f"http://127.0.0.1:{port}/community/",
            "api_roots": [f"http://127.0.0.1:{port}/community/"],
        },
        "community": {
            "information": {
                "title": "community",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": 10_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "Regional hospitals",
                    "can_read": True,
                    "can_write": True,
                    "media_types": [STIX_MEDIA_TYPE],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (folder / "data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(folder / "data.json"),
        },
        "users": {"hub": "hub-secret"},
        "taxii": {"max_page_size": page_size},
    }
    (folder / "medallion.json").write_text(json.dumps(config))
    command = [
        sys.executable,
        "-m",
        "medallion.scripts.run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "ERROR",
        str(folder / "medallion.json"),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with running(command, port=port, env=env, log=folder / "medallion.log"):
        yield Medallion(f"http://127.0.0.1:{port}", "community", collection, "hub", "hub-secret")


_NAME_VALUE = re.compile(rb'"(name|description)"\s*:\s*"([A-Za-z])')


def alter_one_byte(body: bytes) -> bytes:
    """``body`` with one letter of the first object's name (or description) changed to
    another letter: still JSON, same length, but not what was signed."""
    match = _NAME_VALUE.search(body, body.find(b'"objects"') + 1)
    if match is None:
        return body
    at = match.start(2)
    original = body[at : at + 1]
    replacement = b"x" if original != b"x" else b"y"
    return body[:at] + replacement + body[at + 1 :]


@dataclass
class Exchange:
    method: str
    path: str
    request: bytes
    status: int
    response: bytes


@dataclass
class WireProxy:
    """Forwards every request to ``target`` (``http://127.0.0.1:port``), recording it."""

    target: str
    tamper: Literal["request", "response"] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    tampered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sent_text(self) -> str:
        """Every request body that went through, as text (what crossed the wire)."""
        with self._lock:
            return "\n".join(e.request.decode("utf-8", "replace") for e in self.exchanges)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        with self._lock:
            tamper = self.tamper
        if tamper == "request" and method == "POST" and b'"objects"' in body:
            body = alter_one_byte(body)
            with self._lock:
                self.tampered += 1
        with httpx.Client(timeout=30) as client:
            answer = client.request(method, self.target + path, headers=headers, content=body)
        content = answer.content
        if tamper == "response" and method == "GET" and b'"objects"' in content:
            altered = alter_one_byte(content)
            if altered != content:
                content = altered
                with self._lock:
                    self.tampered += 1
        with self._lock:
            self.exchanges.append(Exchange(method, path, body, answer.status_code, content))
        return answer, content


@contextmanager
def wire_proxy(target: str) -> Iterator[tuple[WireProxy, str]]:
    """A :class:`WireProxy` to ``target`` on a free port; yields it and its base URL."""
    proxy = WireProxy(target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            answer, content = proxy.handle(self.command, self.path, headers, body)
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_DELETE = _forward  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
