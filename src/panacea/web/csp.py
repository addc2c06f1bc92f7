"""The dashboard's Content-Security-Policy and the per-response nonce of its inline scripts.

NiceGUI writes a few inline ``<script>`` elements into every page (the import map, the Vue
application's start-up). Rather than allow every inline script (``'unsafe-inline'``), each
page response gets a fresh random nonce (CSP Level 3, section 7.2), written into the policy
and into the opening tag of each of *its* scripts: markup injected through data is never an
opening tag outside a script (NiceGUI escapes ``<`` in the page's data), so it gets no nonce
and does not run.

Relaxations NiceGUI needs, and why (also in docs/security.md, "Dashboard"):

* ``script-src 'unsafe-eval'``: Vue compiles NiceGUI's component templates in the browser,
  and NiceGUI evaluates JavaScript-valued properties and ``ui.run_javascript`` with
  ``eval``/``new Function``. Without it no page renders.
* ``style-src 'unsafe-inline'``: Quasar, the Tailwind runtime and NiceGUI insert ``<style>``
  elements at run time (no nonce can be given to them) and use ``style`` attributes.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

NONCE_BYTES = 18
_SCRIPT_OPEN = re.compile(rb"<script\b", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(rb"</script", re.IGNORECASE)


def new_nonce() -> str:
    """A fresh nonce: 18 random bytes, base64url (144 bits; CSP asks for at least 128)."""
    return secrets.token_urlsafe(NONCE_BYTES)


def websocket_origin(public_url: str) -> str:
    """The ws(s):// origin of ``public_url`` (CSP ``'self'`` covers it in CSP Level 3 browsers;
    written out for the others)."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def dashboard_policy(nonce: str, public_url: str) -> str:
    """The Content-Security-Policy of a dashboard response carrying ``nonce``."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            # data: for the TOTP QR code (an SVG image, never a document) and Quasar's icons.
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {websocket_origin(public_url)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "worker-src 'none'",
            "manifest-src 'self'",
        )
    )


def add_nonce(html: bytes, nonce: str) -> bytes:
    """``html`` with ``nonce`` in the opening tag of every top-level ``<script>`` element.

    Only tags the HTML parser would open count: text inside a script (up to its ``</script``)
    is skipped, so a string that merely looks like a tag inside script data is left alone.
    Bounded: each step moves past one script element.
    """
    attribute = f' nonce="{nonce}"'.encode("ascii")
    out = bytearray()
    position = 0
    for _ in range(len(html) + 1):
        opening = _SCRIPT_OPEN.search(html, position)
        if opening is None:
            break
        end = opening.end()
        out += html[position:end] + attribute
        closing = _SCRIPT_CLOSE.search(html, end)
        if closing is None:
            position = end
            break
        out += html[end : closing.end()]
        position = closing.end()
    out += html[position:]
    return bytes(out)
