"""The FastAPI application factory: ``/api/v1`` for the API (and, later, TAXII and the web)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session, sessionmaker

from panacea import __version__, web
from panacea.api import organisations
from panacea.api.context import AppContext
from panacea.api.hardening import BodyLimit, SecurityHeaders
from panacea.api.log_redaction import install_log_redaction
from panacea.api.problems import COMMON_RESPONSES, install_problem_handlers
from panacea.api.settings_check import check_settings
from panacea.config import Settings, get_settings
from panacea.db.engine import open_database
from panacea.findings import router as findings_router
from panacea.identity import (
    audit_router,
    auth_router,
    breakglass_router,
    oidc_router,
    passkey_router,
    policy_router,
    tokens_router,
    users_router,
)
from panacea.identity.audit_forwarding import install_audit_forwarding
from panacea.identity.keys import bind_kek, kek_source
from panacea.inventory import imports_router
from panacea.inventory import router as inventory_router
from panacea.risk import router as risk_router
from panacea.sharing import exchange_router, groups_router, incident_router, peers_router
from panacea.sharing.taxii import router as taxii_router
from panacea.sharing.taxii.media import install_taxii_error_handlers
from panacea.vulndb import router as feeds_router

API_PREFIX = "/api/v1"
UPLOAD_PATH_MARK = "/imports"

# Every router of the API, in the order they appear in the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (
    auth_router.router,
    oidc_router.router,
    organisations.router,
    users_router.router,
    tokens_router.router,
    policy_router.router,
    breakglass_router.router,
    passkey_router.router,
    inventory_router.router,
    imports_router.router,
    findings_router.router,
    feeds_router.router,
    risk_router.router,
    incident_router.router,
    groups_router.router,
    exchange_router.router,
    peers_router.router,
    audit_router.router,
)


def create_app(
    settings: Settings | None = None, *, sessions: sessionmaker[Session] | None = None
) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment).

    ``sessions`` lets a caller share an already opened database; otherwise the database at
    ``settings.database_url`` is opened and migrated.
    """
    install_log_redaction()
    # Refuses weak secrets outside demo mode; in demo mode returns a copy with generated ones.
    settings = check_settings(settings or get_settings())
    app = FastAPI(
        title="PANACEA API",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    sessions = sessions or open_database(settings.database_url)
    # Sealed fields (TOTP secrets...) of this app's sessions use the KEK of its settings.
    bind_kek(sessions, kek_source(settings))
    # Committed audit entries go to the SIEM; chains are checkpointed as they grow.
    install_audit_forwarding(sessions, settings)
    app.state.panacea = AppContext(settings=settings, sessions=sessions)
    install_problem_handlers(app)
    # Under /taxii2 the same errors answer as TAXII error messages (TAXII 2.1 section 3.6.1).
    install_taxii_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=COMMON_RESPONSES)

    @api.get("/health", tags=["platform"], summary="Liveness (no authentication)")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)
    # TAXII 2.1 (OASIS) beside the API, outside /api/v1 and its OpenAPI document.
    app.include_router(taxii_router.router)
    # Outermost last: the body limit must act before anything reads the body.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        )
    app.add_middleware(
        BodyLimit,
        default=settings.max_request_bytes,
        uploads=settings.max_upload_bytes,
        upload_prefix=UPLOAD_PATH_MARK,
    )
    # Outermost of all, so that every answer carries the headers, the body limit's 413 too.
    # Dashboard responses bring their own Content-Security-Policy, which it keeps.
    app.add_middleware(SecurityHeaders, tls=settings.public_url.startswith("https://"))
    # The dashboard answers whatever the routes above do not (it is the router's fallback).
    web.mount(app, settings)
    return app
