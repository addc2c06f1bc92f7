"""``/findings``: the organisation's findings, filtered and paged by the server, and one
finding's details with its triage and risk-acceptance forms.

The forms are shown to roles holding ``findings:triage`` and ``risk:accept`` (as the API's
routes require) and every submission checks again on the server
(``WebCaller.transaction(permission)``) before ``finding_rows.change_status`` /
``accept_risk`` change the finding and append the audit entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nicegui import run, ui

from panacea.db.base import utcnow
from panacea.findings.errors import FindingError
from panacea.findings.vocabulary import Confidence, FindingStatus
from panacea.identity.roles import Permission
from panacea.web.assets_page import definition_list
from panacea.web.callers import WebCaller
from panacea.web.data_table import Column, ServerTable, static_table
from panacea.web.finding_rows import (
    TRIAGE_STATUSES,
    FindingHistory,
    accept_risk,
    change_status,
    finding_history,
    finding_page,
    query_of,
)
from panacea.web.shell import dashboard_page, mark_data_ready, text_element
from panacea.web.table_paging import TablePage, TableRequest

FINDING_COLUMNS = (
    Column("cve", "CVE", sortable=True, kind="open"),
    Column("asset", "Asset", sortable=True, kind="link", link="/assets/", link_field="asset_id"),
    Column("status", "Status", sortable=True),
    Column("severity", "Severity"),
    Column("cvss", "CVSS", sortable=True, align="right"),
    Column("kev", "KEV", sortable=True, kind="flag"),
    Column("epss", "EPSS", sortable=True, align="right"),
    Column("confidence", "Confidence", sortable=True, narrow=True),
    Column("last_seen", "Last seen", sortable=True, narrow=True),
    Column("accepted_until", "Accepted until", narrow=True),
)
STATUS_LABELS = {s.value: s.value.replace("_", " ") for s in FindingStatus}
# A new acceptance defaults to 90 days (a quarter: the usual review cycle of a risk register).
DEFAULT_ACCEPTANCE_DAYS = 90


def _shown(page: TablePage) -> TablePage:
    for row in page.rows:
        row["cvss"] = "" if row["cvss"] is None else f"{row['cvss']:.1f}"
        row["epss"] = "" if row["epss"] is None else f"{row['epss']:.3f}"
        row["status"] = STATUS_LABELS.get(row["status"], row["status"])
    return page


def _initial_statuses(status: str) -> list[str]:
    wanted = [s for s in status.split(",") if s in STATUS_LABELS]
    return wanted if status != "any" else []


@dashboard_page("/findings", title="Findings", permission=Permission.FINDINGS_READ, nav="findings")
async def findings_page(
    caller: WebCaller,
    status: str = "open",
    kev: bool = False,
    asset_id: int | None = None,
    finding: int | None = None,
) -> None:
    """The findings table (``status`` is a comma-separated list, or ``any``); ``finding``
    opens one finding's details."""
    values: dict[str, Any] = {
        "statuses": _initial_statuses(status),
        "kev_only": kev,
        "min_cvss": None,
        "min_epss": None,
        "confidence": None,
        "asset_id": asset_id,
        "asset_search": None,
        "cve": None,
    }

    def fetch(request: TableRequest) -> TablePage:
        with caller.reading() as db:
            return _shown(finding_page(db, caller.organisation_id, query_of(values), request))

    with (
        ui.row()
        .classes("w-full items-end gap-3 panacea-filters")
        .props('role=search aria-label="Filter findings"')
    ):
        statuses = (
            ui.select(
                STATUS_LABELS,
                value=values["statuses"],
                multiple=True,
                label="Status (any if empty)",
            )
            .props("outlined dense use-chips data-testid=findings-status")
            .classes("min-w-48")
        )
        min_cvss = (
            ui.number("CVSS at least", min=0, max=10, step=0.1)
            .props("outlined dense clearable data-testid=findings-min-cvss")
            .classes("w-36")
        )
        min_epss = (
            ui.number("EPSS at least", min=0, max=1, step=0.01)
            .props("outlined dense clearable data-testid=findings-min-epss")
            .classes("w-36")
        )
        confidence = (
            ui.select(
                {"": "Any confidence"} | {c.value: c.value for c in Confidence},
                value="",
                label="Confidence",
            )
            .props("outlined dense data-testid=findings-confidence")
            .classes("min-w-40")
        )
        asset_search = ui.input("Asset name").props(
            "outlined dense clearable maxlength=200 data-testid=findings-asset"
        )
        cve_search = ui.input("CVE").props(
            "outlined dense clearable maxlength=30 data-testid=findings-cve"
        )
        kev_box = ui.checkbox("Only CVEs on CISA KEV", value=kev).props("data-testid=findings-kev")
    if asset_id is not None:
        ui.label(f"Only the findings of asset {asset_id}.").props("data-testid=findings-asset-only")

    # One column on phones and laptops, the details beside the table on wide screens.
    with ui.element("div").classes("w-full grid grid-cols-1 2xl:grid-cols-3 gap-4"):
        with ui.element("div").classes("2xl:col-span-2 min-w-0"):
            table = ServerTable(
                columns=FINDING_COLUMNS,
                fetch=fetch,
                default_sort="cvss",
                default_descending=True,
                testid="findings-table",
                row_testid="finding-row-",
                caption="Findings, highest CVSS first. Open a CVE for details and triage.",
            )
        panel = (
            ui.element("section")
            .classes("min-w-0")
            .props('aria-label="Finding details" data-testid=finding-panel')
        )

    async def open_finding(finding_id: int) -> None:
        await _show_finding(caller, panel, finding_id, table)

    table.on_open = open_finding

    async def changed(name: str, value: Any) -> None:
        if name == "statuses":
            values[name] = list(value or [])
        else:
            values[name] = None if value in ("", None) else value
        await table.first_page()

    statuses.on_value_change(lambda e: changed("statuses", e.value))
    min_cvss.on_value_change(lambda e: changed("min_cvss", e.value))
    min_epss.on_value_change(lambda e: changed("min_epss", e.value))
    confidence.on_value_change(lambda e: changed("confidence", e.value))
    kev_box.on_value_change(lambda e: changed("kev_only", bool(e.value)))
    for box, name in ((asset_search, "asset_search"), (cve_search, "cve")):
        box.on(
            "update:model-value",
            lambda e, name=name: changed(name, e.args or None),
            throttle=0.3,
            leading_events=False,
        )

    await ui.context.client.connected()
    await table.load()
    if finding is not None and 0 < finding < 2**31:
        await open_finding(finding)
    mark_data_ready()


