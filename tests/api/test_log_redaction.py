"""Redaction of credentials in log records: patterns, argument types, exceptions."""

from __future__ import annotations

import logging

import pytest

from panacea.api.log_redaction import (
    REDACTED,
    SQL_HIDDEN,
    install_log_redaction,
    redact_record,
    redact_text,
    redact_value,
)

TOKEN = "pnc_AbCdEfGh_" + "k" * 43


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (f"token {TOKEN} used", TOKEN[4:]),
        ("Cookie: panacea_session=s3cr3tv4lue; theme=dark", "s3cr3tv4lue"),
        ("set-cookie: panacea_session=abcdef123; HttpOnly", "abcdef123"),
        ("GET /api/v1/health?access_token=xyz123&x=1 HTTP/1.1", "xyz123"),
        ("GET /auth/oidc/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj", "SplxlOB"),
        ("GET /auth/oidc/callback?code=abc&state=af0ifjsldkj", "af0ifjsldkj"),
        ("form: email=a@b.c&password=hunter2hunter2", "hunter2hunter2"),
        ('{"email": "a@b.c", "password": "p\\"w-with-quote"}', "w-with-quote"),
        ("{'client_secret': 'topsecretvalue'}", "topsecretvalue"),
        ("X-CSRF-Token: csrf-value-123", "csrf-value-123"),
    ],
)
def test_redact_text_removes_the_secret(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


def test_redact_text_keeps_ordinary_text() -> None:
    line = '127.0.0.1:5000 - "GET /api/v1/orgs/3/findings?limit=50 HTTP/1.1" 200'
    assert redact_text(line) == line


def test_header_lists_and_dicts_lose_sensitive_values_and_keep_types() -> None:
    headers = [
        (b"host", b"localhost"),
        (b"authorization", b"Token opaque-value"),
        (b"x-csrf-token", b"csrf-opaque"),
    ]
    redacted = redact_value(headers)
    assert redacted[0] == (b"host", b"localhost")
    assert redacted[1] == (b"authorization", REDACTED.encode())
    assert redacted[2] == (b"x-csrf-token", REDACTED.encode())
    body = {"email": "a@b.c", "password": "opaque", "nested": {"otp": "123456"}}
    assert redact_value(body) == {
        "email": "a@b.c",
        "password": REDACTED,
        "nested": {"otp": REDACTED},
    }


def make(name: str, msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)


def test_access_log_records_keep_their_argument_tuple() -> None:
    record = make(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        f"/x?access_token={TOKEN}",
        "1.1",
        200,
    )
    redact_record(record)
    assert isinstance(record.args, tuple)
    assert len(record.args) == 5
    assert TOKEN not in record.getMessage()


def test_objects_and_tracebacks_that_quote_a_secret_are_redacted() -> None:
    try:
        raise ValueError(f"bad header Authorization: Bearer {TOKEN}")
    except ValueError as e:
        error = e
    record = make("panacea.x", "failed: %s", error, exc=error)
    redact_record(record)
    assert TOKEN not in record.getMessage()
    assert record.exc_text is not None
    assert TOKEN not in record.exc_text
    assert "ValueError" in record.exc_text
    assert TOKEN not in logging.Formatter().format(record)


def test_sql_parameters_and_rows_are_hidden_but_statements_kept() -> None:
    statement = make("sqlalchemy.engine.Engine", "SELECT * FROM user_session WHERE id = ?")
    redact_record(statement)
    assert statement.getMessage() == "SELECT * FROM user_session WHERE id = ?"
    params = make("sqlalchemy.engine.Engine", "[%s] %r", "generated in 0.001s", ("csrf-x", 1))
    redact_record(params)
    assert params.getMessage() == f"[generated in 0.001s] '{SQL_HIDDEN}'"


def test_installed_factory_redacts_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one wrapper, not two
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "panacea_redacting", False)
    with caplog.at_level(logging.INFO, logger="some.library"):
        logging.getLogger("some.library").info("calling with %s", f"Bearer {TOKEN}")
    assert TOKEN not in caplog.text
    assert "Bearer [redacted]" in caplog.text
