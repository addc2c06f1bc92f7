"""Keyset pages over rows a service listed: the service is asked for ``limit + 1`` rows after
the cursor's key, and the extra row only says that there is a next page.

For services that return views (several tables joined) rather than one ORM entity, where
:func:`panacea.api.pagination.paginate` does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from panacea.api.pagination import Page, check_limit, decode_cursor, encode_cursor
from panacea.api.problems import ProblemError

T = TypeVar("T")


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


def page_of(rows: Sequence[T], *, limit: int, key: Callable[[T], int]) -> Page[T]:
    """The page of the first ``limit`` rows; ``next`` set if the service found one more."""
    check_limit(limit)
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page[T](items=items, next=encode_cursor(key(items[-1])) if more else None)
