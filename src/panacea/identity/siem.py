"""Security events to the hospital's SIEM as RFC 5424 syslog messages with a JSON payload.

Each message is ``<PRI>1 TIMESTAMP HOSTNAME panacea - MSGID - JSON`` (RFC 5424 section 6):
facility 10, "security/authorization" (authpriv), and a severity chosen by the caller. The JSON
is ASCII-only (non-ASCII escaped), so MSG is plain octets and needs no UTF-8 byte order mark
(RFC 5424 section 6.4). Transport is UDP, one message per datagram (RFC 5426), or TCP with
octet-counting framing, ``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 section 3.4.1), to
``PANACEA_SYSLOG_HOST``/``_PORT``/``_PROTOCOL``.

Sending never holds a request for long: every socket operation has a bounded timeout. Audit
entries are forwarded by :func:`forward_entries`, which logs failures and never raises (the
change is committed already; the SIEM copy must not undo it). Other modules send one-off
alerts with :func:`send_syslog`, which says whether it was sent and raises
:class:`SyslogDeliveryError` when the collector cannot be reached.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.identity.alerts import AlertDeliveryError
from panacea.identity.audit import utc_timestamp

log = logging.getLogger(__name__)

# Bounds one connection attempt and each send: a collector that is down or stalls costs the
# committing request at most this (twice for TCP: connect, then send).
SYSLOG_TIMEOUT_SECONDS = 2.0
# RFC 5424 section 6.2.1, Table 1: facility 10 is "security/authorization messages" (authpriv).
FACILITY_AUTHPRIV = 10
APP_NAME = "panacea"
NILVALUE = "-"
AUDIT_MSGID = "AUDIT"
AUDIT_SCHEMA = "panacea.audit/1"
# The largest UDP payload over IPv4 (65,535 - 8 UDP - 20 IP header octets); RFC 5426
# section 3.2 lets a receiver truncate above 2,048, so large events are better sent over TCP.
MAX_UDP_PAYLOAD = 65_507
PROTOCOLS = frozenset({"udp", "tcp"})


class Severity(IntEnum):
    """RFC 5424 section 6.2.1, Table 2."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7


class SyslogDeliveryError(AlertDeliveryError):
    """A syslog message could not be handed to the collector; says where and why."""


@dataclass(frozen=True, kw_only=True)
class SyslogTarget:
    """Where messages go: a collector's host, port and transport (``udp`` or ``tcp``)."""

    host: str
    port: int
    protocol: str = "udp"
    timeout: float = SYSLOG_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> SyslogTarget | None:
        """The collector of ``PANACEA_SYSLOG_*``, or None when no host is set."""
        if not settings.syslog_host:
            return None
        return cls(
            host=settings.syslog_host,
            port=settings.syslog_port,
            protocol=settings.syslog_protocol.lower(),
        )

    def __str__(self) -> str:
        return f"syslog collector {self.protocol}://{self.host}:{self.port}"


def severity_of_outcome(outcome: str) -> Severity:
    """Severity of an audit entry: a success is "notice" (normal but significant), anything
    else (failure, denied, refused) is "warning"."""
    return Severity.NOTICE if outcome == "success" else Severity.WARNING


def _printable(value: str, limit: int) -> str:
    # RFC 5424 header fields are PRINTUSASCII (33..126), no spaces; "-" when empty.
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or NILVALUE


def _hostname() -> str:
    return _printable(socket.gethostname(), 255)


def format_message(
    payload: Mapping[str, Any],
    *,
    severity: Severity,
    msgid: str,
    timestamp: datetime | None = None,
    hostname: str | None = None,
    facility: int = FACILITY_AUTHPRIV,
) -> bytes:
    """One RFC 5424 message: header, no structured data, ``payload`` as compact JSON.

    Raises ValueError if ``payload`` is not JSON-serialisable (a programming error).
    """
    pri = facility * 8 + int(severity)
    moment = utc_timestamp(timestamp or utcnow())
    header = " ".join(
        [
            f"<{pri}>1",
            moment,
            _printable(hostname if hostname is not None else _hostname(), 255),
            APP_NAME,
            NILVALUE,  # PROCID
            _printable(msgid, 32),
            NILVALUE,  # STRUCTURED-DATA
        ]
    )
    try:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"syslog payload is not JSON: {e}") from e
    return f"{header} {body}".encode("ascii")


