"""A table paged and sorted by the server (Quasar QTable in server-side mode).

The browser holds one page of rows. When the user changes page, page size or sort, QTable
emits ``request`` with its pagination; the server validates it (:class:`TableRequest`), runs
the page's query in a worker thread (the event loop serves every other browser meanwhile) and
sends back the rows and the new pagination with ``rowsNumber`` (the total).

Cells are rendered by Vue's text interpolation (escaped), never as HTML. Each row carries
``data-testid=<row_testid><id>``. A ``link`` column renders an anchor (keyboard reachable), an
``open`` column a button emitting ``open`` with the row's id, a ``flag`` column a word with an
icon (never colour alone).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nicegui import Client, context, run, ui
from nicegui.events import GenericEventArguments, ValueChangeEventArguments

from panacea.web.table_paging import PAGE_SIZES, TablePage, TableRequest

CellKind = Literal["text", "link", "open", "flag", "button"]


@dataclass(frozen=True)
class Column:
    """One column: ``name`` is the row field; ``link`` is a path prefix for ``link`` cells
    (followed by the row's ``link_field``); ``narrow`` columns are hidden on phones."""

    name: str
    label: str
    sortable: bool = False
    kind: CellKind = "text"
    link: str = ""
    link_field: str = "id"
    align: Literal["left", "right", "center"] = "left"
    narrow: bool = False
    flag_icon: str = "warning"
    # A ``button`` cell: its text, the event it emits with the row's id, when it shows (a
    # JavaScript condition on ``props.row``, written by us), its test id prefix.
    button: str = ""
    event: str = "open"
    show_if: str = "true"
    button_testid: str = ""

    def quasar(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "field": self.name,
            "sortable": self.sortable,
            "align": self.align,
        }
        if self.narrow:
            column["classes"] = "gt-xs"
            column["headerClasses"] = "gt-xs"
        return column


def _cell(column: Column) -> str:
    """The Vue markup of one cell of ``column`` (names are ours, never user data)."""
    if column.kind == "link":
        return (
            '<a class="panacea-cell-link text-primary" '
            f':href="{column.link!r} + props.row.{column.link_field}">'
            "{{ col.value }}</a>"
        )
    if column.kind == "open":
        return (
            '<q-btn flat dense no-caps color=primary :label="String(col.value)" '
            ":aria-label=\"'Open ' + col.value\" "
            "@click=\"() => $parent.$emit('open', props.row.id)\" "
            ":data-testid=\"'open-' + props.row.id\" />"
        )
    if column.kind == "button":
        return (
            f'<q-btn v-if="{column.show_if}" flat dense no-caps color=primary '
            f'label="{column.button}" '
            f":aria-label=\"'{column.button} ' + (props.row.name || props.row.id)\" "
            f":data-testid=\"'{column.button_testid}' + props.row.id\" "
            f"@click=\"() => $parent.$emit('{column.event}', props.row.id)\" />"
        )
    if column.kind == "flag":
        return (
            f'<span v-if="col.value" class="panacea-flag"><q-icon name="{column.flag_icon}" '
            'aria-hidden="true" class="q-mr-xs" />{{ col.value }}</span>'
        )
    return "<span>{{ col.value }}</span>"


# The shared stylesheet (static/panacea.css) turns ``.panacea-table`` rows into cards on a
# phone, labelling each value with ``td[data-label]::before``; QTable positions its cells'
# ``::before`` absolutely (a hover overlay), which would lay the label over the value.
TABLE_CSS = """
@media (max-width: 700px) {
  .panacea-table.q-table__container tbody td[data-label]::before {
    position: static; display: inline; background: none; opacity: 1;
  }
  .panacea-table.q-table__container tbody td { height: auto; white-space: normal; }
}
"""
_styled: weakref.WeakSet[Client] = weakref.WeakSet()


def _add_table_styles() -> None:
    """Add TABLE_CSS to the page being built, once per page."""
    client = context.client
    if client not in _styled:
        _styled.add(client)
        ui.add_css(TABLE_CSS)


def body_template(columns: Sequence[Column], row_testid: str) -> str:
    """The Vue markup of a row: each cell labelled with its column (``data-label``: on a phone
    the shared stylesheet shows rows as cards, each value after its column's name)."""
    branches = []
    special = [c for c in columns if c.kind != "text"]
    for n, column in enumerate(special):
        keyword = "v-if" if n == 0 else "v-else-if"
        branches.append(
            f"<template {keyword}=\"col.name === '{column.name}'\">{_cell(column)}</template>"
        )
    default = "<template v-else>{{ col.value }}</template>" if special else "{{ col.value }}"
    # height:auto: QTable fixes row heights, which would overlap the cells of a card.
    return (
        f'<q-tr :props="props" :data-testid="\'{row_testid}\' + props.row.id" '
        'style="height: auto">'
        '<q-td v-for="col in props.cols" :key="col.name" :props="props" '
        ':data-label="col.label" style="height: auto">'
        f"{''.join(branches)}{default}</q-td></q-tr>"
    )


def pagination_template(testid: str) -> str:
    """The table's page controls: QTable's own buttons are bare icons with no accessible name,
    these say what they do (and carry test ids)."""
    buttons = (
        ("first", "first_page", "First page", "props.firstPage", "props.isFirstPage"),
        ("previous", "chevron_left", "Previous page", "props.prevPage", "props.isFirstPage"),
        ("next", "chevron_right", "Next page", "props.nextPage", "props.isLastPage"),
        ("last", "last_page", "Last page", "props.lastPage", "props.isLastPage"),
    )
    controls = "".join(
        f'<q-btn flat round dense icon="{icon}" aria-label="{label}" title="{label}" '
        f':disable="{disabled}" @click="{action}" data-testid="{testid}-{name}" />'
        for name, icon, label, action, disabled in buttons
    )
    return (
        '<span class="q-table__bottom-item">'
        "Page {{ props.pagination.page }} of {{ props.pagesNumber }}</span>" + controls
    )


def static_table(
    columns: Sequence[Column],
    rows: list[dict[str, Any]],
    *,
    testid: str,
    row_testid: str | None = None,
    page_size: int = 25,
    empty: str = "None",
) -> ui.table:
    """A table of rows the page already holds (paged in the browser), laid out as the
    server tables are (labelled cells, cards on a phone)."""
    _add_table_styles()
    table = (
        ui.table(
            columns=[c.quasar() for c in columns],
            rows=rows,
            row_key="id",
            pagination={"rowsPerPage": page_size},
        )
        .props(f"data-testid={testid} flat bordered dense wrap-cells")
        .classes("w-full panacea-table")
    )
    table.props["no-data-label"] = empty
    table.add_slot("body", body_template(columns, row_testid or f"{testid}-row-"))
    table.add_slot("pagination", pagination_template(testid))
    return table


Fetch = Callable[[TableRequest], TablePage]


@dataclass
class ServerTable:
    """A server-paged table; ``fetch`` runs in a worker thread with a validated request."""

    columns: Sequence[Column]
    fetch: Fetch
    default_sort: str
    testid: str
    row_testid: str
    caption: str
    default_descending: bool = False
    on_open: Callable[[int], Awaitable[None] | None] | None = None
    on_loaded: Callable[[TablePage], None] | None = None
    table: ui.table = field(init=False)
    sort_choice: ui.select | None = field(init=False)
    status: ui.label = field(init=False)
    _request: TableRequest = field(init=False)
    _pagination: dict[str, Any] = field(init=False)
    _sent: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        _add_table_styles()
        sortable = [c.name for c in self.columns if c.sortable]
        self._sortable = frozenset(sortable)
        self._request = TableRequest(sort=self.default_sort, descending=self.default_descending)
        self._pagination = self._request.pagination(0)
        self.table = (
            ui.table(
                columns=[c.quasar() for c in self.columns],
                rows=[],
                row_key="id",
                pagination=dict(self._pagination),
            )
            .props(
                f"data-testid={self.testid} flat bordered dense wrap-cells "
                f"rows-per-page-options={list(PAGE_SIZES)} "
                'no-data-label="Nothing matches these filters" '
                'loading-label="Loading…"'
            )
            .classes("w-full panacea-table")
        )
        self.table.add_slot("body", body_template(self.columns, self.row_testid))
        self.table.add_slot("pagination", pagination_template(self.testid))
        with self.table.add_slot("top-left"):
            ui.label(self.caption).classes("text-subtitle2")
        # The column headers sort too, but a phone's card layout hides them: a menu does it.
        self.sort_choice = self._sort_menu(sortable)
        self.table.on("request", self._on_request, ["pagination"])
        # In server-side mode QTable asks for pages with "request"; it also emits
        # "update:pagination" on its own (when mounted, when props change) with the pagination
        # it had before the server's answer arrived. NiceGUI's table stores that stale value
        # (rowsNumber 0), so the server's pagination is put back: it alone knows the total.
        self.table.on_pagination_change(self._keep_pagination)
        self.table.on("open", self._on_open)
        # Screen readers hear the new total after a page or filter change.
        self.status = ui.label("").props('role=status aria-live="polite"').classes("sr-only")

    def _sort_menu(self, sortable: list[str]) -> ui.select | None:
        if not sortable:
            return None
        labels = {c.name: c.label for c in self.columns}
        options = {
            f"{name}:{order}": f"{labels[name]} {'descending' if order == 'desc' else 'ascending'}"
            for name in sortable
            for order in ("asc", "desc")
        }
        with self.table.add_slot("top-right"):
            menu = (
                ui.select(options, value=self._sort_key(self._request), label="Sort by")
                .props(f"dense outlined options-dense data-testid={self.testid}-sort")
                .classes("min-w-48")
            )
        menu.on_value_change(self._on_sort_choice)
        return menu

    @staticmethod
    def _sort_key(request: TableRequest) -> str:
        return f"{request.sort}:{'desc' if request.descending else 'asc'}"

    async def _on_sort_choice(self, event: ValueChangeEventArguments[Any]) -> None:
        value = event.value
        if not isinstance(value, str) or value == self._sort_key(self._request):
            return  # the header changed the sort and the menu followed: already loaded
        sort, _, order = value.partition(":")
        if sort not in self._sortable:  # the value comes from the browser
            return
        current = self._request
        await self.load(TableRequest(1, current.size, sort, order == "desc"))

    @property
    def request(self) -> TableRequest:
        return self._request

    async def load(self, request: TableRequest | None = None) -> TablePage | None:
        """Fetch and show ``request`` (default: the current page again)."""
        wanted = request or self._request
        # Requests overlap (typing in a filter, then paging): only the newest one is shown.
        self._sent += 1
        ticket = self._sent
        self.table.props("loading")
        try:
            page = await run.io_bound(self.fetch, wanted)
        finally:
            if ticket == self._sent:
                self.table.props(remove="loading")
        if page is None or ticket != self._sent:  # shutting down, or overtaken
            return None
        self._request = page.request
        if self.sort_choice is not None:
            self.sort_choice.value = self._sort_key(page.request)
        self.table.rows = page.rows
        self._pagination = page.pagination
        self.table.pagination = dict(self._pagination)
        self.status.text = f"{page.total:,} rows; page {page.request.page}"
        if self.on_loaded is not None:
            self.on_loaded(page)
        return page

    async def first_page(self) -> TablePage | None:
        """Page 1 with the current sort (after a filter change)."""
        current = self._request
        return await self.load(TableRequest(1, current.size, current.sort, current.descending))

    async def _on_request(self, event: GenericEventArguments) -> None:
        pagination = event.args.get("pagination") if isinstance(event.args, Mapping) else None
        request = TableRequest.of(
            pagination if isinstance(pagination, Mapping) else {},
            sortable=self._sortable,
            default_sort=self.default_sort,
        )
        await self.load(request)

    def _keep_pagination(self, event: ValueChangeEventArguments[dict[str, Any]]) -> None:
        if event.value != self._pagination:
            self.table.pagination = dict(self._pagination)

    async def _on_open(self, event: GenericEventArguments) -> None:
        row_id = event.args
        if self.on_open is None or isinstance(row_id, bool) or not isinstance(row_id, int):
            return
        result = self.on_open(row_id)
        if result is not None:
            await result
