"""``panacea serve``: run the web API with uvicorn.

The default address is ``http://localhost:8000``: a host name, not an IP, because WebAuthn
binds passkeys to the host name users type (an IP address is not a valid relying-party id).
Behind a TLS-terminating proxy, bind to localhost, set ``PANACEA_PUBLIC_URL`` to the https URL
users see and ``PANACEA_TRUSTED_PROXIES`` to the proxy's address.
"""

from __future__ import annotations

import contextlib
import gc
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import panacea
from panacea.api.app import create_app
from panacea.cli.render import console
from panacea.cli.state import state
from panacea.config import Settings, get_settings

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8000


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (a host name or address).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = DEFAULT_PORT,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload/--no-reload", help="Restart when the code changes (development only)."
        ),
    ] = False,
) -> None:
    """Serve the PANACEA dashboard (/), API (/api/v1) and TAXII (/taxii2/) until interrupted."""
    database_url = state(ctx).database_url
    settings = get_settings().model_copy(update={"database_url": database_url})
    console.print(
        f"PANACEA on http://{host}:{port}/ (public URL {settings.public_url}, "
        f"database {_shown(database_url)}); Ctrl-C stops",
        soft_wrap=True,
        highlight=False,
    )
    if reload:
        # The reloader re-imports the app in a child process, which reads the environment.
        os.environ["PANACEA_DATABASE_URL"] = database_url
        uvicorn.run(
            "panacea.api.app:create_app",
            factory=True,
            reload=True,
            # The package's own code, wherever it is installed (not the working directory).
            reload_dirs=[str(Path(panacea.__file__).parent)],
            host=host,
            port=port,
            proxy_headers=False,
            server_header=False,
        )
        return
    run_server(settings, host=host, port=port)


def run_server(settings: Settings, *, host: str, port: int) -> None:
    """Build the app for ``settings`` and serve it until interrupted (Ctrl-C is a clean stop)."""
    # Built here, before the server starts: a refused setting fails the command at once.
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # Forwarded headers are read by the app itself, and only from PANACEA_TRUSTED_PROXIES.
        proxy_headers=False,
        # No "server: uvicorn" banner: it only helps an attacker pick exploits.
        server_header=False,
    )
    # What the start-up built (routes, the dashboard, ATT&CK data: ~300,000 objects) lives as
    # long as the process: the collector need not walk it again at every full collection
    # (each took ~250 ms during bulk TAXII ingest).
    gc.freeze()
    # uvicorn shuts down cleanly, then re-raises the Ctrl-C it captured: a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
    console.print("PANACEA stopped", highlight=False)


def _shown(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"
