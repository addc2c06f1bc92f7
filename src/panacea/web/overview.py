"""The overview (``/``): clinical services ranked, the risk trend, the counts that matter, how
fresh the feeds and the last assessment are, and "Reassess" with a progress indicator.

The page is sent at once with everything the latest snapshot holds, including the one-line
"why" of each service and the medical devices at risk, read from the assessment document
stored with the snapshot (:mod:`panacea.web.risk_data`). Only a snapshot stored before that
document was (migration 0005) needs it recomputed, which takes an assessment's time: then
these are filled in over the websocket. ``panacea:data-ready`` is marked once they are shown.
Before the first assessment, a caller who may assess gets one run at once (with the progress
shown); others are told none exists.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from nicegui import run, ui
from nicegui.elements.mixins.text_element import TextElement

from panacea.errors import PanaceaError
from panacea.identity.roles import Permission
from panacea.risk.snapshot import latest_snapshot
from panacea.web.callers import WebCaller, WebSessionEndedError
from panacea.web.charts import (
    RISK_CLASSES,
    money,
    percent,
    trend_option,
    trend_summary,
)
from panacea.web.risk_data import (
    DEVICE_AT_RISK,
    Freshness,
    OverviewCounts,
    RankedService,
    TrendPoint,
    devices_at_risk,
    document_of,
    feed_freshness,
    known_document,
    medical_device_ids,
    overview_counts,
    ranked_services,
    reassess,
    service_in_document,
    service_labels,
    trend,
    why_line,
)
from panacea.web.shell import LOGIN_PATH, dashboard_page, mark_data_ready, text_element


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` as "3 min ago" / "5 h ago" / "12 days ago" (UTC datetimes, naive or aware)."""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 90:
        return "just now"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 36 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def risk_badge(risk_class: str) -> None:
    """The risk class as a word with an icon of its own shape (never colour alone)."""
    style = RISK_CLASSES.get(risk_class, RISK_CLASSES["low"])
    with (
        ui.element("span")
        .classes("panacea-risk-badge")
        .style(f"background:{style.background};color:{style.text}")
    ):
        ui.icon(style.icon).props('aria-hidden="true"')
        text_element("span", style.label)


def _freshness(caller: WebCaller, feeds: list[Freshness], generated: datetime | None) -> None:
    with (
        ui.row()
        .classes("panacea-freshness items-center gap-4 w-full")
        .props("data-testid=freshness")
    ):
        if generated is not None:
            text_element(
                "span", f"Last assessment: {generated:%Y-%m-%d %H:%M} UTC ({ago(generated)})"
            ).props("data-testid=last-assessment")
        else:
            text_element("span", "No assessment yet").props("data-testid=last-assessment")
        for feed in feeds:
            # Short versions only ("2025.08.25"); a feed's timestamp-like version adds noise.
            version = f", {feed.version}" if feed.version and len(feed.version) <= 20 else ""
            text_element(
                "span",
                f"{feed.name.upper()} feed: {feed.loaded_at:%Y-%m-%d} ({ago(feed.loaded_at)})"
                + version,
            ).props(f"data-testid=feed-{feed.name.lower()}")
        if not feeds:
            text_element("span", "Feeds never loaded").props("data-testid=feed-none")


def _count_card(testid: str, title: str, value: str, link: str | None, note: str = "") -> ui.label:
    with ui.card().classes("panacea-count").props(f"data-testid={testid}"):
        number = ui.label(value).classes("text-h4 text-weight-bold")
        if link is not None:
            ui.link(title, link).classes("panacea-count-title")
        else:
            ui.label(title).classes("panacea-count-title")
        if note:
            ui.label(note).classes("text-caption")
    return number


def _counts(counts: OverviewCounts) -> ui.label:
    with ui.element("section").props('aria-label="Key counts"').classes("panacea-counts"):
        _count_card("count-open-findings", "Open findings", str(counts.open_findings), "/findings")
        _count_card(
            "count-kev-findings", "Open findings on CISA KEV", str(counts.kev_findings), "/findings"
        )
        _count_card(
            "count-internet-exposed",
            "Internet-exposed assets",
            str(counts.internet_exposed_assets),
            "/assets",
        )
        return _count_card(
            "count-devices-at-risk",
            "Medical devices at risk",
            "…" if counts.medical_devices_at_risk is None else str(counts.medical_devices_at_risk),
            "/assets",
            f"compromise probability ≥ {percent(DEVICE_AT_RISK)}, of "
            f"{counts.medical_devices} devices",
        )


def _services_table(services: list[RankedService]) -> dict[str, TextElement]:
    """The ranked services as a table (a list of cards on a phone); returns the "why" cells."""
    whys: dict[str, TextElement] = {}
    with (
        ui.element("table")
        .classes("panacea-table panacea-services")
        .props("data-testid=services-ranked")
    ):
        text_element("caption", "Clinical services by risk class, then expected loss")
        with ui.element("thead"), ui.element("tr"):
            for heading in ("Service", "Risk", "Probability", "Expected loss", "Why"):
                text_element("th", heading).props("scope=col")
        with ui.element("tbody"):
            for rank, s in enumerate(services, 1):
                with ui.element("tr").props(f"data-testid=service-row-{s.key}"):
                    with ui.element("th").props("scope=row data-label=Service"):
                        ui.link(f"{rank}. {s.name}", f"/services/{s.key}").props(
                            f"data-testid=service-link-{s.key}"
                        )
                        if s.patient_safety:
                            ui.label(f"patient safety: {s.patient_safety}").classes("text-caption")
                    with ui.element("td").props("data-label=Risk"):
                        risk_badge(s.risk_class)
                    text_element("td", percent(s.probability)).props("data-label=Probability")
                    text_element("td", money(s.expected_loss)).props(
                        'data-label="Expected loss"'
                    ).classes("panacea-number")
                    whys[s.key] = text_element("td", "computing…").props("data-label=Why")
    return whys


