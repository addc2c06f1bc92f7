"""Chart options and their text equivalents."""

from __future__ import annotations

from datetime import datetime

from panacea.web.charts import (
    RISK_CLASSES,
    percent,
    scenario_graph_option,
    scenario_style_words,
    scenario_summary,
    trend_option,
    trend_summary,
)
from panacea.web.risk_data import TrendPoint


def _step(
    action: str, asset: str | None, cve: str | None, p: float, **extra: object
) -> dict[str, object]:
    return {
        "action": action,
        "asset": asset,
        "asset_id": None if asset is None else sum(map(ord, asset)),
        "cve": cve,
        "account": extra.get("account"),
        "probability": p,
        "evidence": "",
        "text": extra.get("text", f"{action} {asset}"),
    }


SERVICE = {
    "key": "ehr",
    "name": "Electronic health record",
    "top_paths": [
        {
            "probability": 0.3,
            "steps": [
                _step("entry", None, None, 1.0, text="attacker profile: phishing"),
                _step("exploit", "ws-01", "CVE-2023-23397", 0.74),
                _step("exploit", "db-01", "CVE-2017-0144", 0.54),
            ],
        },
        {
            "probability": 0.2,
            "steps": [
                _step("entry", None, None, 1.0, text="attacker profile: internet"),
                _step("entry", None, None, 1.0, text="attacker profile: phishing"),
                _step("exploit", "ws-01", "CVE-2023-23397", 0.74),
                _step("logon", "db-01", None, 0.95, account="svc-ehr"),
            ],
        },
    ],
}


def test_scenario_graph_runs_from_entries_through_steps_to_the_service() -> None:
    option = scenario_graph_option(SERVICE)
    series = option["baseOption"]["series"][0]
    nodes = {n["id"]: n for n in series["data"]}
    edges = {(e["source"], e["target"]) for e in series["links"]}
    phishing, internet = "entry|attacker profile: phishing", "entry|attacker profile: internet"
    ws = next(k for k in nodes if "CVE-2023-23397" in k)
    db_exploit = next(k for k in nodes if "CVE-2017-0144" in k)
    logon = next(k for k in nodes if k.startswith("logon|"))
    service = "service|ehr"
    # Shared steps are one node; entries never lead to each other.
    assert len(nodes) == 6
    assert edges == {
        (phishing, ws),
        (internet, ws),
        (ws, db_exploit),
        (db_exploit, service),
        (ws, logon),
        (logon, service),
    }
    assert (internet, phishing) not in edges
    assert nodes[phishing]["symbol"] == "diamond"
    assert nodes[ws]["symbol"] == "circle"
    assert nodes[logon]["symbol"] == "rect"
    assert nodes[service]["symbol"] == "roundRect"
    assert nodes[ws]["cve"] == "CVE-2023-23397"
    # The service is right of every step; entries in the first column.
    assert nodes[service]["x"] > max(n["x"] for k, n in nodes.items() if k != service)
    assert nodes[phishing]["x"] == nodes[internet]["x"] == 0
    # Scenarios differ by dash and curve, not only colour; edges carry probabilities.
    styles = {(e["lineStyle"]["type"], e["lineStyle"]["curveness"]) for e in series["links"]}
    assert len(styles) == 2
    assert {e["value"] for e in series["links"]} >= {"74%", "54%", "30%", "95%", "20%"}
    # On a narrow chart (a phone) the same nodes run top to bottom: x and y swap roles.
    [narrow] = option["media"]
    down = {n["id"]: n for n in narrow["option"]["series"][0]["data"]}
    assert down[service]["y"] > max(n["y"] for k, n in down.items() if k != service)
    assert down[phishing]["y"] == down[internet]["y"] == 0


def test_scenario_texts() -> None:
    summary = scenario_summary(SERVICE)
    assert summary.startswith("Attack scenarios against Electronic health record")
    assert "scenario 1 (30%, 3 steps)" in summary
    assert scenario_summary({"name": "Pharmacy", "top_paths": []}) == (
        "No attack scenario reaches Pharmacy in the model."
    )
    assert scenario_style_words(0) == "blue solid line"
    assert scenario_style_words(1) == "orange dashed line"


def test_trend_option_and_summary() -> None:
    points = [
        TrendPoint(1, datetime(2025, 1, 6, 9, 0), 1_000_000.0, 3, 2),
        TrendPoint(2, datetime(2025, 2, 3, 9, 0), 600_000.0, 1, 2),
    ]
    option = trend_option(points)
    assert option["aria"]["enabled"] is True
    loss, services = option["series"]
    assert loss["data"] == [1_000_000.0, 600_000.0]
    assert services["data"] == [5, 3]
    assert (loss["symbol"], loss["lineStyle"]["type"]) != (
        services["symbol"],
        services["lineStyle"]["type"],
    )
    assert trend_summary(points) == (
        "2 assessments from 2025-01-06 to 2025-02-03: total expected loss went from 1,000,000 "
        "to 600,000; services high or critical from 5 to 3."
    )
    assert trend_summary(points[:1]).startswith("One assessment, on 2025-01-06 09:00 UTC")
    assert trend_summary([]) == "No assessment yet: no trend to show."


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_risk_classes_have_words_distinct_icons_and_readable_contrast() -> None:
    assert len({s.icon for s in RISK_CLASSES.values()}) == len(RISK_CLASSES)
    for style in RISK_CLASSES.values():
        light, dark = sorted((_luminance(style.background), _luminance(style.text)))
        assert (dark + 0.05) / (light + 0.05) >= 4.5, style  # WCAG 2.2, 1.4.3
    assert percent(0.004) == "<1%"
    assert percent(0.0) == "0%"
    assert percent(0.296) == "30%"
