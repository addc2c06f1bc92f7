"""The service view (``/services/{key}``): the service's top attack scenarios as a graph
(entry -> steps -> service) and as a list of steps, each linked to its asset and its CVE with
its probability, and the service's dependency tree.

Figures come from the latest snapshot's assessment document (:mod:`panacea.web.risk_data`),
so the service view and the overview always tell the same story: the document stored with the
snapshot, in the page as sent; recomputed (and filled in over the websocket) only for a
snapshot stored before migration 0005.
"""

from __future__ import annotations

from typing import Any

from nicegui import events, run, ui

from panacea.errors import PanaceaError
from panacea.identity.roles import Permission
from panacea.risk.snapshot import latest_snapshot
from panacea.web.callers import WebCaller
from panacea.web.charts import (
    money,
    percent,
    scenario_graph_option,
    scenario_style_words,
    scenario_summary,
)
from panacea.web.overview import risk_badge
from panacea.web.risk_data import (
    Document,
    dependency_tree,
    document_of,
    known_document,
    service_in_document,
    service_labels,
)
from panacea.web.shell import dashboard_page, mark_data_ready, set_page_heading, text_element

NVD_CVE_URL = "https://nvd.nist.gov/vuln/detail/"


def _facts(service: Document) -> None:
    low, high = service.get("interval", [0.0, 0.0])
    with ui.row().classes("items-center gap-4").props("data-testid=service-facts"):
        risk_badge(str(service.get("risk_class", "low")))
        text_element(
            "span",
            f"Probability of disruption {percent(float(service.get('probability', 0.0)))} "
            f"(95% interval {percent(float(low))}–{percent(float(high))})",
        )
        text_element("span", f"Expected loss {money(float(service.get('expected_loss', 0.0)))}")
        text_element(
            "span", f"Loss if disrupted {money(float(service.get('loss_if_disrupted', 0.0)))}"
        )
        text_element("span", f"Patient safety: {service.get('patient_safety', 'none')}")


def _open_node(event: events.EChartPointClickEventArguments) -> None:
    """A click on a graph node with an asset opens the asset (the list below has the links)."""
    data: Any = event.data  # a graph node's data item: the dict scenario_graph_option built
    asset_id = data.get("asset_id") if isinstance(data, dict) else None
    if isinstance(asset_id, int):
        ui.navigate.to(f"/assets/{asset_id}")


def _step_item(scenario: int, index: int, step: dict[str, Any]) -> None:
    with ui.element("li").props("data-testid=scenario-step").classes("panacea-step"):
        action = str(step.get("action", "")).replace("_", " ")
        text_element("span", f"{action}: ").classes("text-weight-medium")
        if step.get("action") == "entry":
            text_element("span", str(step.get("text", "")))
        if step.get("cve"):
            cve = str(step["cve"])
            ui.link(cve, NVD_CVE_URL + cve, new_tab=True).props(
                f'data-testid=scenario-step-cve rel="noopener noreferrer" '
                f'aria-label="{cve} at the NVD (opens a new tab)"'
            )
        if step.get("account"):
            text_element("span", f" account {step['account']}")
        if step.get("asset_id") is not None:
            text_element("span", " on ")
            ui.link(str(step.get("asset", "")), f"/assets/{int(step['asset_id'])}").props(
                "data-testid=scenario-step-asset"
            )
        text_element("span", f" — probability {percent(float(step.get('probability', 0.0)))}")
        if step.get("evidence"):
            text_element("span", f" ({step['evidence']})").classes("text-caption")


def _scenarios(service: Document) -> None:
    paths: list[Document] = service.get("top_paths") or []
    text_element("h2", "Top attack scenarios").classes("text-h6 q-mb-none")
    summary = scenario_summary(service)
    if paths:
        chart = ui.echart(scenario_graph_option(service), on_point_click=_open_node)
        chart.classes("panacea-chart panacea-graph").props("role=img data-testid=scenario-graph")
        chart.props["aria-label"] = summary
    ui.label(summary).props("data-testid=scenario-summary")
    ui.label(
        "Shapes: diamond entry, circle exploit, triangle phishing, square logon or stolen "
        "credentials, rounded square the service. Each scenario has its own colour and dash; "
        "edges carry the probability of the step they lead to."
    ).classes("text-caption")
    for number, path in enumerate(paths, 1):
        text_element(
            "h3",
            f"Scenario {number}: {percent(float(path.get('probability', 0.0)))} "
            f"({scenario_style_words(number - 1)} in the graph)",
        ).classes("text-subtitle1 text-weight-medium q-my-none")
        with ui.element("ol").props(f"data-testid=scenario-{number}").classes("panacea-steps"):
            for index, step in enumerate(path.get("steps", [])):
                _step_item(number, index, step)


@dashboard_page("/services/{key}", title="Clinical service", permission=Permission.RISK_READ)
async def service_page(caller: WebCaller, key: str) -> None:
    """Build the service view (see the module docstring)."""
    with caller.reading() as db:
        labels = service_labels(db, caller.organisation_id)
        snapshot = latest_snapshot(db, caller.organisation_id)
        tree = dependency_tree(db, caller.organisation_id, key)
        document = known_document(db, snapshot) if snapshot is not None else None
    label = labels.get(key)
    if label is None or tree is None:
        ui.context.client.status_code = 404
        ui.label(f"No clinical service {key!r} in {caller.organisation_name}.").props(
            "data-testid=service-missing"
        )
        ui.link("Back to the overview", "/")
        mark_data_ready()
        return
    set_page_heading(label.name)
    facts = ui.element("div").classes("w-full")
    scenarios = (
        ui.element("section").classes("w-full column gap-2").props('aria-label="Attack scenarios"')
    )
    with ui.element("section").classes("w-full").props('aria-label="Dependencies"'):
        text_element("h2", "What it depends on").classes("text-h6 q-mb-none")
        ui.tree([tree.as_tree()], label_key="label").expand().props("data-testid=dependency-tree")
    if snapshot is None:
        with scenarios:
            ui.label("No assessment yet: run one from the overview.").props(
                "data-testid=no-assessment"
            )
        mark_data_ready()
        return
    if document is None:  # a snapshot stored without its document: recompute it
        with scenarios:
            waiting = ui.label("Computing the scenarios…").props("role=status")
        await ui.context.client.connected()
        try:
            document = await run.io_bound(document_of, caller.context.sessions, snapshot)
        except PanaceaError as e:  # the current model cannot be assessed
            waiting.text = f"The scenarios could not be computed: {e}"
            waiting.props("role=alert")
            mark_data_ready()
            return
        waiting.delete()
    service = service_in_document(document, key) if document is not None else None
    if service is None:
        with scenarios:
            ui.label("This service was not in the last assessment: reassess to include it.")
        mark_data_ready()
        return
    with facts:
        _facts(service)
    with scenarios:
        _scenarios(service)
    mark_data_ready()