def _details(history: FindingHistory) -> None:
    d = history.detail
    rows = [
        ("Asset", d.asset),
        ("Where", d.locus),
        ("Status", STATUS_LABELS.get(d.status, d.status)),
        ("Reason", d.status_reason),
        ("Confidence", d.confidence),
        ("Source", d.source),
        ("CVSS", "" if d.cvss is None else f"{d.cvss:.1f} ({d.severity})"),
        ("On CISA KEV", "yes" if d.kev else "no"),
        ("EPSS", "" if d.epss is None else f"{d.epss:.3f}"),
        ("Matched CPE", d.matched_cpe or ""),
        ("Evidence", d.evidence),
        ("First seen", d.first_seen.isoformat(timespec="seconds")),
        ("Last seen", d.last_seen.isoformat(timespec="seconds")),
        ("Approver", d.approver or ""),
        ("Accepted until", d.accepted_until.date().isoformat() if d.accepted_until else ""),
    ]
    # Beside the table on very wide screens (one column), below it otherwise (two).
    pairs = [(label, value) for label, value in rows if value]
    definition_list(pairs, "finding-fields", "grid-cols-1 sm:grid-cols-2 2xl:grid-cols-1")


def _history(history: FindingHistory) -> None:
    if not history.changes:
        return
    text_element("h3", "History (newest first)").classes("text-subtitle1 q-my-none")
    history_columns = [
        Column(n, label)
        for n, label in (
            ("at", "When"),
            ("old", "From"),
            ("new", "To"),
            ("actor", "Who"),
            ("reason", "Why"),
        )
    ]
    static_table(history_columns, history.changes, testid="finding-history", page_size=10)


