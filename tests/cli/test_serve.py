"""``panacea serve`` really serves: a subprocess on a free local port, polled until healthy."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from panacea.identity.keys import Kek, write_kek_file

STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**panacea: str) -> dict[str, str]:
    """The environment without any PANACEA_ setting of the developer's, plus ``panacea``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANACEA_")}
    env.update({f"PANACEA_{k.upper()}": v for k, v in panacea.items()})
    return env


def serve(db_url: str, port: int, env: dict[str, str], host: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "panacea.cli.main", "--db", db_url, "serve"]
    argv += ["--host", host, "--port", str(port)]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_healthy(process: subprocess.Popen[str], url: str) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"panacea serve exited with {process.returncode}:\n{stop(process)}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen[str]) -> str:
    """Ctrl-C (SIGINT), then the whole output; killed if it does not stop within 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=10)
    return output or ""


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; stopped even when the test fails."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.returncode is None or (process.stdout and not process.stdout.closed):
            stop(process)


def test_serve_in_demo_mode_answers_health_on_localhost(
    sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    env = clean_env(demo_mode="true", data_dir=str(tmp_path))
    process = serve(sqlite_url, port, env, host="localhost")
    started.append(process)
    response = wait_healthy(process, f"http://localhost:{port}/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers  # no uvicorn banner
    token = "pnc_ShouldNotAppear_" + secrets.token_urlsafe(16)
    query = httpx.get(
        f"http://localhost:{port}/api/v1/health", params={"access_token": token}, timeout=5
    )
    assert query.status_code == 200
    output = stop(process)
    assert process.returncode == 0
    assert f"PANACEA on http://localhost:{port}/ " in output
    assert "demo mode: PANACEA_SECRET_KEY is not set" in output
    # uvicorn's own access log, through its own formatter, with the credential redacted.
    assert "GET /api/v1/health?access_token=[redacted]" in output
    assert token not in output


def test_serve_outside_demo_mode_with_proper_secrets(
    sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    kek_file = tmp_path / "panacea.kek"
    write_kek_file(kek_file, Kek.generate())
    env = clean_env(secret_key=secrets.token_urlsafe(48), kek_file=str(kek_file))
    port = free_port()
    process = serve(sqlite_url, port, env, host="127.0.0.1")
    started.append(process)
    assert wait_healthy(process, f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
    assert "demo mode" not in stop(process)


def test_serve_refuses_a_placeholder_secret_before_listening(
    sqlite_url: str, tmp_path: Path
) -> None:
    kek_file = tmp_path / "panacea.kek"
    write_kek_file(kek_file, Kek.generate())
    env = clean_env(secret_key="changeme", kek_file=str(kek_file))
    port = free_port()
    process = serve(sqlite_url, port, env, host="127.0.0.1")
    try:
        process.wait(timeout=STARTUP_SECONDS)
    finally:
        output = stop(process)
    assert process.returncode == 1
    assert "error: PANACEA_SECRET_KEY is shorter than 32 characters" in output
    assert "changeme" not in output.replace("PANACEA_SECRET_KEY", "")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
