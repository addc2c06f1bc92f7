"""``/assets``: the organisation's assets, filtered and paged by the server; ``/assets/{id}``:
one asset with its endpoints, components, findings and compromise probability.

The probability is the one of the organisation's latest assessment (its document, as the
overview uses it: ``risk_data.document_of``, stored with the snapshot and kept per process,
read in a worker thread). Nothing here changes data.
"""

from __future__ import annotations

from typing import Any

from nicegui import run, ui

from panacea.identity.roles import Permission
from panacea.inventory.vocabulary import AssetKind
from panacea.risk.snapshot import latest_snapshot
from panacea.web import risk_data
from panacea.web.asset_rows import (
    ASSET_SORTS,
    AssetDetail,
    AssetQuery,
    FilterChoices,
    asset_detail,
    asset_page,
    filter_choices,
)
from panacea.web.callers import WebCaller
from panacea.web.data_table import Column, ServerTable, static_table
from panacea.web.finding_rows import FindingQuery, finding_page
from panacea.web.shell import dashboard_page, mark_data_ready, set_page_heading, text_element
from panacea.web.table_paging import TablePage, TableRequest

ASSET_COLUMNS = (
    Column("name", "Name", sortable=True, kind="link", link="/assets/"),
    Column("kind", "Kind", sortable=True),
    Column("zone", "Zone", sortable=True),
    Column("department", "Department", sortable=True, narrow=True),
    Column("addresses", "Addresses", narrow=True),
    Column("criticality", "Criticality", sortable=True, narrow=True),
    Column("open_findings", "Open findings", align="right"),
    Column("max_cvss", "Highest CVSS", align="right"),
    Column("kev", "KEV", kind="flag"),
    Column("max_epss", "Highest EPSS", align="right", narrow=True),
)
ASSET_FINDING_COLUMNS = (
    Column("cve", "CVE", sortable=True, kind="link", link="/findings?finding=", link_field="id"),
    Column("status", "Status", sortable=True),
    Column("severity", "Severity"),
    Column("cvss", "CVSS", sortable=True, align="right"),
    Column("kev", "KEV", sortable=True, kind="flag"),
    Column("epss", "EPSS", sortable=True, align="right"),
    Column("confidence", "Confidence", sortable=True, narrow=True),
    Column("locus", "Where", narrow=True),
)
ANY = ""


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _shown(page: TablePage) -> TablePage:
    """Numbers as text with fixed decimals (sorting happened on the server already)."""
    for row in page.rows:
        for name, digits in (("max_cvss", 1), ("max_epss", 3), ("cvss", 1), ("epss", 3)):
            if name in row:
                row[name] = _number(row[name], digits)
    return page


def _kind_options(choices: FilterChoices) -> dict[str, str]:
    known = {k.value for k in AssetKind}
    return {ANY: "Any kind"} | {k: k.replace("_", " ") for k in choices.kinds if k in known}


