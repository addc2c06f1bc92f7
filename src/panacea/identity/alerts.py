"""Alerts to an organisation's security lead: e-mail through the hospital's relay, and syslog.

This module composes the alert and sends the e-mail; the syslog copy goes through
:func:`panacea.identity.siem.send_syslog` with :attr:`BreakGlassAlert.syslog_payload` (siem
imports this module for :class:`AlertDeliveryError`, so the sending is wired by the caller).
An alert is sent after the change it reports has been committed, and its delivery never
decides that change: a relay that is down makes :func:`send_email` raise
:class:`AlertDeliveryError`, which the caller records (the platform keeps working when the
mail server does not). Every network call has a bounded timeout.
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from panacea.config import Settings
from panacea.identity.errors import IdentityError

# smtplib applies this to the connection and to each read/write on the socket (Python docs,
# smtplib.SMTP): a relay that accepts the connection and then stalls cannot hold a worker.
SMTP_TIMEOUT_SECONDS = 10.0
_FOLDED = re.compile(r"\s+")


class AlertDeliveryError(IdentityError):
    """An alert could not be handed to the mail relay (or the SIEM); says which and why."""


@dataclass(frozen=True, kw_only=True)
class MailRelay:
    """Where alerts are handed over: the hospital's SMTP relay (RFC 5321), no authentication."""

    host: str
    port: int
    sender: str
    timeout: float = SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> MailRelay | None:
        """The relay configured by ``PANACEA_SMTP_*``, or None when no host is set."""
        if not settings.smtp_host:
            return None
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender)


@dataclass(frozen=True, kw_only=True)
class BreakGlassAlert:
    """What the security lead must learn at once about an emergency elevation."""

    grant_id: int
    organisation_id: int
    organisation_name: str
    user_email: str
    user_name: str
    role: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    client_address: str = ""

    @property
    def subject(self) -> str:
        """One line: header values may not contain line breaks (RFC 5322 section 2.2)."""
        text = (
            f"[PANACEA] Break-glass: {self.user_email} elevated to {self.role} "
            f"in {self.organisation_name}"
        )
        return _FOLDED.sub(" ", text).strip()

    @property
    def body(self) -> str:
        """The plain-text message: who, where, why, until when, and what to do next."""
        return "\n".join(
            [
                "An emergency (break-glass) elevation was granted.",
                "",
                f"Organisation: {self.organisation_name} (id {self.organisation_id})",
                f"User:         {self.user_name} <{self.user_email}>",
                f"Role granted: {self.role}",
                f"Granted at:   {_utc(self.granted_at)}",
                f"Expires at:   {_utc(self.expires_at)}",
                f"From address: {self.client_address or 'unknown'}",
                f"Grant id:     {self.grant_id}",
                "",
                "Reason given:",
                self.reason,
                "",
                "Every action under this grant is marked in the audit log. Once it ends, someone",
                "other than the requester must review it (break-glass review queue).",
            ]
        )

    @property
    def syslog_payload(self) -> dict[str, str | int]:
        """The alert for the SIEM: the JSON payload of an RFC 5424 message
        (:func:`panacea.identity.siem.send_syslog`)."""
        return {
            "type": "panacea.break_glass/1",
            "event": "break_glass.granted",
            "grant_id": self.grant_id,
            "organisation_id": self.organisation_id,
            "organisation": self.organisation_name,
            "user": self.user_email,
            "user_name": self.user_name,
            "role": self.role,
            "reason": self.reason,
            "granted_at": self.granted_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "client_address": self.client_address,
        }


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def email_message(alert: BreakGlassAlert, *, sender: str, recipients: list[str]) -> EmailMessage:
    """The alert as an RFC 5322 message from ``sender`` to ``recipients``.

    Raises AlertDeliveryError if an address would break the header (a line break in it).
    """
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = alert.subject
        message["Date"] = format_datetime(alert.granted_at)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        # Tells mail systems not to send vacation replies back to the platform (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
    except ValueError as e:
        raise AlertDeliveryError(f"alert e-mail of grant {alert.grant_id}: {e}") from e
    message.set_content(alert.body)
    return message


def send_email(relay: MailRelay, message: EmailMessage, *, recipients: list[str]) -> None:
    """Hand ``message`` to the relay for ``recipients``.

    Raises AlertDeliveryError if there is no recipient, the relay cannot be reached within
    the timeout, or it refuses the message or any recipient.
    """
    if not recipients:
        raise AlertDeliveryError("no recipient for the alert: no security lead, no alert e-mail")
    where = f"SMTP relay {relay.host}:{relay.port}"
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as smtp:
            refused = smtp.send_message(message, from_addr=relay.sender, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as e:
        raise AlertDeliveryError(f"{where}: {type(e).__name__}: {e}") from e
    if refused:
        raise AlertDeliveryError(f"{where} refused recipients {sorted(refused)}")
