"""Security headers and request size limits (pure ASGI middleware, so streaming stays cheap)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API serves JSON only; the dashboard sets its own policy for its pages.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive API docs load their own scripts from the app (no CDN: see docs_routes).
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Adds CSP, nosniff, frame-ancestors, referrer policy; HSTS when served over TLS."""

    def __init__(self, app: ASGIApp, *, tls: bool, docs_prefix: str = "/api/v1/docs") -> None:
        self.app = app
        self.tls = tls
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}

                def put(name: bytes, value: str) -> None:
                    if name not in present:
                        headers.append((name, value.encode("latin-1")))

                put(b"x-content-type-options", "nosniff")
                put(b"x-frame-options", "DENY")
                put(b"referrer-policy", "no-referrer")
                put(b"cross-origin-opener-policy", "same-origin")
                put(b"permissions-policy", "camera=(), microphone=(), geolocation=()")
                csp = DOCS_CSP if path.startswith(self.docs_prefix) else API_CSP
                put(b"content-security-policy", csp)
                if path.startswith("/api/"):
                    put(b"cache-control", "no-store")
                if self.tls:
                    put(b"strict-transport-security", "max-age=63072000; includeSubDomains")
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuses request bodies over a limit with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, *, default: int, uploads: int, upload_prefix: str) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.upload_prefix = upload_prefix

    def _limit(self, path: str) -> int:
        return self.uploads if self.upload_prefix in path else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        received = 0
        answered = False

        async def counted() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and tell the app the client went away; drop what it sends after.
                    answered = True
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counted, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "urn:panacea:problem:too-large",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"request body over the limit of {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
