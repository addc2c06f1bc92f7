"""A real PANACEA server on ``localhost`` holding the demo hospital, for browser tests and bench.

Plain functions (no pytest) so that ``bench/dashboard.py`` starts the server exactly as the
browser tests do:

1. :func:`build_demo` runs ``panacea demo --no-serve`` (and ``panacea assess``, which stores
   the risk snapshot the overview ranks) into an SQLite file in a scratch folder;
2. :func:`create_user` runs ``panacea users create ... --password-stdin``;
3. :func:`start_server` runs ``panacea serve --host localhost`` (a host name, not an address:
   WebAuthn and the session cookie are bound to the host name users type) with
   ``PANACEA_PUBLIC_URL=http://localhost:<port>`` and waits for ``/api/v1/health``;
4. :func:`enrol_totp` enrols a TOTP app through the JSON API (login, enrol, confirm) and
   returns a :class:`TotpDevice` that hands out codes a verifier will accept.

Every wait is bounded; the server listens on the loopback interface only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy.orm import Session

from panacea.db.engine import create_db_engine
from panacea.inventory.service import get_organisation

ORGANISATION = "Demo General Hospital"
PANACEA = [sys.executable, "-m", "panacea.cli.main"]
STARTUP_SECONDS = 60.0
COMMAND_SECONDS = 600.0
STOP_SECONDS = 10.0
# RFC 6238 section 4: 30-second steps; the verifier accepts one step of drift either way
# (panacea.identity.totp.VALID_WINDOW) and each step once (section 5.2).
TOTP_STEP_SECONDS = 30


class LiveServerError(RuntimeError):
    """A command of the live server's set-up failed; the message holds its output."""


def free_port() -> int:
    """A TCP port free on the loopback interface now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def panacea_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without the developer's PANACEA_ settings, in demo mode on ``data_dir``.

    Demo mode generates the keys a demo may run on (the KEK next to the SQLite file, the audit
    signing key in ``data_dir``); the secret key is given, random, so that every process of
    one run (CLI and server) agrees on it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANACEA_")}
    env.update(
        {
            "PANACEA_DEMO_MODE": "true",
            "PANACEA_DATA_DIR": str(data_dir),
            "PANACEA_SECRET_KEY": secrets.token_urlsafe(48),
        }
    )
    env.update({f"PANACEA_{k.upper()}": v for k, v in extra.items()})
    return env


def run_panacea(
    db_url: str, args: list[str], env: dict[str, str], *, stdin: str | None = None
) -> str:
    """Run one ``panacea`` command to completion; its output, or :class:`LiveServerError`."""
    try:
        done = subprocess.run(
            [*PANACEA, "--db", db_url, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise LiveServerError(f"panacea {' '.join(args)} ran over {COMMAND_SECONDS} s") from e
    if done.returncode != 0:
        raise LiveServerError(
            f"panacea {' '.join(args)} exited with {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


@dataclass(frozen=True)
class DemoBuild:
    """The demo hospital's database and the assessment ``panacea assess`` stored for it."""

    db_url: str
    # The ``panacea.assessment/1`` document the CLI printed: services ranked as the CLI ranks.
    assessment: dict[str, Any]


def build_demo(data_dir: Path, env: dict[str, str], *, assets: int | None = None) -> DemoBuild:
    """Build the demo hospital into ``data_dir/panacea.db`` and assess it (stored snapshot)."""
    db_url = f"sqlite:///{data_dir / 'panacea.db'}"
    sized = [] if assets is None else ["--assets", str(assets)]
    run_panacea(db_url, ["demo", "--no-serve", *sized], env)
    # The overview ranks services from the latest stored risk snapshot: this one.
    printed = run_panacea(db_url, ["assess", "--org", ORGANISATION, "--format", "json"], env)
    try:
        assessment = json.loads(printed)
    except ValueError as e:
        raise LiveServerError(f"panacea assess printed no JSON: {printed[:500]!r}") from e
    return DemoBuild(db_url=db_url, assessment=assessment)


@dataclass(frozen=True)
class Account:
    """A local account of the demo organisation, with the password it was created with."""

    email: str
    password: str
    role: str


