"""Load on the HTTP API over loopback, beside a reference server measured by the same client.

Measures, on a real ``panacea serve`` process (uvicorn, one worker) over a fresh database
holding the demo hospital:

1. sign-in latency (``POST /api/v1/auth/login``, password only, argon2id with the production
   parameters): p50 and p95 of ``--logins`` sequential sign-ins;
2. throughput of an authenticated list endpoint (``GET /api/v1/orgs/{id}/assets?limit=100``),
   with an API token (Bearer) and with a browser session (cookie): requests/s, p50, p95, with
   ``--clients`` concurrent clients for ``--seconds`` seconds each;
3. the peer: OASIS's TAXII 2.1 reference server medallion 3 (Flask under waitress, memory
   backend, HTTP Basic authentication) answering its authenticated collections list, driven by
   the same client for the same time, and the ratio of the two throughputs.

Every loop is bounded in time and count; everything listens on 127.0.0.1 only.

    .venv/bin/python bench/api_load.py [--assets 300] [--clients 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from processes import ROOT, free_port, running
from rich.console import Console
from rich.table import Table

PANACEA = [sys.executable, "-m", "panacea.cli.main"]
ORG = "Demo General Hospital"
EMAIL = "analyst@bench.example"
# A fresh random password each run (the policy refuses common ones).
PASSWORD = secrets.token_urlsafe(18)
MAX_REQUESTS_PER_CLIENT = 200_000
console = Console()


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [*PANACEA, *args], env=env, input=stdin, text=True, check=True, capture_output=True
    )


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drive(
    url: str, *, headers: dict[str, str], auth: tuple[str, str] | None, clients: int, seconds: float
) -> Load:
    """``clients`` threads, each with its own connection, GET ``url`` for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = time.perf_counter()
    stop = start + seconds

    def client(n: int) -> None:
        # One connection per request for both servers: medallion's development server (werkzeug)
        # does not keep connections alive reliably, and the comparison must be like for like.
        with httpx.Client(
            headers={**headers, "Connection": "close"}, auth=auth, timeout=10.0
        ) as http:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.perf_counter() >= stop:
                    return
                t0 = time.perf_counter()
                try:
                    ok = http.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[n].append(time.perf_counter() - t0)
                errors[n] += not ok

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = [x for per in latencies for x in per]
    return Load(
        requests=len(flat),
        seconds=elapsed,
        p50_ms=1000 * statistics.median(flat),
        p95_ms=1000 * percentile(flat, 0.95),
        errors=sum(errors),
    )


def sign_in_latencies(base: str, count: int) -> tuple[list[float], httpx.Client]:
    """``count`` sequential sign-ins; returns their latencies and the last signed-in client."""
    latencies: list[float] = []
    http = httpx.Client(base_url=base, timeout=30.0)
    for _ in range(count):
        http.cookies.clear()
        t0 = time.perf_counter()
        response = http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        latencies.append(time.perf_counter() - t0)
        response.raise_for_status()
        http.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return latencies, http


def medallion_config(data: Path) -> dict[str, object]:
    collection = {
        "id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
        "title": "bench",
        "can_read": True,
        "can_write": False,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": [],
        "manifest": [],
    }
    return {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": 100},
        "data": {
            "/discovery": {
                "title": "medallion",
                "default": "http://127.0.0.1/api1/",
                "api_roots": ["http://127.0.0.1/api1/"],
            },
            "api1": {
                "information": {
                    "title": "api1",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 10_000_000,
                },
                "status": [],
                "collections": [collection],
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=300)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = f"sqlite:///{folder / 'bench.db'}"
        env = {
            **os.environ,
            "PANACEA_DATABASE_URL": db,
            "PANACEA_DEMO_MODE": "true",
            "PANACEA_DATA_DIR": str(folder),
        }
        console.print(f"building the demo hospital ({args.assets} assets) ...")
        cli(env, "demo", "--assets", str(args.assets), "--no-serve")
        cli(
            env,
            "users",
            "create",
            EMAIL,
            "--org",
            ORG,
            "--role",
            "analyst",
            "--password-stdin",
            stdin=PASSWORD,
        )
        port = free_port()
        base = f"http://localhost:{port}"
        command = [*PANACEA, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with running(command, port, "panacea serve", env):
            logins, session = sign_in_latencies(base, args.logins)
            org_id = session.get("/api/v1/orgs").json()["items"][0]["id"]
            created = session.post(
                f"/api/v1/orgs/{org_id}/tokens",
                json={"name": "bench", "scopes": ["inventory:read"], "expires_in_days": 1},
            )
            created.raise_for_status()
            secret = created.json()["secret"]
            assets_url = f"{base}/api/v1/orgs/{org_id}/assets?limit=100"
            cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())}
            session.close()
            by_token = drive(
                assets_url,
                headers={"Authorization": f"Bearer {secret}"},
                auth=None,
                clients=args.clients,
                seconds=args.seconds,
            )
            by_cookie = drive(
                assets_url, headers=cookie, auth=None, clients=args.clients, seconds=args.seconds
            )

        settings = medallion_config(folder / "data.json")
        (folder / "data.json").write_text(json.dumps(settings.pop("data")))
        config = folder / "medallion.json"
        config.write_text(json.dumps(settings))
        peer_port = free_port()
        peer_url = f"http://127.0.0.1:{peer_port}/api1/collections/"
        peer_cmd = [
            sys.executable, str(ROOT / "bench" / "medallion_server.py"), str(config),
            str(peer_port), str(args.clients),
        ]  # fmt: skip
        with running(peer_cmd, peer_port, "medallion", {**os.environ, "PYTHONWARNINGS": "ignore"}):
            peer = drive(
                peer_url,
                headers={"Accept": "application/taxii+json;version=2.1"},
                auth=("bench", "bench"),
                clients=args.clients,
                seconds=args.seconds,
            )

    table = Table(title=f"API on loopback ({args.clients} clients, {args.seconds:.0f} s each)")
    for column in ("measure", "requests/s", "p50", "p95", "requests", "errors"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    ms = [1000 * x for x in logins]
    table.add_row(
        f"sign-in, argon2id 64 MiB t=3 ({len(ms)} sequential)",
        "",
        f"{statistics.median(ms):.0f} ms",
        f"{percentile(ms, 0.95):.0f} ms",
        str(len(ms)),
        "0",
    )
    for name, load in (
        ("PANACEA GET assets (100/page), API token", by_token),
        ("PANACEA GET assets (100/page), session cookie", by_cookie),
        ("medallion 3 (waitress) GET collections, HTTP Basic", peer),
    ):
        table.add_row(
            name,
            f"{load.per_second:.0f}",
            f"{load.p50_ms:.1f} ms",
            f"{load.p95_ms:.1f} ms",
            str(load.requests),
            str(load.errors),
        )
    console.print(table)
    console.print(
        f"PANACEA (token) / medallion throughput: {by_token.per_second / peer.per_second:.2f}x "
        "(PANACEA's page carries 100 assets read from the database; medallion's list is one "
        "collection held in memory)"
    )


if __name__ == "__main__":
    main()
