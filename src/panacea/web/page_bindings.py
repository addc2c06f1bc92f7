"""Each signed-in page is bound to the session cookie it was built for.

A NiceGUI page is driven over a websocket identified by the page's random client id, which
travels in the page and in the websocket's query string (so in access logs). The page's
event handlers act as the caller the page was built for; without a binding, whoever learned
the client id could open that websocket (a non-browser client can send any ``Origin``) and act
as the caller. So the dispatcher lets a websocket or long-polling request carrying the
``client_id`` of a signed-in page through only with the same session cookie the page was built
for (compared as SHA-256 digests, in constant time). Pages without a caller (``/login``) are
not bound: they hold nothing of anyone.

The bindings live in this process's memory, like NiceGUI's pages themselves; one is dropped
when NiceGUI deletes its page, and the table is bounded (oldest dropped first).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

# Far above the pages one process holds open (each is a NiceGUI client in memory).
MAX_BINDINGS = 50_000


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class PageBindings:
    """client id -> digest of the session cookie its page was built for."""

    def __init__(self, limit: int = MAX_BINDINGS) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._bound: OrderedDict[str, bytes] = OrderedDict()

    def bind(self, client_id: str, session_token: str) -> None:
        with self._lock:
            self._bound[client_id] = _digest(session_token)
            self._bound.move_to_end(client_id)
            while len(self._bound) > self._limit:
                self._bound.popitem(last=False)

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._bound.pop(client_id, None)

    def allows(self, client_id: str | None, session_token: str | None) -> bool:
        """Whether a connection to page ``client_id`` with this cookie may proceed.

        True for an unbound (or no) client id: NiceGUI itself refuses unknown clients.
        """
        if client_id is None:
            return True
        with self._lock:
            expected = self._bound.get(client_id)
        if expected is None:
            return True
        return session_token is not None and hmac.compare_digest(expected, _digest(session_token))


PAGE_BINDINGS = PageBindings()
