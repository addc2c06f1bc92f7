"""The FastAPI application factory: ``/api/v1`` for the API (and, later, TAXII and the web)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session, sessionmaker

from panacea import __version__
from panacea.api import organisations
from panacea.api.context import AppContext
from panacea.api.hardening import BodyLimit, SecurityHeaders
from panacea.api.problems import COMMON_RESPONSES, install_problem_handlers
from panacea.config import Settings, get_settings
from panacea.db.engine import open_database

API_PREFIX = "/api/v1"
UPLOAD_PATH_MARK = "/imports"

# Every router of the API, in the order they appear in the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (organisations.router,)


def create_app(
    settings: Settings | None = None, *, sessions: sessionmaker[Session] | None = None
) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment).

    ``sessions`` lets a caller share an already opened database; otherwise the database at
    ``settings.database_url`` is opened and migrated.
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="PANACEA API",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.panacea = AppContext(
        settings=settings, sessions=sessions or open_database(settings.database_url)
    )
    install_problem_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=COMMON_RESPONSES)

    @api.get("/health", tags=["platform"], summary="Liveness (no authentication)")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)
    # Outermost last: the body limit must act before anything reads the body.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        )
    app.add_middleware(SecurityHeaders, tls=settings.public_url.startswith("https://"))
    app.add_middleware(
        BodyLimit,
        default=settings.max_request_bytes,
        uploads=settings.max_upload_bytes,
        upload_prefix=UPLOAD_PATH_MARK,
    )
    return app
