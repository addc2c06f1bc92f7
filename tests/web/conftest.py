"""Dashboard fixtures: the API's app and world (the dashboard is part of that app), and a
reader of the elements NiceGUI serialises into a page."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from tests.api.conftest import ApiWorld, api_settings, api_world, cheap_hashing

__all__ = [
    "anonymous",
    "api_settings",
    "api_world",
    "cheap_hashing",
    "elements",
    "find",
    "page_text",
    "signed_in",
]


def _on_app_loop(world: ApiWorld, client: TestClient) -> TestClient:
    # NiceGUI runs a page's asynchronous work on the event loop it started on (the app's
    # lifespan, here the world's client); a TestClient would otherwise serve each request on
    # a loop of its own. One event loop, as under uvicorn.
    client.portal = world.client.portal
    return client


def anonymous(world: ApiWorld) -> TestClient:
    """A fresh browser (no cookie) whose requests run on the app's event loop."""
    return _on_app_loop(world, world.anonymous_client())


def signed_in(world: ApiWorld, user_id: int, *, assurance: str = "mfa") -> TestClient:
    """A browser signed in as ``user_id`` (session made directly), on the app's event loop."""
    return _on_app_loop(world, world.session_client(user_id, assurance=assurance))


_ELEMENTS = re.compile(r"parseElements\(String\.raw`(.*?)`\)", re.S)


def elements(response: httpx2.Response) -> dict[str, dict[str, Any]]:
    """The element tree NiceGUI put in a page (id -> element), as the browser gets it."""
    assert response.headers["content-type"].startswith("text/html"), response.headers
    match = _ELEMENTS.search(response.text)
    assert match is not None, "no NiceGUI elements in the page"
    # NiceGUI escapes &, <, >, ` and $ with HTML entities inside the script.
    found: dict[str, dict[str, Any]] = json.loads(html.unescape(match.group(1)))
    return found


def find(tree: dict[str, dict[str, Any]], testid: str) -> dict[str, Any] | None:
    """The element whose ``data-testid`` is ``testid``, or None."""
    for element in tree.values():
        if element.get("props", {}).get("data-testid") == testid:
            return element
    return None


def page_text(tree: dict[str, dict[str, Any]]) -> str:
    """Every text of the page, in element order (for "the page says ..." assertions)."""
    return "\n".join(str(e["text"]) for e in tree.values() if e.get("text"))