def _trend(points: list[TrendPoint]) -> None:
    with ui.element("section").props("aria-labelledby=trend-heading").classes("w-full"):
        text_element("h2", "Risk trend").props("id=trend-heading").classes("text-h6")
        summary = trend_summary(points)
        if len(points) > 1:
            ui.echart(trend_option(points)).classes("panacea-chart").props(
                f'role=img aria-label="{summary}" data-testid=trend-chart'
            )
        ui.label(summary).props("data-testid=trend-summary")
        with ui.element("details"):
            text_element("summary", "The trend as a table")
            with ui.element("table").classes("panacea-table").props("data-testid=trend-table"):
                with ui.element("thead"), ui.element("tr"):
                    for heading in ("Assessed (UTC)", "Total expected loss", "Critical", "High"):
                        text_element("th", heading).props("scope=col")
                with ui.element("tbody"):
                    for p in reversed(points):
                        with ui.element("tr"):
                            text_element("td", f"{p.generated_at:%Y-%m-%d %H:%M}")
                            text_element("td", money(p.total_expected_loss)).classes(
                                "panacea-number"
                            )
                            text_element("td", str(p.critical))
                            text_element("td", str(p.high))


class Reassessment:
    """The "Reassess" button, its progress indicator and the work in a worker thread."""

    def __init__(self, caller: WebCaller) -> None:
        self.caller = caller
        with ui.row().classes("items-center gap-3"):
            self.button = ui.button("Reassess now", icon="refresh", on_click=self.start).props(
                "no-caps data-testid=reassess"
            )
            self.status = ui.label("").props(
                "role=status aria-live=polite data-testid=reassess-status"
            )
        self.progress = (
            ui.linear_progress(show_value=False)
            .props('indeterminate aria-label="Assessment running" data-testid=reassess-progress')
            .classes("w-full")
        )
        self.progress.visible = False

    def _work(self) -> int:
        snapshot, _ = reassess(self.caller)
        return snapshot.id

    async def start(self) -> None:
        self.button.disable()
        self.progress.visible = True
        started = time.monotonic()

        def tick() -> None:
            self.status.text = f"Assessing… {time.monotonic() - started:.0f} s"

        tick()
        timer = ui.timer(0.5, tick)
        try:
            result = await run.io_bound(self._work)
        except WebSessionEndedError as e:
            self.status.text = str(e)
            ui.navigate.to(f"{LOGIN_PATH}?{urlencode({'next': '/', 'expired': '1'})}")
            return
        except PanaceaError as e:  # the model refused (e.g. an inventory without services)
            self.status.text = f"The assessment failed: {e}"
            return
        finally:
            timer.cancel()
            self.progress.visible = False
            self.button.enable()
        if result is None:  # the server is stopping
            return
        snapshot_id = result
        self.status.text = (
            f"Assessment stored as snapshot {snapshot_id} "
            f"({time.monotonic() - started:.1f} s). Reloading…"
        )
        ui.navigate.reload()


@dashboard_page("/", title="Overview", permission=Permission.RISK_READ, nav="overview")
async def overview_page(caller: WebCaller) -> None:
    """Build the overview (see the module docstring)."""
    with caller.reading() as db:
        snapshot = latest_snapshot(db, caller.organisation_id)
        labels = service_labels(db, caller.organisation_id)
        feeds = feed_freshness(db)
        points = trend(db, caller.organisation_id)
        known = known_document(db, snapshot) if snapshot is not None else None
        counts = overview_counts(db, caller.organisation_id, known)
    _freshness(caller, feeds, snapshot.generated_at if snapshot is not None else None)
    reassessment = Reassessment(caller) if caller.allows(Permission.RISK_ASSESS) else None
    devices = _counts(counts)
    text_element("h2", "Clinical services at risk").classes("text-h6 q-mb-none")
    if snapshot is None:
        ui.label(
            "No assessment has been run yet."
            + ("" if reassessment else " Ask an analyst or a security lead to run one.")
        ).props("data-testid=no-assessment")
        _trend(points)
        if reassessment is not None:
            await ui.context.client.connected()
            await reassessment.start()
        else:
            mark_data_ready()
        return
    whys = _services_table(ranked_services(snapshot, labels))
    _trend(points)
    document = known
    if document is None:  # a snapshot stored without its document: recompute it
        await ui.context.client.connected()
        try:
            document = await run.io_bound(document_of, caller.context.sessions, snapshot)
        except PanaceaError as e:  # the current model cannot be assessed: say so, keep figures
            for cell in whys.values():
                cell.text = "—"
            ui.label(f"The scenarios could not be computed: {e}").props(
                "role=alert data-testid=why-error"
            )
    if document is not None:
        for key, cell in whys.items():
            cell.text = why_line(service_in_document(document, key)) or "—"
    if known is None and document is not None:  # the counts above could not use it yet
        with caller.reading() as db:
            device_ids = medical_device_ids(db, caller.organisation_id)
        devices.text = str(devices_at_risk(document, device_ids))
    mark_data_ready()