@dashboard_page("/assets", title="Assets", permission=Permission.INVENTORY_READ, nav="assets")
async def assets_page(
    caller: WebCaller,
    kind: str = ANY,
    zone: int | None = None,
    department: str = ANY,
    q: str = ANY,
    kev: bool = False,
) -> None:
    """The asset table; the query parameters pre-set its filters (links can be shared)."""
    with caller.reading() as db:
        choices = filter_choices(db, caller.organisation_id)
    state: dict[str, Any] = {
        "kind": kind if kind in choices.kinds else ANY,
        "zone": zone if zone in dict(choices.zones) else ANY,
        "department": department if department in choices.departments else ANY,
        "q": q[:200],
        "kev": kev,
    }

    def query() -> AssetQuery:
        return AssetQuery(
            kind=state["kind"] or None,
            zone_id=state["zone"] or None,
            department=state["department"] or None,
            search=state["q"].strip() or None,
            open_kev=bool(state["kev"]),
        )

    def fetch(request: TableRequest) -> TablePage:
        with caller.reading() as db:
            return _shown(asset_page(db, caller.organisation_id, query(), request))

    with (
        ui.row()
        .classes("w-full items-end gap-3 panacea-filters")
        .props('role=search aria-label="Filter assets"')
    ):
        kind_select = ui.select(_kind_options(choices), value=state["kind"], label="Kind")
        zone_select = ui.select(
            {ANY: "Any zone"} | dict(choices.zones), value=state["zone"], label="Zone"
        )
        department_select = ui.select(
            {ANY: "Any department"} | {d: d for d in choices.departments},
            value=state["department"],
            label="Department",
        )
        search = ui.input("Name, host name or address", value=state["q"]).props(
            "clearable maxlength=200 data-testid=assets-search"
        )
        kev_box = ui.checkbox("Only with an open KEV finding", value=state["kev"]).props(
            "data-testid=assets-kev"
        )
    for element, testid in (
        (kind_select, "assets-kind"),
        (zone_select, "assets-zone"),
        (department_select, "assets-department"),
    ):
        element.props(f"outlined dense options-dense data-testid={testid}").classes("min-w-40")

    table = ServerTable(
        columns=ASSET_COLUMNS,
        fetch=fetch,
        default_sort="name",
        testid="assets-table",
        row_testid="asset-row-",
        caption=(
            "Assets. Sortable by "
            + ", ".join(c.label.lower() for c in ASSET_COLUMNS if c.name in ASSET_SORTS)
            + "; finding columns count open findings."
        ),
    )

    async def changed(name: str, value: Any) -> None:
        state[name] = value if value is not None else ANY
        await table.first_page()

    kind_select.on_value_change(lambda e: changed("kind", e.value))
    zone_select.on_value_change(lambda e: changed("zone", e.value))
    department_select.on_value_change(lambda e: changed("department", e.value))
    kev_box.on_value_change(lambda e: changed("kev", bool(e.value)))
    # Typing waits for a pause (300 ms) before asking the server.
    search.on(
        "update:model-value",
        lambda e: changed("q", e.args or ""),
        throttle=0.3,
        leading_events=False,
    )

    await ui.context.client.connected()
    await table.load()
    mark_data_ready()


# --- one asset -------------------------------------------------------------------------------

FIELD_LABELS = (
    ("kind", "Kind"),
    ("zone", "Zone"),
    ("remote_access_zone", "Remote access into"),
    ("hostname", "Host name"),
    ("os", "Operating system"),
    ("manufacturer", "Manufacturer"),
    ("model", "Model"),
    ("firmware", "Firmware"),
    ("department", "Department"),
    ("criticality", "Criticality"),
    ("patchable", "Patchable"),
    ("controls", "Controls"),
    ("source", "Source"),
    ("first_seen", "First seen"),
    ("last_seen", "Last seen"),
)


WIDE_GRID = "grid-cols-1 sm:grid-cols-2 xl:grid-cols-3"


def definition_list(pairs: list[tuple[str, str]], testid: str, grid: str = WIDE_GRID) -> None:
    """Label/value pairs as a ``<dl>``: one column on phones, more on wider screens."""
    with (
        ui.element("dl")
        .classes(f"w-full q-my-none grid {grid} gap-x-6 gap-y-2")
        .props(f"data-testid={testid}")
    ):
        for label, value in pairs:
            with ui.element("div").classes("min-w-0"):
                text_element("dt", label).classes("text-weight-medium")
                text_element("dd", value).classes("q-ml-none break-words")


def _definition_list(detail: AssetDetail) -> None:
    fields = detail.fields
    pairs = [(label, str(fields[key])) for key, label in FIELD_LABELS if fields.get(key)]
    pairs += [(f"Address ({kind})", value) for kind, value in fields["addresses"].items()]
    definition_list(pairs, "asset-fields")


