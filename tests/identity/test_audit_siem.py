"""SIEM forwarding: RFC 5424 messages over UDP and TCP to real listeners on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.alerts import AlertDeliveryError
from panacea.identity.audit import append, entry_digest
from panacea.identity.audit_forwarding import install_audit_forwarding
from panacea.identity.siem import (
    MAX_UDP_PAYLOAD,
    Severity,
    SyslogDeliveryError,
    SyslogTarget,
    deliver,
    format_message,
    octet_counted,
    send_syslog,
)
from tests.identity.audit_helpers import CHAIN, audit_settings, event

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA SP MSG, with our fixed APP-NAME and PROCID.
SYSLOG = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>[!-~]{1,255})"
    r" panacea - (?P<msgid>[!-~]{1,32}) - (?P<msg>\{.*\})$"
)


class UdpCollector:
    """A syslog collector on 127.0.0.1 over UDP."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def receive(self, count: int, *, wait: float = 3.0) -> list[bytes]:
        self.sock.settimeout(wait)
        return [self.sock.recvfrom(MAX_UDP_PAYLOAD)[0] for _ in range(count)]

    def nothing_within(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            self.sock.recvfrom(MAX_UDP_PAYLOAD)
        except TimeoutError:
            return True
        return False


@dataclass
class TcpCollector:
    """A syslog collector on 127.0.0.1 over TCP, splitting RFC 6587 octet-counted frames."""

    server: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    frames: list[bytes] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.server.settimeout(5)
        self.port: int = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.stop = threading.Event()
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                data = b""
                for _ in range(10_000):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            self.frames.extend(_split_frames(data))

    def wait_for(self, count: int, *, wait: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + wait
        while len(self.frames) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.frames)

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(timeout=6)


def _split_frames(data: bytes) -> list[bytes]:
    frames = []
    for _ in range(10_000):
        if not data:
            break
        length, _, rest = data.partition(b" ")
        size = int(length)
        frames.append(rest[:size])
        data = rest[size:]
    return frames


@pytest.fixture
def udp() -> Iterator[UdpCollector]:
    collector = UdpCollector()
    yield collector
    collector.sock.close()


@pytest.fixture
def tcp() -> Iterator[TcpCollector]:
    collector = TcpCollector()
    yield collector
    collector.close()


def _parse(message: bytes) -> tuple[int, str, dict[str, Any], str]:
    match = SYSLOG.match(message.decode("ascii"))
    assert match is not None, message
    return int(match["pri"]), match["msgid"], json.loads(match["msg"]), match["ts"]


def _settings(tmp_path: Path, db_url: str, port: int, protocol: str, **extra: Any) -> Settings:
    return audit_settings(
        tmp_path,
        db_url,
        syslog_host="127.0.0.1",
        syslog_port=port,
        syslog_protocol=protocol,
        **extra,
    )


def test_a_message_is_rfc_5424_with_a_json_payload() -> None:
    moment = datetime(2025, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
    message = format_message(
        {"who": "Zoë", "n": 1},
        severity=Severity.WARNING,
        msgid="AUDIT",
        timestamp=moment,
        hostname="ward 3\n",
    )
    assert message == (
        b'<84>1 2025-02-03T04:05:06.000789Z ward3 panacea - AUDIT - {"n":1,"who":"Zo\\u00eb"}'
    )
    assert octet_counted(b"abc") == b"3 abc"


def test_committed_entries_go_to_a_udp_collector(
    factory: sessionmaker[Session], udp: UdpCollector, tmp_path: Path, db_url: str
) -> None:
    install_audit_forwarding(factory, _settings(tmp_path, db_url, udp.port, "udp"))
    with factory.begin() as session:
        first = append(session, event(1))
        append(session, event(2))
    failed = event(3)
    with factory.begin() as session:
        append(session, type(failed)(**{**failed.__dict__, "outcome": "failure"}))
    received = [_parse(m) for m in udp.receive(3)]
    # facility authpriv (10): notice (5) for a success, warning (4) for a failure.
    assert [pri for pri, *_ in received] == [85, 85, 84]
    assert {msgid for _, msgid, *_ in received} == {"AUDIT"}
    payloads = [payload for _, _, payload, _ in received]
    assert [(p["chain"], p["seq"]) for p in payloads] == [(CHAIN, 1), (CHAIN, 2), (CHAIN, 3)]
    assert received[0][3] == payloads[0]["at"]
    assert payloads[0]["id"] == first.id
    # The SIEM copy carries everything needed to re-verify the chain without the database.
    previous = "0" * 64
    for payload in payloads:
        fields = {k: v for k, v in payload.items() if k not in {"id", "type", "prev_hash", "hash"}}
        assert payload["prev_hash"] == previous
        assert entry_digest(previous, fields) == payload["hash"]
        previous = payload["hash"]


def test_a_rolled_back_transaction_sends_nothing(
    factory: sessionmaker[Session], udp: UdpCollector, tmp_path: Path, db_url: str
) -> None:
    install_audit_forwarding(factory, _settings(tmp_path, db_url, udp.port, "udp"))
    with factory() as session:
        append(session, event(1))
        session.rollback()
        append(session, event(2))
        session.close()  # closed without commit: rolled back as well
    assert udp.nothing_within(0.3)
    with factory.begin() as session:
        append(session, event(3))
    ((_, _, payload, _),) = [_parse(m) for m in udp.receive(1)]
    assert (payload["seq"], payload["details"]["n"]) == (1, 3)


def test_committed_entries_go_to_a_tcp_collector_octet_counted(
    factory: sessionmaker[Session], tcp: TcpCollector, tmp_path: Path, db_url: str
) -> None:
    install_audit_forwarding(factory, _settings(tmp_path, db_url, tcp.port, "tcp"))
    with factory.begin() as session:
        for n in range(3):
            append(session, event(n, note="line one\nline two"))
    frames = tcp.wait_for(3)
    assert tcp.connections == 1  # one connection per commit
    payloads = [_parse(f)[2] for f in frames]
    assert [p["seq"] for p in payloads] == [1, 2, 3]
    assert payloads[0]["details"]["note"] == "line one\nline two"


def test_a_checkpoint_also_goes_to_the_collector(
    factory: sessionmaker[Session], udp: UdpCollector, tmp_path: Path, db_url: str
) -> None:
    settings = _settings(tmp_path, db_url, udp.port, "udp", audit_checkpoint_every=2)
    install_audit_forwarding(factory, settings)
    for n in range(2):
        with factory.begin() as session:
            append(session, event(n))
    messages = [_parse(m) for m in udp.receive(3)]
    assert [msgid for _, msgid, *_ in messages] == ["AUDIT", "AUDIT", "CHECKPOINT"]
    checkpoint = messages[2][2]
    assert (checkpoint["type"], checkpoint["chain"], checkpoint["seq"]) == (
        "panacea.audit.checkpoint/1",
        CHAIN,
        2,
    )
    assert checkpoint["hash"] == messages[1][2]["hash"]


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_a_collector_that_is_down_never_fails_the_commit(
    factory: sessionmaker[Session], tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    install_audit_forwarding(factory, _settings(tmp_path, db_url, _closed_port(), "tcp"))
    started = time.monotonic()
    with (
        caplog.at_level(logging.ERROR, logger="panacea.identity.siem"),
        factory.begin() as session,
    ):
        append(session, event(1))
    assert time.monotonic() - started < 2.0
    assert "audit entries org-7#1 not forwarded to the SIEM" in caplog.text
    assert "ConnectionRefusedError" in caplog.text


def test_send_syslog_is_the_alert_channel(udp: UdpCollector, tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url, udp.port, "udp")
    assert send_syslog(settings, {"event": "break_glass.granted", "grant": 4}) is True
    ((pri, msgid, payload, _),) = [_parse(m) for m in udp.receive(1)]
    assert (pri, msgid, payload) == (81, "ALERT", {"event": "break_glass.granted", "grant": 4})
    assert send_syslog(Settings(database_url=db_url), {"x": 1}) is False


def test_send_syslog_raises_an_alert_delivery_error_when_it_cannot_deliver(
    tmp_path: Path, db_url: str
) -> None:
    down = _settings(tmp_path, db_url, _closed_port(), "tcp")
    with pytest.raises(AlertDeliveryError, match=r"tcp://127\.0\.0\.1:\d+: ConnectionRefusedError"):
        send_syslog(down, {"x": 1})
    wrong = _settings(tmp_path, db_url, 514, "carrier-pigeon")
    with pytest.raises(SyslogDeliveryError, match="unknown protocol"):
        send_syslog(wrong, {"x": 1})


def test_a_datagram_too_large_for_udp_is_refused(udp: UdpCollector) -> None:
    target = SyslogTarget(host="127.0.0.1", port=udp.port, protocol="udp")
    with pytest.raises(SyslogDeliveryError, match="use PANACEA_SYSLOG_PROTOCOL=tcp"):
        deliver(target, [b"x" * (MAX_UDP_PAYLOAD + 1)])
    assert udp.nothing_within(0.2)
