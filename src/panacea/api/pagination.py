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
    page = page_of(rows, limit=limit, key=lambda row: getattr(row, key.key))
    return Page[T](items=[convert(r) for r in page.items], next=page.next)


def page_of(rows: Sequence[T], *, limit: int, key: Callable[[T], int | str]) -> Page[T]:
    """The page of the first ``limit`` of ``rows``, which a query asked ``limit + 1`` of: the
    extra row only says that there is a next page, whose cursor resumes after the last key.

    For services that list views (several tables joined) after ``after_id(cursor)``.
    """
    check_limit(limit)
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page[T](items=items, next=encode_cursor(key(items[-1])) if more else None)


def after_id(cursor: str | None) -> int | None:
    """The integer id a cursor resumes after (None for the first page).

    Raises ProblemError(400) for a malformed cursor or one that does not hold an id.
    """
    if cursor is None:
        return None
    key = decode_cursor(cursor)
    if not isinstance(key, int) or not 0 <= key < 2**63:
        raise ProblemError(400, "cursor does not belong to this list", slug="bad-cursor")
    return key


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
    return page_of(items[start : start + limit + 1], limit=limit, key=key)
