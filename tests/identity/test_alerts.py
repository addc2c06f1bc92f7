"""Alert e-mails: well-formed messages, and every way a relay can fail becomes our error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from panacea.config import Settings
from panacea.identity.alerts import (
    AlertDeliveryError,
    BreakGlassAlert,
    MailRelay,
    email_message,
    send_email,
)
from tests.identity.alert_listeners import MailSink, free_port, smtp_server

GRANTED = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)
ALERT = BreakGlassAlert(
    grant_id=7,
    organisation_id=3,
    organisation_name="St\nElsewhere\r\nBcc: spy@evil.example",
    user_email="ana@st.example",
    user_name="Ana",
    role="security_lead",
    reason="PACS encrypted by ransomware,\nlead unreachable",
    granted_at=GRANTED,
    expires_at=GRANTED + timedelta(hours=4),
)


def test_the_subject_stays_one_line_and_the_body_says_it_all() -> None:
    message = email_message(ALERT, sender="panacea@st.example", recipients=["lead@st.example"])
    assert message["Subject"] == (
        "[PANACEA] Break-glass: ana@st.example elevated to security_lead in "
        "St Elsewhere Bcc: spy@evil.example"
    )
    assert message["Bcc"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "Expires at:   2025-03-01 06:30:00 UTC" in body
    assert "PACS encrypted by ransomware,\nlead unreachable" in body


def test_an_address_with_a_line_break_is_refused_not_sent() -> None:
    with pytest.raises(AlertDeliveryError, match="grant 7"):
        email_message(ALERT, sender="panacea@st.example\nBcc: x@y", recipients=["a@b.example"])


def test_no_relay_without_a_host() -> None:
    assert MailRelay.from_settings(Settings(smtp_host=None)) is None


def test_no_recipient_is_an_error() -> None:
    relay = MailRelay(host="127.0.0.1", port=free_port(), sender="p@st.example")
    with pytest.raises(AlertDeliveryError, match="no recipient"):
        send_email(relay, email_message(ALERT, sender=relay.sender, recipients=[]), recipients=[])


def test_an_unreachable_relay_is_named() -> None:
    relay = MailRelay(host="127.0.0.1", port=free_port(), sender="p@st.example")
    message = email_message(ALERT, sender=relay.sender, recipients=["lead@st.example"])
    with pytest.raises(AlertDeliveryError, match=r"SMTP relay 127\.0\.0\.1:\d+: Connection"):
        send_email(relay, message, recipients=["lead@st.example"])


@pytest.mark.parametrize(
    ("refused", "match"),
    [
        (frozenset({"gone@st.example"}), r"refused recipients \['gone@st\.example'\]"),
        (frozenset({"gone@st.example", "lead@st.example"}), "SMTPRecipientsRefused"),
    ],
)
def test_refused_recipients_are_an_error_and_the_others_still_get_it(
    refused: frozenset[str], match: str
) -> None:
    recipients = ["gone@st.example", "lead@st.example"]
    with smtp_server(MailSink(refuse=refused)) as (sink, port):
        relay = MailRelay(host="127.0.0.1", port=port, sender="p@st.example")
        message = email_message(ALERT, sender=relay.sender, recipients=recipients)
        with pytest.raises(AlertDeliveryError, match=match):
            send_email(relay, message, recipients=recipients)
    delivered = [r.rcpt_tos for r in sink.received]
    assert delivered == ([] if len(refused) == 2 else [["lead@st.example"]])