def octet_counted(message: bytes) -> bytes:
    """TCP framing of RFC 6587 section 3.4.1: the message length, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


def deliver(target: SyslogTarget, messages: Sequence[bytes]) -> None:
    """Send ``messages`` to ``target`` (one connection for all of them over TCP).

    Raises SyslogDeliveryError if the protocol is unknown, the address does not resolve, the
    collector cannot be reached within the timeout, or a datagram is too large.
    """
    if target.protocol not in PROTOCOLS:
        raise SyslogDeliveryError(
            f"{target}: unknown protocol {target.protocol!r} (PANACEA_SYSLOG_PROTOCOL: udp or tcp)"
        )
    if not messages:
        return
    try:
        if target.protocol == "tcp":
            _send_tcp(target, messages)
        else:
            _send_udp(target, messages)
    except OSError as e:
        raise SyslogDeliveryError(f"{target}: {type(e).__name__}: {e}") from e


def _send_tcp(target: SyslogTarget, messages: Sequence[bytes]) -> None:
    with socket.create_connection((target.host, target.port), timeout=target.timeout) as conn:
        conn.sendall(b"".join(octet_counted(m) for m in messages))


def _send_udp(target: SyslogTarget, messages: Sequence[bytes]) -> None:
    too_large = [len(m) for m in messages if len(m) > MAX_UDP_PAYLOAD]
    if too_large:
        raise SyslogDeliveryError(
            f"{target}: a message of {max(too_large)} octets does not fit a UDP datagram; "
            "use PANACEA_SYSLOG_PROTOCOL=tcp"
        )
    family, kind, proto, _, address = socket.getaddrinfo(
        target.host, target.port, type=socket.SOCK_DGRAM
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(target.timeout)
        for message in messages:
            sock.sendto(message, address)


def send_syslog(
    settings: Settings,
    message: Mapping[str, Any],
    *,
    severity: Severity = Severity.ALERT,
    msgid: str = "ALERT",
) -> bool:
    """Send one security message (an alert) to the configured collector.

    ``message`` becomes the JSON payload. Returns False when no collector is configured
    (``PANACEA_SYSLOG_HOST`` unset), True once the message was handed over. Raises
    SyslogDeliveryError (an AlertDeliveryError) when it could not be, within the timeout.
    """
    target = SyslogTarget.from_settings(settings)
    if target is None:
        return False
    deliver(target, [format_message(message, severity=severity, msgid=msgid)])
    return True


def audit_messages(records: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Syslog messages for audit entries given as :func:`panacea.identity.audit.entry_json`."""
    hostname = _hostname()
    return [
        format_message(
            {"type": AUDIT_SCHEMA, **record},
            severity=severity_of_outcome(str(record.get("outcome", ""))),
            msgid=AUDIT_MSGID,
            timestamp=datetime.fromisoformat(str(record["at"])),
            hostname=hostname,
        )
        for record in records
    ]


def forward_entries(settings: Settings, records: Sequence[Mapping[str, Any]]) -> bool:
    """Forward committed audit entries (as ``entry_json``) to the SIEM. Never raises.

    Returns True if they were handed over (or there was nothing to send), False if no
    collector is configured or delivery failed (logged with the entries' chain and seqs: the
    entries stay in the database, and ``panacea audit export`` can resend them).
    """
    target = SyslogTarget.from_settings(settings)
    if target is None:
        return False
    if not records:
        return True
    try:
        deliver(target, audit_messages(records))
    except (SyslogDeliveryError, ValueError) as e:
        where = ", ".join(f"{r.get('chain')}#{r.get('seq')}" for r in records[:10])
        log.error("audit entries %s not forwarded to the SIEM: %s", where, e)
        return False
    return True
