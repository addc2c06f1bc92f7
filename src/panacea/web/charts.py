"""ECharts options of the dashboard, each with its text equivalent, and the risk palette.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies); no chart
relies on colour alone: series differ in line style and symbol shape too, ECharts' ``aria``
decals pattern areas, and every chart is described in words (``aria-label``) and given as a
table or list next to it (WCAG 2.2, 1.1.1 and 1.4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from panacea.web.risk_data import Document, TrendPoint

BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
REDDISH_PURPLE = "#CC79A7"
BLACK = "#000000"


@dataclass(frozen=True)
class ClassStyle:
    """How a risk class looks: a word, an icon of its own shape, colours with 4.5:1 contrast."""

    label: str
    icon: str
    background: str
    text: str


RISK_CLASSES: dict[str, ClassStyle] = {
    "critical": ClassStyle("Critical", "report", VERMILLION, BLACK),
    "high": ClassStyle("High", "warning", ORANGE, BLACK),
    "medium": ClassStyle("Medium", "info", SKY_BLUE, BLACK),
    "low": ClassStyle("Low", "south", BLUE, "#FFFFFF"),
}
# Scenarios of a service: colour, line style and width differ (never colour alone).
SCENARIO_STYLES = (
    (BLUE, "solid"),
    (ORANGE, "dashed"),
    (BLUISH_GREEN, "dotted"),
    (REDDISH_PURPLE, "solid"),
    (SKY_BLUE, "dashed"),
)
STEP_SYMBOLS = {
    "entry": "diamond",
    "exploit": "circle",
    "phish": "triangle",
    "lure": "triangle",
    "logon": "rect",
    "steal_credentials": "rect",
    "reported_compromise": "pin",
}
COLUMN_GAP = 200
ROW_GAP = 120
# Below this chart width (px) the scenario graph runs top to bottom.
NARROW_CHART = 600


def money(value: float) -> str:
    """An amount as the CLI and the board report write it (no currency: the model's unit)."""
    return f"{value:,.0f}"


def percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else "<1%"


# --- the risk trend --------------------------------------------------------------------------


def trend_option(points: Sequence[TrendPoint]) -> dict[str, Any]:
    """Total expected loss (left axis, solid blue circles) and services high or critical
    (right axis, dashed orange triangles) over the snapshots."""
    dates = [p.generated_at.strftime("%Y-%m-%d %H:%M") for p in points]
    return {
        "aria": {"enabled": True, "decal": {"show": True}},
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 70, "right": 50, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": dates},
        "yAxis": [
            {"type": "value", "name": "expected loss"},
            {"type": "value", "name": "services", "minInterval": 1},
        ],
        "series": [
            {
                "name": "Total expected loss",
                "type": "line",
                "data": [round(p.total_expected_loss, 2) for p in points],
                "color": BLUE,
                "symbol": "circle",
                "symbolSize": 8,
                "lineStyle": {"type": "solid", "width": 3},
            },
            {
                "name": "Services high or critical",
                "type": "line",
                "yAxisIndex": 1,
                "data": [p.critical + p.high for p in points],
                "color": ORANGE,
                "symbol": "triangle",
                "symbolSize": 10,
                "lineStyle": {"type": "dashed", "width": 2},
            },
        ],
    }


def trend_summary(points: Sequence[TrendPoint]) -> str:
    """The trend in one or two sentences (the chart's accessible name)."""
    if not points:
        return "No assessment yet: no trend to show."
    first, last = points[0], points[-1]
    if len(points) == 1:
        return (
            f"One assessment, on {last.generated_at:%Y-%m-%d %H:%M} UTC: total expected loss "
            f"{money(last.total_expected_loss)}, {last.critical} services critical and "
            f"{last.high} high."
        )
    return (
        f"{len(points)} assessments from {first.generated_at:%Y-%m-%d} to "
        f"{last.generated_at:%Y-%m-%d}: total expected loss went from "
        f"{money(first.total_expected_loss)} to {money(last.total_expected_loss)}; services "
        f"high or critical from {first.critical + first.high} to {last.critical + last.high}."
    )


# --- the scenario graph ----------------------------------------------------------------------


def _node_key(step: dict[str, Any]) -> str:
    if step.get("action") == "entry":
        return f"entry|{step.get('text', '')}"
    return "|".join(str(step.get(k) or "") for k in ("action", "asset_id", "cve", "account"))


def step_label(step: dict[str, Any]) -> str:
    """A step in a few words: the action, then the CVE or account, then the asset."""
    action = str(step.get("action", "")).replace("_", " ")
    if step.get("action") == "entry":
        return str(step.get("text", "entry")).replace("attacker profile: ", "entry: ")
    parts = [action]
    if step.get("cve"):
        parts.append(str(step["cve"]))
    elif step.get("account"):
        parts.append(str(step["account"]))
    if step.get("asset"):
        parts.append(str(step["asset"]))
    return "\n".join(parts)


def scenario_graph_option(service: Document) -> dict[str, Any]:
    """The service's top scenarios as a left-to-right graph: entry -> steps -> the service.

    A scenario is a minimal set of attacker actions in the order they happen; it is drawn as
    a chain: every entry point leads to the first action, each action to the next, the last
    to the service. A step shared by several scenarios is one node. Node shapes tell the kind
    of step (diamond entry, circle exploit, triangle phishing, square logon or stolen
    credentials, rounded square the service); each scenario's edges have their own colour,
    dash and curve, and carry the probability of the step they lead to.
    """
    nodes: dict[str, dict[str, Any]] = {}
    links: list[dict[str, Any]] = []
    paths: list[Document] = service.get("top_paths") or []
    service_key = f"service|{service.get('key')}"
    longest = 0
    entry_rows = 0

    def place(key: str, step: dict[str, Any], column: int, row: float) -> None:
        if key not in nodes:
            nodes[key] = {
                "id": key,
                "name": step_label(step),
                "x": column,
                "y": row,
                "symbol": STEP_SYMBOLS.get(str(step.get("action")), "circle"),
                "symbolSize": 26,
                "itemStyle": {"color": "#FFFFFF", "borderColor": BLACK, "borderWidth": 2},
                "asset_id": step.get("asset_id"),
                "cve": step.get("cve"),
            }

    for row, path in enumerate(paths):
        style = (*SCENARIO_STYLES[row % len(SCENARIO_STYLES)], _curve(row))
        steps: list[dict[str, Any]] = path.get("steps", [])
        entries = [s for s in steps if s.get("action") == "entry"]
        actions = [s for s in steps if s.get("action") != "entry"]
        for entry in entries:
            if _node_key(entry) not in nodes:  # entry points stack in the first column
                place(_node_key(entry), entry, 0, entry_rows)
                entry_rows += 1
        chain = [_node_key(a) for a in actions]
        for column, action in enumerate(actions, 1):
            place(chain[column - 1], action, column, row)
        longest = max(longest, len(actions))
        first = chain[0] if chain else service_key
        for entry in entries:
            probability = actions[0].get("probability", 0.0) if actions else path.get("probability")
            links.append(_edge(_node_key(entry), first, float(probability or 0.0), style))
        for source, target, step in zip(chain, chain[1:], actions[1:], strict=False):
            links.append(_edge(source, target, float(step.get("probability", 0.0)), style))
        if chain:
            links.append(_edge(chain[-1], service_key, float(path.get("probability", 0.0)), style))
    nodes[service_key] = {
        "id": service_key,
        "name": str(service.get("name", service.get("key", ""))),
        "x": longest + 1,
        "y": max(len(paths) - 1, 0) / 2,
        "symbol": "roundRect",
        "symbolSize": 40,
        "itemStyle": {"color": VERMILLION, "borderColor": BLACK, "borderWidth": 2},
    }
    # Nodes hold (column, row); wide screens draw columns left to right, narrow ones (a phone)
    # top to bottom, chosen by ECharts' media query on the chart's own width.
    across = [{**n, "x": n["x"] * COLUMN_GAP, "y": n["y"] * ROW_GAP} for n in nodes.values()]
    down = [{**n, "x": n["y"] * ROW_GAP, "y": n["x"] * COLUMN_GAP} for n in nodes.values()]
    return {
        "baseOption": {
            "aria": {"enabled": True},
            "animation": False,
            "tooltip": {"show": True},
            "series": [
                {
                    "type": "graph",
                    "layout": "none",
                    "roam": False,
                    "edgeSymbol": ["none", "arrow"],
                    "edgeSymbolSize": 10,
                    "label": {
                        "show": True,
                        "position": "bottom",
                        "fontSize": 11,
                        "lineHeight": 14,
                    },
                    "edgeLabel": {
                        "show": True,
                        "formatter": "{c}",
                        "fontSize": 11,
                        "color": "#1a1a1a",
                    },
                    "data": across,
                    "links": links,
                }
            ],
        },
        "media": [
            {
                "query": {"maxWidth": NARROW_CHART},
                "option": {"series": [{"data": down, "label": {"position": "right"}}]},
            }
        ],
    }


def _curve(row: int) -> float:
    """Edges of different scenarios between the same nodes bend apart (0, 0.15, -0.15, ...)."""
    if row == 0:
        return 0.0
    magnitude = 0.15 * ((row + 1) // 2)
    return magnitude if row % 2 else -magnitude


def _edge(
    source: str, target: str, probability: float, style: tuple[str, str, float]
) -> dict[str, Any]:
    colour, dash, curve = style
    return {
        "source": source,
        "target": target,
        "value": percent(probability),
        # Opaque: ECharts draws graph edges at half opacity by default (too faint to read).
        "lineStyle": {
            "color": colour,
            "type": dash,
            "width": 3,
            "curveness": curve,
            "opacity": 1,
        },
    }


def scenario_style_words(row: int) -> str:
    """How scenario ``row`` (0-based) is drawn, in words (for the list under the graph)."""
    colour, dash = SCENARIO_STYLES[row % len(SCENARIO_STYLES)]
    names = {
        BLUE: "blue",
        ORANGE: "orange",
        BLUISH_GREEN: "green",
        REDDISH_PURPLE: "purple",
        SKY_BLUE: "light blue",
    }
    return f"{names[colour]} {dash} line"


def scenario_summary(service: Document) -> str:
    """The scenario graph in words (its accessible name); the step list gives the details."""
    paths: list[Document] = service.get("top_paths") or []
    name = service.get("name", service.get("key", "the service"))
    if not paths:
        return f"No attack scenario reaches {name} in the model."
    parts = [
        f"scenario {i} ({percent(float(p.get('probability', 0.0)))}, "
        f"{len(p.get('steps', []))} steps)"
        for i, p in enumerate(paths, 1)
    ]
    return f"Attack scenarios against {name}: " + "; ".join(parts) + ". Steps are listed below."
