"""What the app holds for its requests: settings and the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.sessions import SessionTimeouts


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    sessions: sessionmaker[Session]

    @property
    def timeouts(self) -> SessionTimeouts:
        return SessionTimeouts(
            idle=timedelta(minutes=self.settings.session_idle_minutes),
            absolute=timedelta(hours=self.settings.session_absolute_hours),
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` when the platform is served over TLS."""
        return self.settings.public_url.startswith("https://")


def app_context(request: Request) -> AppContext:
    """The AppContext of the app serving ``request``."""
    context = request.app.state.panacea
    assert isinstance(context, AppContext)
    return context


def client_address(request: Request) -> str:
    """The caller's address; behind a trusted proxy, the one it forwarded."""
    peer = request.client.host if request.client else ""
    trusted = app_context(request).settings.trusted_proxies
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in trusted:
        return forwarded.split(",")[-1].strip()[:64]
    return peer[:64]
