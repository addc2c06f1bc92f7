"""Server-side paging of the dashboard's tables: what a table asks for, and one page of rows.

A Quasar QTable in server-side mode emits a ``request`` event carrying its ``pagination``
object (``page``, ``rowsPerPage``, ``sortBy``, ``descending``). That object comes from the
browser, so it is validated here before it reaches a query: an unknown sort column falls back
to the table's default, the page size is one of :data:`PAGE_SIZES`, the page is clamped.

Pages are ``ORDER BY <column>, id LIMIT n OFFSET k``: the tie-breaker on the primary key makes
the order total (no row repeats or vanishes between pages). Offsets are fine here because the
sort columns are indexed or the filtered set is bounded by one organisation (20,000 assets:
the measured figures are in docs/dashboard.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

# Page sizes offered by the tables' footers; anything else the browser sends is refused.
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
# No table pages further than this: 100 rows x 10,000 pages covers a million rows.
MAX_PAGE = 10_000


@dataclass(frozen=True)
class TableRequest:
    """One validated page request: 1-based ``page``, ``size`` rows, ``sort`` column, order."""

    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    sort: str = "id"
    descending: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @classmethod
    def of(
        cls, pagination: Mapping[str, Any], *, sortable: Collection[str], default_sort: str
    ) -> TableRequest:
        """The request a QTable ``pagination`` object describes, within the table's limits."""
        page: Any = pagination.get("page")
        size: Any = pagination.get("rowsPerPage")
        sort = pagination.get("sortBy")
        descending = pagination.get("descending")
        return cls(
            page=min(max(page, 1), MAX_PAGE) if _is_int(page) else 1,
            size=size if _is_int(size) and size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            sort=sort if isinstance(sort, str) and sort in sortable else default_sort,
            descending=descending is True,
        )

    def pagination(self, total: int) -> dict[str, Any]:
        """The QTable ``pagination`` prop for this page of ``total`` rows."""
        return {
            "page": self.page,
            "rowsPerPage": self.size,
            "sortBy": self.sort,
            "descending": self.descending,
            "rowsNumber": total,
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TablePage:
    """The rows of one page (JSON-ready dicts) and how many rows match in all."""

    rows: list[dict[str, Any]]
    total: int
    request: TableRequest

    @property
    def pagination(self) -> dict[str, Any]:
        return self.request.pagination(self.total)
