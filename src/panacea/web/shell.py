"""The frame of every dashboard page and how a page finds its caller.

* :func:`current_caller` -- the signed-in caller of a request, or None.
* :func:`require_page_permission` -- the caller, or :class:`PageRedirectError` or
  :class:`PageForbiddenError`.
* :func:`page_frame` -- header (organisation switcher, account, logout), navigation, break-glass
  banner, the page's heading and its ``<main>`` region; keeps an eye on the session.
* :func:`dashboard_page` -- all of the above as one decorator (see ``panacea.web``).
* :func:`mark_data_ready` -- ``performance.mark('panacea:data-ready')`` in the browser.

Accessibility: a skip link is the first focusable element; the drawer collapses below 1024 px
behind a labelled menu button; every control is a native button or link (keyboard reachable);
risk colours come from the Okabe-Ito palette (blue/orange/vermillion/sky blue) and always carry
a word and an icon shape (never colour alone).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import context as nicegui_context
from nicegui import run, ui
from nicegui.elements.mixins.text_element import TextElement

from panacea.errors import PanaceaError
from panacea.identity.roles import Permission
from panacea.identity.sessions import SESSION_COOKIE
from panacea.web.callers import (
    ORG_COOKIE,
    ORG_PARAMETER,
    Standing,
    WebCaller,
    WebSessionEndedError,
    resolve_caller,
    session_is_live,
)
from panacea.web.context import web_context
from panacea.web.page_bindings import PAGE_BINDINGS

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
STATIC_PATH = "/_panacea/static"
# How often an open page checks that its session still lives (not counted as activity).
SESSION_CHECK_SECONDS = 60.0
DATA_READY_MARK = "panacea:data-ready"

Body = TypeVar("Body", bound=Callable[..., Any])
# The heading of the page being built (a page is built in one task: a context variable).
_HEADING: ContextVar[TextElement | None] = ContextVar("panacea_page_heading", default=None)


class PageRedirectError(PanaceaError):
    """The page cannot be shown to this browser: send it to ``location`` (303)."""

    def __init__(self, location: str) -> None:
        super().__init__(f"redirect to {location}")
        self.location = location


class PageForbiddenError(PanaceaError):
    """The caller is signed in but their role lacks the page's permission."""

    def __init__(self, caller: WebCaller, permission: Permission) -> None:
        super().__init__(
            f"role {caller.role.value} in {caller.organisation_name} lacks {permission.value}"
        )
        self.caller = caller
        self.permission = permission


@dataclass(frozen=True)
class NavEntry:
    """One entry of the navigation; shown to callers holding ``permission``."""

    key: str
    label: str
    path: str
    permission: Permission
    icon: str


NAV: tuple[NavEntry, ...] = (
    NavEntry("overview", "Overview", "/", Permission.RISK_READ, "space_dashboard"),
    NavEntry("assets", "Assets", "/assets", Permission.INVENTORY_READ, "devices"),
    NavEntry("findings", "Findings", "/findings", Permission.FINDINGS_READ, "bug_report"),
    NavEntry("plan", "Plan", "/plan", Permission.PLANS_READ, "checklist"),
    NavEntry("imports", "Imports", "/imports", Permission.IMPORTS_RUN, "upload_file"),
    NavEntry("admin-users", "Users", "/admin/users", Permission.USERS_READ, "group"),
    NavEntry("admin-tokens", "API tokens", "/admin/tokens", Permission.TOKENS_MANAGE, "key"),
    NavEntry("admin-audit", "Audit log", "/admin/audit", Permission.AUDIT_READ, "fact_check"),
)


# --- the caller ------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """``target`` if it is a path of this site, else ``/`` (no open redirect via ``next``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return "/"
    return target