def create_user(db_url: str, env: dict[str, str], email: str, role: str) -> Account:
    """``panacea users create`` with a random password read from standard input."""
    password = secrets.token_urlsafe(18)
    run_panacea(
        db_url,
        ["users", "create", email, "--org", ORGANISATION, "--role", role, "--password-stdin"],
        env,
        stdin=password + "\n",
    )
    return Account(email=email, password=password, role=role)


@dataclass
class TotpDevice:
    """An authenticator app: the enrolled secret and the last step whose code was used.

    The server accepts each step at most once (RFC 6238 section 5.2) and one step of drift;
    :meth:`next_code` returns the code of the first step after the last one used, waiting
    (at most one step) when that step is more than one step ahead of the clock.
    """

    secret: str
    last_step: int = -1
    _totp: pyotp.TOTP = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._totp = pyotp.TOTP(self.secret, interval=TOTP_STEP_SECONDS)

    def next_code(self) -> str:
        now_step = int(time.time()) // TOTP_STEP_SECONDS
        step = max(now_step, self.last_step + 1)
        if step > now_step + 1:
            # Bounded: at most one step (30 s) until the clock is within the accepted drift.
            time.sleep((step - 1) * TOTP_STEP_SECONDS - time.time() + 0.5)
        self.last_step = step
        return str(self._totp.at(step * TOTP_STEP_SECONDS))

    def wrong_code(self) -> str:
        """A six-digit code that is not valid at any accepted step now."""
        now_step = int(time.time()) // TOTP_STEP_SECONDS
        valid = {self._totp.at((now_step + d) * TOTP_STEP_SECONDS) for d in (-1, 0, 1, 2)}
        # Ten candidates, at most four of them valid: one is always left.
        return next(digit * 6 for digit in "0123456789" if digit * 6 not in valid)


def enrol_totp(base_url: str, account: Account) -> TotpDevice:
    """Enrol a TOTP app for ``account`` through the JSON API, then sign out."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        _expect(login, 200, "login")
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        enrol = client.post("/api/v1/auth/mfa/totp/enrol", headers=csrf)
        _expect(enrol, 201, "TOTP enrolment")
        device = TotpDevice(secret=enrol.json()["secret"])
        confirm = client.post(
            "/api/v1/auth/mfa/totp/confirm", headers=csrf, json={"code": device.next_code()}
        )
        _expect(confirm, 200, "TOTP confirmation")
        logout = client.post(
            "/api/v1/auth/logout", headers={"X-CSRF-Token": confirm.json()["csrf_token"]}
        )
        _expect(logout, 204, "logout")
    return device


def organisation_id(db_url: str) -> int:
    """The id of the demo organisation, read from the database (no sign-in, no TOTP step)."""
    engine = create_db_engine(db_url)
    try:
        with Session(engine) as session:
            return get_organisation(session, ORGANISATION).id
    finally:
        engine.dispose()


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise LiveServerError(
            f"{what}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code} (expected {status}): {response.text[:1000]}"
        )


@dataclass(frozen=True)
class LiveServer:
    """A running ``panacea serve``: its base URL, database and log file."""

    base_url: str
    db_url: str
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        """What the server printed so far (the tail)."""
        return self.log.read_text(errors="replace")[-5000:]


@contextmanager
def serving(db_url: str, env: dict[str, str], log: Path) -> Iterator[LiveServer]:
    """``panacea serve --host localhost --port <free>`` until the block ends (SIGINT, then kill).

    The output goes to ``log`` (a pipe nobody reads would fill up and block the server).
    """
    port = free_port()
    base_url = f"http://localhost:{port}"
    env = {**env, "PANACEA_PUBLIC_URL": base_url}
    argv = [*PANACEA, "--db", db_url, "serve", "--host", "localhost", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
        server = LiveServer(base_url=base_url, db_url=db_url, log=log, process=process)
        try:
            _wait_healthy(server)
            yield server
        finally:
            _stop(process)


def _wait_healthy(server: LiveServer) -> None:
    url = f"{server.base_url}/api/v1/health"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise LiveServerError(
                f"panacea serve exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise LiveServerError(f"{url} did not answer within {STARTUP_SECONDS} s:\n{server.output()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)
