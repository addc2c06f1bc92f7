"""Keyset (cursor) pagination for every list.

A cursor is the opaque, URL-safe encoding of the last key of the previous page; pages are
``ORDER BY key`` and ``key > last``, so inserts and deletes between requests never repeat or
skip a row the way offsets do.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from panacea.api.problems import ProblemError

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


# Every list route takes these two query parameters.
Cursor = Annotated[
    str | None,
    Query(
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque cursor from the previous page's `next`",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page (null at the end)."""

    items: list[T]
    next: str | None = None


def encode_cursor(key: int | str) -> str:
    """The opaque cursor that resumes after ``key``."""
    raw = json.dumps({"k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | str:
    """The key a cursor resumes after. Raises ProblemError(400) for a malformed cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["k"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as e:
        raise ProblemError(400, "malformed cursor", slug="bad-cursor") from e
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProblemError(400, "malformed cursor", slug="bad-cursor")
    return value


def check_limit(limit: int) -> int:
    """Clamp-free check of a page size: 1..MAX_LIMIT or a 400 problem."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ProblemError(400, f"limit must be between 1 and {MAX_LIMIT}", slug="bad-limit")
    return limit


def paginate(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    *,
    cursor: str | None,
    limit: int,
    convert: Callable[[Any], T],
) -> Page[T]:
    """Run ``stmt`` (selecting one entity or row) as a keyset page ordered by ``key``."""
    check_limit(limit)
    if cursor is not None:
        stmt = stmt.where(key > _typed_key(decode_cursor(cursor), key))
    rows: Sequence[Any] = session.execute(stmt.order_by(key).limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [convert(r) for r in rows]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return Page[T](items=items, next=next_cursor)


def _typed_key(value: int | str, key: InstrumentedAttribute[Any]) -> int | str:
    """The cursor's key, if it fits the key column (else the database would fail, not us)."""
    typed: int | str = value
    try:
        expected = key.type.python_type
    except NotImplementedError:  # pragma: no cover - every key column we page on has one
        expected = object
    if not isinstance(value, expected) or (
        isinstance(value, int) and not -(2**31) <= value < 2**31
    ):
        raise ProblemError(400, "malformed cursor", slug="bad-cursor")
    return typed


def page_of_list(
    items: Sequence[T], *, key: Callable[[T], int | str], cursor: str | None, limit: int
) -> Page[T]:
    """A page over an in-memory list in its own order (ranked results): resume after ``key``.

    Raises ProblemError(400) if the cursor names no item of the list.
    """
    check_limit(limit)
    start = 0
    if cursor is not None:
        after = decode_cursor(cursor)
        keys = [key(item) for item in items]
        if after not in keys:
            raise ProblemError(400, "cursor does not match this list", slug="bad-cursor")
        start = keys.index(after) + 1
    chunk = list(items[start : start + limit + 1])
    more = len(chunk) > limit
    chunk = chunk[:limit]
    return Page[T](items=chunk, next=encode_cursor(key(chunk[-1])) if more and chunk else None)
