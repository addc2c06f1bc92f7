"""The ``Origin`` check of the dashboard's websocket (cross-site websocket hijacking).

A browser attaches the site's cookies to a websocket handshake whatever page opens it, and
the same-origin policy does not apply to websockets: only the ``Origin`` header (RFC 6455
section 10.2) tells the server which site's script is asking. NiceGUI's Socket.IO server is
configured to accept any origin, so the dashboard checks it itself.
"""

from __future__ import annotations

from panacea.web.context import origin_of


def origin_allowed(origin: str | None, allowed: str, *, required: bool) -> bool:
    """Whether a connection announcing ``origin`` may talk to the dashboard.

    ``allowed`` is the serialised origin of ``public_url``. A missing header passes only when
    not ``required``; ``"null"`` (sandboxed frames, file: pages) never passes.
    """
    if origin is None:
        return not required
    value = origin.strip()
    if not value or value.lower() == "null":
        return False
    try:
        return origin_of(value) == allowed
    except ValueError:  # an unparsable port: not an origin we know
        return False
