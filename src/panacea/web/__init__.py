"""The dashboard: NiceGUI pages served by the API's own FastAPI application.

``create_app`` calls :func:`mount` last. Pages live under ``/`` (``/login``, ``/`` the
overview, ``/services/{key}``, ...); the API keeps ``/api/v1`` and TAXII ``/taxii2``, and their
404/405 answers (the dashboard is the router's fallback, not a mount: see
:mod:`panacea.web.dispatch`). Sessions are the API's (database-backed, HttpOnly cookie): see
:mod:`panacea.web.callers` and :mod:`panacea.web.login`.

Adding a page
-------------
Write a module ``panacea/web/<name>.py`` and add it to :data:`PAGE_MODULES`::

    from panacea.identity.roles import Permission
    from panacea.web.callers import WebCaller
    from panacea.web.shell import dashboard_page, mark_data_ready

    @dashboard_page("/findings", title="Findings", permission=Permission.FINDINGS_READ,
                    nav="findings")
    def findings_page(caller: WebCaller, status: str = "open") -> None:
        # Runs inside the frame (header, navigation, break-glass banner). Path and query
        # parameters are declared as usual; ``caller`` is injected (signed in, permitted).
        with caller.reading() as db:
            rows = list_findings(db, caller.organisation_id)
        ui.table(...).props("data-testid=findings-table")
        mark_data_ready()  # performance.mark('panacea:data-ready') in the browser

The body may be ``async`` (``await run.io_bound(...)`` for slow work; await
``ui.context.client.connected()`` first if it may take more than a second or two). A state
change goes through ``with caller.transaction(Permission.X) as db:`` (re-checks the session
and the permission, commits) and appends an audit entry built with ``caller.access.event``.
Without a session the page answers a redirect to ``/login?next=...``; without the
permission, a "not permitted" page (403).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from panacea.api.context import AppContext
from panacea.config import Settings
from panacea.web.context import DashboardSetupError, WebContext
from panacea.web.dispatch import DashboardDispatch

# Imported at mount (their @ui.page decorators register the routes, once per process).
PAGE_MODULES: tuple[str, ...] = (
    "panacea.web.login",
    "panacea.web.overview",
    "panacea.web.service_view",
    "panacea.web.assets_page",
    "panacea.web.findings_page",
    "panacea.web.plan_page",
    "panacea.web.imports_page",
    "panacea.web.admin_pages",
    "panacea.web.exports",
)
STATIC_DIR = Path(__file__).parent / "static"

_configured = False
_running_apps = 0


def _configure_nicegui() -> None:
    """Process-wide NiceGUI set-up, done once (NiceGUI's app and Socket.IO are singletons)."""
    global _configured
    if _configured:
        return
    from nicegui import app as nicegui_app
    from nicegui import core

    from panacea.web.shell import STATIC_PATH, on_page_exception

    core.app.config.add_run_config(
        reload=False,
        title="PANACEA",
        viewport="width=device-width, initial-scale=1",
        favicon=None,
        dark=False,
        language="en-GB",
        binding_refresh_interval=0.1,
        reconnect_timeout=5.0,
        message_history_length=1000,
        tailwind=True,
        unocss=None,
        prod_js=True,
        show_welcome_message=False,
        markdown=False,
    )
    # NiceGUI's Socket.IO server accepts every origin and answers CORS for it; the dispatcher
    # checks Origin against public_url instead, and no cross-origin access is ever granted.
    core.sio.eio.cors_allowed_origins = []
    nicegui_app.add_static_files(STATIC_PATH, STATIC_DIR)
    nicegui_app.on_exception(on_page_exception)
    for module in PAGE_MODULES:
        importlib.import_module(module)
    _configured = True


def _nicegui_lifespan(
    parent: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
    """The app's lifespan, with NiceGUI started while at least one app of the process runs."""
    from nicegui.nicegui import _shutdown, _startup

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        global _running_apps
        if _running_apps == 0:
            await _startup()
        _running_apps += 1
        try:
            async with parent(app) as state:
                yield state
        finally:
            _running_apps -= 1
            if _running_apps == 0:
                await _shutdown()

    return lifespan


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from ``app`` (built by ``create_app`` for ``settings``).

    The dashboard answers what the API's routes do not; ``app.state.panacea`` (the
    AppContext) must be set. NiceGUI routes never appear in the API's OpenAPI document.
    """
    context = getattr(app.state, "panacea", None)
    if not isinstance(context, AppContext) or context.settings is not settings:
        raise DashboardSetupError(
            "panacea.web.mount(app, settings): app.state.panacea must be the AppContext "
            "built for these settings (call mount at the end of create_app)"
        )
    _configure_nicegui()
    from nicegui import core

    app.router.default = DashboardDispatch(
        fallback=app.router.default, dashboard=core.app, context=WebContext(context)
    )
    app.router.lifespan_context = _nicegui_lifespan(app.router.lifespan_context)
