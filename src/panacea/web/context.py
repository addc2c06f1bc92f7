"""What a dashboard page knows of the application serving it.

NiceGUI's pages run inside NiceGUI's own (process-wide) ASGI app, so ``request.app`` is not
ours; :class:`panacea.web.dispatch.DashboardDispatch` puts this context in the ASGI scope of
every dashboard request instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from panacea.api.context import AppContext
from panacea.config import Settings
from panacea.errors import PanaceaError

SCOPE_KEY = "panacea.web"


class DashboardSetupError(PanaceaError):
    """The dashboard is not wired into the application as it must be (a programming error:
    ``panacea.web.mount`` not called, or called on an app without its context)."""


@dataclass(frozen=True)
class WebContext:
    """The application context and the one origin the dashboard accepts."""

    app: AppContext

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def allowed_origin(self) -> str:
        """The origin (RFC 6454) of ``public_url``: scheme://host[:port], lower case."""
        return origin_of(self.app.settings.public_url)


def origin_of(url: str) -> str:
    """The serialised origin of ``url`` (default ports omitted, as browsers send it)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{scheme}://{host}{port}"


def web_context(connection: HTTPConnection) -> WebContext:
    """The context the dispatcher put in the scope of ``connection`` (a page's request)."""
    context = connection.scope.get(SCOPE_KEY)
    if not isinstance(context, WebContext):
        raise DashboardSetupError(
            f"{connection.url.path}: no dashboard context in the request scope "
            "(call panacea.web.mount(app, settings) in create_app)"
        )
    return context
