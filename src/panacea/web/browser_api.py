"""Calls a page makes to the JSON API from the browser, for answers holding a secret.

A new member's one-time password and a new API token's secret must reach the administrator's
screen and nowhere else. If the server built them into the page they would travel over
NiceGUI's websocket and stay in its message history (kept in server memory for reconnection).
Instead the page asks the browser to call the API route itself (``fetch``, with the session
cookie and the CSRF token from ``GET /api/v1/auth/me``); the browser writes the secret into the
element ``reveal_testid`` and reports back only the status and the problem's ``detail``.

The script is ours; every value interpolated into it is a JSON literal (``json.dumps`` with
ASCII escapes), never raw text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nicegui import ui

# How long the page waits for the browser's answer (the API answers in well under this).
CALL_TIMEOUT_SECONDS = 30.0

_SCRIPT = """
(async () => {{
  const get = await fetch('/api/v1/auth/me', {{credentials: 'same-origin', cache: 'no-store',
    headers: {{Accept: 'application/json'}}}});
  const me = get.ok ? await get.json() : null;
  if (!me || !me.csrf_token) return {{status: 401, detail: 'Your session has ended.'}};
  const r = await fetch({path}, {{method: {method}, credentials: 'same-origin',
    cache: 'no-store', headers: {{'Content-Type': 'application/json',
    Accept: 'application/json', 'X-CSRF-Token': me.csrf_token}}, body: JSON.stringify({body})}});
  let data = null;
  try {{ data = await r.json(); }} catch (e) {{ data = null; }}
  const secret = data && {secret_path};
  const box = document.querySelector({selector});
  if (box && r.ok && typeof secret === 'string') {{ box.textContent = secret; box.hidden = false; }}
  return {{status: r.status, detail: data && typeof data.detail === 'string' ? data.detail : '',
    revealed: r.ok && typeof secret === 'string'}};
}})()
"""


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def call_script(
    method: str, path: str, body: dict[str, Any], *, secret_field: tuple[str, ...], reveal: str
) -> str:
    """The script: ``method path`` with JSON ``body``; the answer's ``secret_field`` (a path
    of keys) goes into ``[data-testid=<reveal>]``."""
    if method not in ("POST", "PATCH", "PUT"):
        raise ValueError(f"unsupported method {method!r}")
    access = "".join(f"[{_literal(key)}]" for key in secret_field)
    return _SCRIPT.format(
        path=_literal(path),
        method=_literal(method),
        body=_literal(body),
        secret_path=f"data{access}",
        selector=_literal(f"[data-testid={reveal}]"),
    )


@dataclass(frozen=True)
class BrowserAnswer:
    """What the browser reports: HTTP status, the problem's detail, whether it showed a secret."""

    status: int
    detail: str
    revealed: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def answer_of(value: Any) -> BrowserAnswer:
    """The browser's report, checked (it comes from the page, so it is not trusted for more
    than what to display)."""
    if not isinstance(value, dict):
        return BrowserAnswer(0, "no answer from the browser", False)
    status = value.get("status")
    detail = value.get("detail")
    return BrowserAnswer(
        status if isinstance(status, int) and not isinstance(status, bool) else 0,
        detail[:2000] if isinstance(detail, str) else "",
        value.get("revealed") is True,
    )


async def call_from_browser(
    method: str, path: str, body: dict[str, Any], *, secret_field: tuple[str, ...], reveal: str
) -> BrowserAnswer:
    """Run :func:`call_script` in the page's browser and return its report."""
    script = call_script(method, path, body, secret_field=secret_field, reveal=reveal)
    result = await ui.run_javascript(script, timeout=CALL_TIMEOUT_SECONDS)
    return answer_of(result)