def login_location(request: Request, *, expired: bool = False) -> str:
    """``/login?next=<this page>`` (with ``expired=1`` when a session just ended)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": safe_next(here)}
    if expired:
        query["expired"] = "1"
    return f"{LOGIN_PATH}?{urlencode(query, quote_via=quote)}"


def _organisation_hint(request: Request) -> int | None:
    for raw in (request.query_params.get(ORG_PARAMETER), request.cookies.get(ORG_COOKIE)):
        if raw is not None and raw.isdigit() and 0 < int(raw) < 2**31:
            return int(raw)
    return None


def caller_standing(request: Request) -> WebCaller | Standing:
    """Resolve the session cookie of ``request`` (one short transaction, committed)."""
    context = web_context(request).app
    with context.sessions() as db:
        try:
            found = resolve_caller(
                db,
                context,
                request.cookies.get(SESSION_COOKIE),
                client_address=client_address_of(request, context.settings.trusted_proxies),
                organisation_hint=_organisation_hint(request),
            )
            db.commit()
        except BaseException:
            db.rollback()
            raise
    return found


def client_address_of(request: Request, trusted_proxies: list[str]) -> str:
    """As ``panacea.api.context.client_address`` (which reads the API app's state; a page's
    request belongs to NiceGUI's app): a trusted proxy's X-Forwarded-For, else the peer."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in trusted_proxies:
        return forwarded.split(",")[-1].strip()[:64]
    return peer[:64]


def current_caller(request: Request) -> WebCaller | None:
    """The signed-in caller of ``request`` (second factor passed if the role needs it), or None."""
    found = caller_standing(request)
    return found if isinstance(found, WebCaller) else None


def require_page_permission(request: Request, permission: Permission | None) -> WebCaller:
    """The caller of ``request``, holding ``permission`` (None: any signed-in member).

    Raises PageRedirectError to the login page (no session, or a second factor still due) or to
    ``/no-organisation``; PageForbiddenError when the role lacks ``permission``.
    """
    found = caller_standing(request)
    if found is Standing.NO_ORGANISATION:
        raise PageRedirectError("/no-organisation")
    if not isinstance(found, WebCaller):
        raise PageRedirectError(login_location(request))
    if permission is not None and not found.allows(permission):
        raise PageForbiddenError(found, permission)
    return found


# --- building blocks -------------------------------------------------------------------------


def text_element(tag: str, text: str) -> TextElement:
    """A plain HTML element holding text (``h1``, ``h2``, ``p``, ``span``, ``th``...)."""
    return TextElement(tag=tag, text=text)


def mark_data_ready() -> None:
    """Tell the browser the page's main data is rendered (bench and browser tests wait for it)."""
    ui.run_javascript(f"performance.mark({DATA_READY_MARK!r})")


def _break_glass_banner(caller: WebCaller) -> None:
    grant = caller.break_glass
    if grant is None:
        return
    until = grant.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    with (
        ui.row()
        .classes("panacea-break-glass w-full items-center no-wrap q-pa-sm gap-2")
        .props('role=alert data-testid=break-glass-banner aria-live="assertive"')
    ):
        ui.icon("emergency").props('aria-hidden="true"').classes("text-2xl")
        ui.label(
            f"Break-glass active: you act as {grant.role.value} (your role: "
            f"{caller.base_role.value}) until {until}. Everything you do is recorded and will "
            f"be reviewed. Reason: {grant.reason}"
        ).classes("text-weight-medium")


def _switch_organisation(organisation_id: int, secure: bool) -> None:
    # A preference only (membership is checked on every request). The page is opened again
    # without its query: an ``?org=`` there would override the new choice.
    cookie = f"{ORG_COOKIE}={int(organisation_id)}; path=/; SameSite=Lax" + (
        "; Secure" if secure else ""
    )
    ui.run_javascript(
        f"document.cookie = {json.dumps(cookie)}; window.location.assign(window.location.pathname);"
    )


def _header(caller: WebCaller, drawer: ui.left_drawer) -> None:
    secure = caller.context.secure_cookies
    with ui.header(elevated=True).classes("panacea-header items-center q-px-sm q-py-xs gap-2"):
        ui.link("Skip to main content", "#main").classes("panacea-skip-link")
        ui.button(icon="menu", on_click=drawer.toggle).props(
            'flat round color=white aria-label="Show or hide the navigation" data-testid=nav-toggle'
        ).classes("lt-md")
        ui.link("PANACEA", "/").classes("text-h6 text-white no-underline").props(
            'aria-label="PANACEA overview"'
        )
        ui.space()
        if len(caller.memberships) > 1:
            options = {m.organisation_id: m.organisation_name for m in caller.memberships}
            ui.select(
                options,
                value=caller.organisation_id,
                label="Organisation",
                on_change=lambda e: _switch_organisation(int(e.value), secure),
            ).props(
                "dense outlined dark options-dense data-testid=org-switcher "
                'aria-label="Organisation"'
            ).classes("panacea-org-switcher")
        else:
            ui.label(caller.organisation_name).classes("gt-xs").props("data-testid=org-name")
        with ui.button(icon="account_circle").props(
            'flat color=white no-caps data-testid=account-menu aria-label="Account"'
        ):
            ui.label(caller.email).classes("gt-sm q-ml-xs")
            with ui.menu():
                ui.menu_item(f"{caller.email} — {caller.role.value}").props("disable")
                ui.menu_item("My account and second factors", lambda: ui.navigate.to("/account"))
        ui.button("Sign out", icon="logout").props(
            "flat color=white no-caps data-testid=logout data-panacea-action=logout"
        )


def _navigation(caller: WebCaller, current: str | None) -> ui.left_drawer:
    drawer = ui.left_drawer(value=None, bordered=True).classes("panacea-drawer q-pa-none")
    # ``with a, b``: b is created once inside a (the drawer), as nested statements would.
    with drawer, ui.element("nav").props('aria-label="Main"').classes("w-full column q-py-sm"):
        for entry in NAV:
            if not caller.allows(entry.permission):
                continue
            link = ui.link(target=entry.path).classes("panacea-nav-link")
            link.props(f"data-testid=nav-{entry.key}")
            if entry.key == current:
                link.props('aria-current="page"').classes("panacea-nav-current")
            with link:
                ui.icon(entry.icon).props('aria-hidden="true"')
                text_element("span", entry.label)
    return drawer


def _watch_session(caller: WebCaller, request: Request) -> None:
    """Every minute: if the session ended, go to the login page (it says why)."""
    location = login_location(request, expired=True)

    async def check() -> None:
        live = await run.io_bound(session_is_live, caller.context, caller.session_token)
        if live is False:
            ui.navigate.to(location)

    ui.timer(SESSION_CHECK_SECONDS, check)


def _bind_to_session(caller: WebCaller) -> None:
    """Only the browser holding the caller's cookie may drive this page (page_bindings)."""
    client = nicegui_context.client
    client_id = client.id
    PAGE_BINDINGS.bind(client_id, caller.session_token)
    client.on_delete(lambda: PAGE_BINDINGS.forget(client_id))


def add_assets() -> None:
    """The dashboard's own stylesheet, script and colours (served from this origin; see csp.py).

    Quasar's brand colours are replaced by a dark blue (white text on it: 8:1) and the
    Okabe-Ito colours for the states.
    """
    ui.colors(
        primary="#0b4f8a",
        secondary="#005a8c",
        accent="#7a3d8c",
        positive="#006b4f",
        negative="#a63d00",
        info="#0b4f8a",
        warning="#E69F00",
    )
    ui.add_head_html(
        f'<link rel="stylesheet" href="{STATIC_PATH}/panacea.css">'
        f'<script defer src="{STATIC_PATH}/panacea.js"></script>'
    )


@contextmanager
def page_frame(
    title: str, caller: WebCaller, *, nav: str | None = None, request: Request | None = None
) -> Iterator[ui.element]:
    """Header, navigation, banner and heading; the body goes in the yielded ``<main>``.

    Must be entered at the top level of a page function (NiceGUI's header and drawer are
    page-level). ``nav`` is the key of the current navigation entry; ``request`` (the page's)
    enables the session watch that sends an ended session to the login page.
    """
    add_assets()
    ui.page_title(f"{title} · PANACEA")
    _bind_to_session(caller)
    drawer = _navigation(caller, nav)
    _header(caller, drawer)
    if request is not None:
        _watch_session(caller, request)
    with (
        ui.element("main")
        .props('id=main tabindex="-1"')
        .classes("panacea-main w-full q-pa-md column gap-4") as main
    ):
        _break_glass_banner(caller)
        heading = text_element("h1", title).classes("text-h5 q-my-none")
        heading.props("data-testid=page-heading")
        token = _HEADING.set(heading)
        try:
            yield main
        finally:
            _HEADING.reset(token)


def set_page_heading(text: str) -> None:
    """Change the heading (``h1``) and the title of the page being built by ``page_frame``
    (e.g. to the name of the record a detail page shows)."""
    heading = _HEADING.get()
    if heading is not None:
        heading.text = text
    ui.page_title(f"{text} · PANACEA")


def forbidden_content(error: PageForbiddenError) -> None:
    """What a page shows a caller whose role lacks its permission."""
    nicegui_context.client.status_code = 403
    with ui.card().classes("panacea-notice").props("role=status data-testid=forbidden"):
        ui.label("Not permitted").classes("text-h6")
        ui.label(
            f"Your role in {error.caller.organisation_name} ({error.caller.role.value}) does "
            f"not include {error.permission.value}. Ask an administrator if you need it."
        )


def dashboard_page(
    path: str, *, title: str, permission: Permission | None, nav: str | None = None
) -> Callable[[Body], Body]:
    """Register a dashboard page at ``path`` whose body receives the caller first.

    The body's other parameters are the page's path and query parameters (FastAPI parses
    them). Without a session the page redirects (303) to the login page; without
    ``permission`` it shows "not permitted" (403) in the frame.
    """

    def decorate(body: Body) -> Body:
        signature = inspect.signature(body)
        parameters = [p for name, p in signature.parameters.items() if name != "caller"]
        request_parameter = inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
        )

        def enter(request: Request) -> WebCaller | Response | PageForbiddenError:
            try:
                return require_page_permission(request, permission)
            except PageRedirectError as e:
                return RedirectResponse(e.location, status_code=303)
            except PageForbiddenError as e:
                return e

        if inspect.iscoroutinefunction(body):

            @wraps(body)
            async def async_page(request: Request, **kwargs: Any) -> Response | None:
                entered = enter(request)
                if isinstance(entered, Response):
                    return entered
                caller = entered.caller if isinstance(entered, PageForbiddenError) else entered
                with page_frame(title, caller, nav=nav, request=request):
                    if isinstance(entered, PageForbiddenError):
                        forbidden_content(entered)
                        return None
                    result: Awaitable[None] = body(caller, **kwargs)
                    await result
                return None

            page_function: Callable[..., Any] = async_page
        else:

            @wraps(body)
            def sync_page(request: Request, **kwargs: Any) -> Response | None:
                entered = enter(request)
                if isinstance(entered, Response):
                    return entered
                caller = entered.caller if isinstance(entered, PageForbiddenError) else entered
                with page_frame(title, caller, nav=nav, request=request):
                    if isinstance(entered, PageForbiddenError):
                        forbidden_content(entered)
                        return None
                    body(caller, **kwargs)
                return None

            page_function = sync_page
        page_function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [request_parameter, *parameters], return_annotation=Any
        )
        ui.page(path, title=f"{title} · PANACEA")(page_function)
        return body

    return decorate


def on_page_exception(error: Exception) -> None:
    """NiceGUI's handler of exceptions in page events: an ended session goes to the login page."""
    if isinstance(error, WebSessionEndedError):
        try:
            ui.notify(str(error), type="warning")
            ui.navigate.to(f"{LOGIN_PATH}?expired=1")
        except RuntimeError:  # no client context (a background task): nothing to navigate
            log.info("session ended outside a page event: %s", error)