def _list_table(
    title: str, rows: list[dict[str, Any]], total: int, columns: list[tuple[str, str]], testid: str
) -> None:
    text_element("h2", title).classes("text-h6 q-my-none")
    if total > len(rows):
        ui.label(f"The first {len(rows)} of {total:,} are shown.")
    if not rows:
        ui.label("None recorded.").props(f"data-testid={testid}-empty")
        return
    static_table([Column(n, label) for n, label in columns], rows, testid=testid)


@dashboard_page(
    "/assets/{asset_id}", title="Asset", permission=Permission.INVENTORY_READ, nav="assets"
)
async def asset_detail_page(caller: WebCaller, asset_id: int) -> None:
    """One asset; 404 text (in the frame) when the organisation has no such asset."""
    with caller.reading() as db:
        detail = asset_detail(db, caller.organisation_id, asset_id) if asset_id < 2**31 else None
    if detail is None:
        ui.label(f"No asset {asset_id} in {caller.organisation_name}.").props(
            "role=alert data-testid=asset-missing"
        )
        ui.link("Back to the assets", "/assets")
        mark_data_ready()
        return
    set_page_heading(f"Asset {detail.fields['name']}")
    with ui.card().classes("w-full").props("data-testid=asset-detail"):
        _definition_list(detail)
        summary = detail.summary
        ui.label(
            f"{summary.open} open finding(s); highest CVSS {_number(summary.max_cvss, 1) or '-'}"
            f"{'; on the CISA KEV list' if summary.kev else ''}."
        ).props("data-testid=asset-summary")
        probability = ui.label("Compromise probability: looking up the latest assessment…")
        probability.props('data-testid=asset-probability aria-live="polite"')
    _list_table(
        "Network endpoints",
        detail.endpoints,
        detail.endpoint_count,
        [
            ("port", "Port"),
            ("protocol", "Protocol"),
            ("state", "State"),
            ("service", "Service"),
            ("product", "Product"),
            ("cpe", "CPE"),
        ],
        "asset-endpoints",
    )
    _list_table(
        "Software components",
        detail.components,
        detail.component_count,
        [
            ("name", "Name"),
            ("version", "Version"),
            ("supplier", "Supplier"),
            ("purl", "Package URL or CPE"),
            ("source", "Source"),
        ],
        "asset-components",
    )
    findings: ServerTable | None = None
    if caller.allows(Permission.FINDINGS_READ):
        text_element("h2", "Findings").classes("text-h6 q-my-none")

        def fetch(request: TableRequest) -> TablePage:
            with caller.reading() as db:
                page = finding_page(
                    db, caller.organisation_id, FindingQuery(asset_id=asset_id), request
                )
            return _shown(page)

        findings = ServerTable(
            columns=ASSET_FINDING_COLUMNS,
            fetch=fetch,
            default_sort="cvss",
            default_descending=True,
            testid="asset-findings-table",
            row_testid="asset-finding-row-",
            caption="Findings of this asset (all statuses), highest CVSS first.",
        )
    await ui.context.client.connected()
    if findings is not None:
        await findings.load()
    mark_data_ready()
    probability.text = await _probability_text(caller, asset_id)


async def _probability_text(caller: WebCaller, asset_id: int) -> str:
    """The asset's compromise probability in the latest assessment (DETAIL: risk_data)."""
    if not caller.allows(Permission.RISK_READ):
        return "Compromise probability: your role does not include risk:read."
    with caller.reading() as db:
        snapshot = latest_snapshot(db, caller.organisation_id)
    if snapshot is None:
        return "Compromise probability: no assessment has been run yet."
    document = await run.io_bound(risk_data.document_of, caller.context.sessions, snapshot)
    if document is None:
        return "Compromise probability: not available (the server is stopping)."
    found = next((a for a in document.get("assets", []) if a.get("id") == asset_id), None)
    when = snapshot.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    if found is None:
        return f"Compromise probability: not in the assessment of {when} (added since?)."
    return (
        f"Compromise probability within a year: {float(found['probability']):.1%} "
        f"(assessment of {when}, attacker profiles {', '.join(snapshot.entries)})."
    )
