"""Keep credentials out of every log record, whichever library writes it.

Access logs carry query strings (``?access_token=...``, an OAuth ``code``), uvicorn's trace
level logs whole header lists, and an exception message may quote a request. Rather than trust
every logger, the record factory is wrapped once per process (:func:`install_log_redaction`,
called by ``create_app``): each record's message template and arguments are redacted before
any handler sees them. Argument types are kept (uvicorn's access formatter unpacks a tuple).

What is redacted: the value after ``Bearer``/``Basic``; API tokens (``pnc_...``); the values of
the sensitive headers (Authorization, Cookie, Set-Cookie, X-CSRF-Token, Proxy-Authorization)
in header lists and dicts; cookies named ``*session*``; query, form and JSON values of
password-, token-, secret- and code-like keys; every bound parameter and result row that
SQLAlchemy logs (its statements stay). OWASP Logging Cheat Sheet, "Data to exclude".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[redacted]"
SQL_HIDDEN = "[values hidden]"
_SQL_LOGGER = "sqlalchemy.engine"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token"}
)
_KEYS = (
    r"password|passwd|new_password|current_password|secret|client_secret|token|access_token|"
    r"refresh_token|id_token|api_key|apikey|code|state|otp|totp|recovery_code|csrf_token"
)
SENSITIVE_KEYS = frozenset(_KEYS.split("|"))
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{REDACTED}"),
    (re.compile(r"\bpnc_[A-Za-z0-9_-]{4,}"), f"pnc_{REDACTED}"),
    (re.compile(r"(?i)\b([a-z0-9_]*session[a-z0-9_]*=)[^;,\s&\"']+"), rf"\1{REDACTED}"),
    (
        re.compile(rf"(?i)(^|[?&;\s,])((?:{_KEYS})=)[^&;\s\"']*"),
        rf"\1\2{REDACTED}",
    ),
    (
        re.compile(rf"(?i)([\"']?(?:{_KEYS})[\"']?\s*:\s*)([\"'])((?:\\.|(?!\2).)*)\2"),
        rf"\1\2{REDACTED}\2",
    ),
    (
        re.compile(r"(?i)\b(authorization|cookie|set-cookie|x-csrf-token)(\s*:\s*)[^\r\n]+"),
        rf"\1\2{REDACTED}",
    ),
)
_MAX_DEPTH = 6


def redact_text(text: str) -> str:
    """``text`` with every recognised credential replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _name(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1").lower()
    if isinstance(value, str):
        return value.lower()
    return None


def redact_value(value: Any, depth: int = 0) -> Any:
    """``value`` (a log argument) redacted; strings, bytes and containers of them recursively.

    Other objects are left alone here; :func:`redact_record` then checks the message they
    format to.
    """
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("latin-1")).encode("latin-1")
    if isinstance(value, tuple | list):
        if len(value) == 2 and _name(value[0]) in SENSITIVE_HEADERS:
            hidden: Any = REDACTED.encode() if isinstance(value[1], bytes) else REDACTED
            items = [value[0], hidden]
        else:
            items = [redact_value(v, depth + 1) for v in value]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            name = _name(k)
            sensitive = name in SENSITIVE_HEADERS or name in SENSITIVE_KEYS
            out[k] = REDACTED if sensitive else redact_value(v, depth + 1)
        return out
    return value


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: template, arguments, then the formatted message and traceback.

    Arguments are redacted one by one, keeping their types. If an argument is some other
    object (an exception, say) and the formatted message still holds a credential, the record
    is collapsed to its redacted message with no arguments (records of plain values keep
    their arguments, which formatters such as uvicorn's access log unpack). A traceback is
    formatted now and redacted, so handlers print that text instead of formatting it anew.
    """
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    if record.name.startswith(_SQL_LOGGER) and isinstance(record.args, tuple):
        # Bound parameters and result rows are database values (digests, CSRF tokens, password
        # hashes, sealed fields): the statement is logged, never the values.
        record.args = tuple(
            a if isinstance(a, str | int | float) else SQL_HIDDEN for a in record.args
        )
    if isinstance(record.args, Mapping):
        record.args = redact_value(record.args)
    elif isinstance(record.args, tuple):
        record.args = tuple(redact_value(a) for a in record.args)
    if record.args and any(_opaque(a) for a in _top_level(record.args)):
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = None  # a malformed call: logging reports it when a handler formats it
        if message is not None:
            redacted = redact_text(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_text(record.exc_text)


_TRACEBACKS = logging.Formatter()
_PLAIN = (str, bytes, int, float, bool, type(None), tuple, list, dict)


def _top_level(args: tuple[Any, ...] | Mapping[str, Any]) -> list[Any]:
    return list(args.values()) if isinstance(args, Mapping) else list(args)


def _opaque(value: Any) -> bool:
    """An argument whose text only its own ``__str__``/``__repr__`` knows (an exception...)."""
    return not isinstance(value, _PLAIN)


def install_log_redaction() -> None:
    """Wrap the process's log record factory so every record is redacted (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "panacea_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        return record

    redacting: Callable[..., logging.LogRecord] = factory
    redacting.panacea_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
