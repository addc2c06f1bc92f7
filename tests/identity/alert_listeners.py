"""Real receivers on 127.0.0.1 for alert tests: an SMTP server (aiosmtpd) and a syslog socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

LOOPBACK = "127.0.0.1"
PORT_ATTEMPTS = 5


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class MailSink:
    """The aiosmtpd handler: keeps every message the server accepted."""

    received: list[ReceivedMail] = field(default_factory=list)
    # Recipients the server refuses (550), as a relay does for an unknown mailbox.
    refuse: frozenset[str] = frozenset()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    """A TCP port nobody listens on right now (closed again before it is returned)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(sink: MailSink | None = None) -> Iterator[tuple[MailSink, int]]:
    """A running SMTP server on 127.0.0.1; yields its sink and port."""
    sink = sink or MailSink()
    # aiosmtpd needs a fixed port (it connects to it to check it started), so pick a free one;
    # another process may take it in between, hence a few attempts.
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        controller = Controller(sink, hostname=LOOPBACK, port=port)
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            if attempt == PORT_ATTEMPTS - 1:
                raise
    try:
        yield sink, port
    finally:
        controller.stop()


@contextmanager
def syslog_receiver() -> Iterator[tuple[socket.socket, int]]:
    """A UDP socket on 127.0.0.1 receiving syslog datagrams; yields it and its port."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(5.0)
        yield sock, int(sock.getsockname()[1])


def syslog_payload(datagram: bytes) -> tuple[str, dict[str, Any]]:
    """The RFC 5424 header (up to the JSON) and the JSON payload of one message."""
    text = datagram.decode("ascii")
    header, _, body = text.partition(" {")
    return header, json.loads("{" + body)
