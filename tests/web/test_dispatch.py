"""The dashboard inside the API's app: routing, the websocket's Origin check, CSP, compression."""

from __future__ import annotations

import re

import nicegui
import pytest
from fastapi import FastAPI
from starlette.websockets import WebSocketDisconnect

from panacea.identity.roles import Role
from panacea.web import mount
from panacea.web.context import DashboardSetupError
from panacea.web.dispatch import POLICY_VIOLATION
from panacea.web.page_bindings import PageBindings
from tests.api.conftest import ApiWorld
from tests.web.conftest import anonymous, signed_in

SOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
POLLING = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
OWN_ORIGIN = "http://localhost:8000"  # the default public_url


def test_the_api_keeps_its_own_404_and_405(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    missing = client.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = client.delete("/api/v1/health")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    # ... and its strict policy: the dashboard's never leaks onto the API.
    assert (
        client.get("/api/v1/health")
        .headers["content-security-policy"]
        .startswith("default-src 'none'")
    )


def test_no_dashboard_route_is_in_the_openapi_document(api_world: ApiWorld) -> None:
    paths = anonymous(api_world).get("/api/v1/openapi.json").json()["paths"]
    assert paths
    assert all(p.startswith("/api/v1/") for p in paths), [
        p for p in paths if not p.startswith("/api/v1/")
    ]


def test_an_unknown_dashboard_path_is_an_html_404(api_world: ApiWorld) -> None:
    response = anonymous(api_world).get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://localhost:8001"},  # another port is another origin
        {"origin": "null"},
        {},  # a browser always sends Origin on a websocket handshake
    ],
    ids=["foreign", "other-port", "null", "missing"],
)
def test_websocket_from_another_origin_is_refused(
    api_world: ApiWorld, headers: dict[str, str]
) -> None:
    client = anonymous(api_world)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(SOCKET, headers={"upgrade": "websocket", **headers}),
    ):
        pass
    assert refused.value.code == POLICY_VIOLATION


def test_websocket_from_the_public_origin_is_accepted(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    # Engine.IO checks the Upgrade header, which a real browser sends.
    headers = {"origin": OWN_ORIGIN, "upgrade": "websocket"}
    with client.websocket_connect(SOCKET, headers=headers) as socket:
        # Engine.IO's "open" packet (type 0) with the session parameters.
        opened = socket.receive_text()
        assert opened.startswith("0{"), opened


def test_long_polling_checks_origin_too(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    foreign = client.get(POLLING, headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403
    # Same-origin XHR may omit Origin; it is answered, and never with CORS headers.
    own = client.get(POLLING)
    assert own.status_code == 200, own.text
    assert own.text.startswith("0{")
    assert "access-control-allow-origin" not in own.headers
    own_with_origin = client.get(POLLING, headers={"origin": OWN_ORIGIN})
    assert own_with_origin.status_code == 200
    assert "access-control-allow-origin" not in own_with_origin.headers


def test_every_page_script_carries_this_responses_nonce(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    first, second = client.get("/login"), client.get("/login")
    nonces = []
    for response in (first, second):
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src
        [nonce] = re.findall(r"'nonce-([A-Za-z0-9_-]+)'", script_src)
        tags = re.findall(r"<script\b[^>]*>", response.text, re.IGNORECASE)
        assert len(tags) >= 5
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags
        assert "frame-ancestors 'none'" in policy
        assert "object-src 'none'" in policy
        # The API's other headers still come from the shared middleware.
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_static_assets_are_compressed_and_pages_never(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    gzip = {"accept-encoding": "gzip"}
    asset = client.get("/_panacea/static/panacea.js", headers=gzip)
    assert asset.status_code == 200
    assert asset.headers.get("content-encoding") == "gzip"
    assert "window.panacea" in asset.text
    nicegui_asset = client.get(f"/_nicegui/{nicegui.__version__}/static/nicegui.js", headers=gzip)
    assert nicegui_asset.headers.get("content-encoding") == "gzip"
    # A page may reflect input (?next=) beside secrets: no compression (BREACH).
    page = client.get("/login?next=/services/x", headers=gzip)
    assert page.status_code == 200
    assert "content-encoding" not in page.headers


def test_mount_refuses_an_app_without_its_context(api_world: ApiWorld) -> None:
    bare = FastAPI()
    with pytest.raises(DashboardSetupError, match=r"app\.state\.panacea"):
        mount(bare, api_world.settings)


def _client_id(page_html: str) -> str:
    match = re.search(r"'client_id': '([0-9a-f-]{36})'", page_html)
    assert match is not None, "no NiceGUI client id in the page"
    return match.group(1)


def test_a_signed_in_page_answers_only_to_its_own_session(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    owner = signed_in(api_world, api_world.user("owner@stanne.example", {org: Role.VIEWER}))
    client_id = _client_id(owner.get("/").text)
    query = f"{SOCKET}&client_id={client_id}"
    headers = {"origin": OWN_ORIGIN, "upgrade": "websocket"}
    # Someone who learned the client id (it is in the websocket's URL, so in access logs)
    # but holds another session, or none, is refused even with the right Origin.
    other = signed_in(api_world, api_world.user("other@stanne.example", {org: Role.VIEWER}))
    for intruder in (other, anonymous(api_world)):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            intruder.websocket_connect(query, headers=headers),
        ):
            pass
        assert refused.value.code == POLICY_VIOLATION
        assert intruder.get(f"{POLLING}&client_id={client_id}").status_code == 403
    with owner.websocket_connect(query, headers=headers) as socket:
        assert socket.receive_text().startswith("0{")


def test_page_bindings_compare_the_cookie_and_stay_bounded() -> None:
    bindings = PageBindings(limit=2)
    bindings.bind("page-1", "cookie-1")
    assert bindings.allows("page-1", "cookie-1")
    assert not bindings.allows("page-1", "cookie-2")
    assert not bindings.allows("page-1", None)
    assert bindings.allows("login-page", None)  # unbound: holds nothing of anyone
    assert bindings.allows(None, None)
    bindings.bind("page-2", "cookie-2")
    bindings.bind("page-3", "cookie-3")  # page-1, the oldest, is dropped
    assert bindings.allows("page-1", "anything")
    assert not bindings.allows("page-3", "cookie-2")
    bindings.forget("page-3")
    assert bindings.allows("page-3", "cookie-2")