async def _show_finding(
    caller: WebCaller, panel: ui.element, finding_id: int, table: ServerTable
) -> None:
    """Fill ``panel`` with finding ``finding_id``'s details and the forms the role allows."""

    def load() -> FindingHistory | None:
        with caller.reading() as db:
            return finding_history(db, caller.organisation_id, finding_id)

    history = await run.io_bound(load)
    panel.clear()
    with panel, ui.card().classes("w-full").props("data-testid=finding-detail"):
        if history is None:
            ui.label(f"No finding {finding_id} in {caller.organisation_name}.").props("role=alert")
            return
        heading = text_element("h2", f"{history.detail.cve} on {history.detail.asset}")
        heading.classes("text-h6 q-my-none").props('tabindex="-1" data-testid=finding-heading')
        _details(history)
        message = ui.label("").props('role=status aria-live="polite" data-testid=finding-message')

        async def done(text: str) -> None:
            await _show_finding(caller, panel, finding_id, table)
            with panel:
                ui.notify(text, type="positive")
            await table.load()

        if caller.allows(Permission.FINDINGS_TRIAGE):
            _triage_form(caller, finding_id, history, message, done)
        if caller.allows(Permission.RISK_ACCEPT):
            _acceptance_form(caller, finding_id, message, done)
        _history(history)
    # Move keyboard focus to the details so a screen reader announces them. (The panel's
    # context: the element whose event got us here may have been cleared with the panel.)
    with panel:
        ui.run_javascript("document.querySelector('[data-testid=finding-heading]')?.focus()")


def _triage_form(
    caller: WebCaller, finding_id: int, history: FindingHistory, message: ui.label, done: Any
) -> None:
    text_element("h3", "Triage").classes("text-subtitle1 q-my-none")
    choices = {s.value: STATUS_LABELS[s.value] for s in TRIAGE_STATUSES}
    current = history.detail.status
    select = ui.select(choices, value=current if current in choices else None, label="New status")
    select.props("outlined dense data-testid=finding-status-select")
    reason = ui.input("Reason (kept in the history)").props(
        "outlined dense maxlength=2000 data-testid=finding-status-reason"
    )

    async def submit() -> None:
        def write() -> str:
            with caller.transaction(Permission.FINDINGS_TRIAGE) as db:
                finding = change_status(
                    db, caller.access, finding_id, str(select.value or ""), reason.value or ""
                )
                return finding.status

        try:
            status = await run.io_bound(write)
        except FindingError as e:
            message.text = f"Not changed: {e}"
            message.props("role=alert")
            return
        await done(f"Status set to {STATUS_LABELS.get(str(status), status)}.")

    ui.button("Set status", on_click=submit).props("data-testid=finding-status-submit no-caps")


def _acceptance_form(caller: WebCaller, finding_id: int, message: ui.label, done: Any) -> None:
    text_element("h3", "Accept the risk").classes("text-subtitle1 q-my-none")
    ui.label("An accepted risk needs an approver, a reason and an expiry date in the future.")
    approver = ui.input("Approver").props(
        "outlined dense maxlength=200 data-testid=accept-approver"
    )
    default = (utcnow() + timedelta(days=DEFAULT_ACCEPTANCE_DAYS)).date().isoformat()
    expiry = ui.input("Expires on (UTC)", value=default).props(
        "outlined dense type=date data-testid=accept-expiry"
    )
    reason = ui.input("Reason").props("outlined dense maxlength=2000 data-testid=accept-reason")

    async def submit() -> None:
        def write() -> str:
            with caller.transaction(Permission.RISK_ACCEPT) as db:
                finding = accept_risk(
                    db,
                    caller.access,
                    finding_id,
                    approver=approver.value or "",
                    reason=reason.value or "",
                    expires=expiry.value or "",
                )
                return finding.accepted_until.date().isoformat() if finding.accepted_until else ""

        try:
            until = await run.io_bound(write)
        except FindingError as e:
            message.text = f"Not accepted: {e}"
            message.props("role=alert")
            return
        await done(f"Risk accepted until {until}.")

    ui.button("Accept the risk", on_click=submit).props("data-testid=accept-submit no-caps")
