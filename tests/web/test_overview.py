"""The overview and the service view show the document stored with the snapshot, as sent,
without rebuilding the model (the first load after a restart included)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from panacea.identity.roles import Role
from panacea.risk.snapshot import RiskSnapshot
from panacea.web.risk_data import DOCUMENTS, service_in_document, why_line
from tests.api.conftest import ApiWorld
from tests.api.hospital import small_hospital
from tests.web.conftest import elements, find, signed_in
from tests.web.model_builds import count_model_builds


def _assessed_by_the_api(world: ApiWorld, org: int) -> tuple[int, dict[str, Any]]:
    """An assessment stored through the API (another process, for the dashboard's memory)."""
    analyst = signed_in(world, world.user("analyst@a.example", {org: Role.ANALYST}))
    assessed = analyst.post(f"/api/v1/orgs/{org}/risk/assessments", json={})
    assert assessed.status_code == 201, assessed.text
    body = assessed.json()
    # As after a restart: nothing of this snapshot is in the dashboard's memory.
    DOCUMENTS.forget(org, body["snapshot_id"])
    return int(body["snapshot_id"]), body["document"]


def _whys(tree: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Service key -> the text of its "why" cell, as the page was sent."""
    whys: dict[str, str] = {}
    for element in tree.values():
        testid = str(element.get("props", {}).get("data-testid", ""))
        if testid.startswith("service-row-"):
            cells = [tree[str(c)] for c in element.get("children", [])]
            why = next(c for c in cells if c.get("props", {}).get("data-label") == "Why")
            whys[testid.removeprefix("service-row-")] = str(why.get("text", ""))
    return whys


def test_the_overview_is_sent_with_the_stored_why_lines(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = small_hospital(api_world, "Hospital A")
    _, document = _assessed_by_the_api(api_world, org)
    builds = count_model_builds(monkeypatch)
    viewer = signed_in(api_world, api_world.user("viewer@a.example", {org: Role.VIEWER}))
    tree = elements(viewer.get("/"))
    whys = _whys(tree)
    assert list(whys) == [s["key"] for s in document["services"]]
    for key, text in whys.items():
        assert text == (why_line(service_in_document(document, key)) or "—"), key
    assert any(text.startswith("Most likely: ") for text in whys.values())
    devices = find(tree, "count-devices-at-risk")
    assert devices is not None
    number = tree[str(devices["children"][0])]
    assert str(number["text"]).isdigit(), number  # not "…": known before the page is sent
    # The service view tells the same story, from the same document, as sent.
    top = document["services"][0]
    service_tree = elements(viewer.get(f"/services/{top['key']}"))
    assert find(service_tree, "scenario-graph") is not None
    assert find(service_tree, "scenario-1") is not None
    assert builds == [], "the dashboard rebuilt the model although the snapshot has its document"


def test_a_snapshot_without_its_document_is_explained_once_recomputed(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = small_hospital(api_world, "Hospital B")
    snapshot_id, _ = _assessed_by_the_api(api_world, org)
    with api_world.sessions.begin() as db:  # as a snapshot stored before migration 0005
        db.execute(update(RiskSnapshot).where(RiskSnapshot.id == snapshot_id).values(document=None))
    builds = count_model_builds(monkeypatch)
    viewer = signed_in(api_world, api_world.user("viewer@b.example", {org: Role.VIEWER}))
    tree = elements(viewer.get("/"))
    # Sent before the recomputation, which starts once the browser's websocket connects.
    whys = _whys(tree)
    assert whys
    assert set(whys.values()) == {"computing…"}
    assert builds == []
