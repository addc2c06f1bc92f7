"""The ASGI entry of the dashboard: everything the API's router does not answer comes here.

It is installed as the fallback of the application's router (``app.router.default``) rather
than mounted at ``/``: a mount at ``/`` would match every path first and take the API's own
404 and 405 answers away from it. Paths of the API and of TAXII never reach NiceGUI.

On the way in it puts the application's context in the ASGI scope (pages read it with
:func:`panacea.web.context.web_context`: one process may serve several apps, in tests), and
refuses websocket and long-polling connections whose ``Origin`` is not ``public_url``'s
(cross-site websocket hijacking: browsers send cookies with a websocket handshake from any
site, and NiceGUI's Socket.IO server itself accepts every origin) or that address a
signed-in page without that page's session cookie (:mod:`panacea.web.page_bindings`).
On the way out it gives each HTML page the dashboard's Content-Security-Policy with a fresh
nonce in its inline scripts, and compresses static assets (never pages: a compressed page
holding reflected input is a BREACH oracle).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from panacea.identity.sessions import SESSION_COOKIE
from panacea.web.context import SCOPE_KEY, WebContext
from panacea.web.csp import add_nonce, dashboard_policy, new_nonce
from panacea.web.origin import origin_allowed
from panacea.web.page_bindings import PAGE_BINDINGS

# Never answered by the dashboard: the API, TAXII and their documents keep their own 404/405.
NOT_DASHBOARD = ("/api/", "/taxii2/", "/taxii2")
SOCKET_PREFIX = "/_nicegui_ws/"
# NiceGUI's assets and ours (panacea.js, panacea.css): compressed, never rewritten.
STATIC_PREFIXES = ("/_nicegui/", "/_panacea/static/")
# RFC 6455 section 7.4.1: 1008, "policy violation" (before acceptance the server answers 403).
POLICY_VIOLATION = 1008
# An HTML page larger than this is passed through untouched (no NiceGUI page comes close).
MAX_REWRITTEN_PAGE = 16 * 1024 * 1024


class DashboardDispatch:
    """Routes a request the API did not match to NiceGUI, with the checks above."""

    def __init__(self, *, fallback: ASGIApp, dashboard: ASGIApp, context: WebContext) -> None:
        self.fallback = fallback
        self.dashboard = dashboard
        self.static = GZipMiddleware(dashboard, minimum_size=1024)
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        path: str = scope.get("path", "")
        if kind not in ("http", "websocket") or path.startswith(NOT_DASHBOARD):
            await self.fallback(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.context
        if kind == "websocket" or path.startswith(SOCKET_PREFIX):
            await self._socket(scope, receive, send)
        elif path.startswith(STATIC_PREFIXES):
            await self.static(scope, receive, send)
        else:
            await self._page(scope, receive, send)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        origin = connection.headers.get("origin")
        # A browser always sends Origin with a websocket handshake; only same-origin XHR
        # polling may lack it (and a cross-site one cannot: browsers add it to CORS requests).
        required = scope["type"] == "websocket"
        # A signed-in page answers only to the session cookie it was built for.
        bound = PAGE_BINDINGS.allows(
            connection.query_params.get("client_id"), connection.cookies.get(SESSION_COOKIE)
        )
        if bound and origin_allowed(origin, self.context.allowed_origin, required=required):
            await self.dashboard(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close(code=POLICY_VIOLATION)
            return
        body = b"websocket refused: foreign origin or another session's page"
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        nonce = new_nonce()
        policy = dashboard_policy(nonce, self.context.settings.public_url)
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def rewriting_send(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                if not headers.get("content-type", "").startswith("text/html"):
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if message.get("more_body", False) and size <= MAX_REWRITTEN_PAGE:
                return
            html = b"".join(chunks)
            if not message.get("more_body", False):
                html = add_nonce(html, nonce)
            headers = MutableHeaders(scope=start)
            if "content-length" in headers:
                headers["content-length"] = str(len(html))
            headers.setdefault("cache-control", "no-store")
            await send(start)
            await send(
                {
                    "type": "http.response.body",
                    "body": html,
                    "more_body": message.get("more_body", False),
                }
            )
            start = None

        await self.dashboard(scope, receive, rewriting_send)
