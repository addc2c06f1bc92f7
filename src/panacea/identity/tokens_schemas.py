"""Request and response bodies of the API-token routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from panacea.identity.api_tokens import TokenStatus, TokenView
from panacea.identity.roles import Permission

DEFAULT_TOKEN_DAYS = 90
# The schema's ceiling; the deployment's own (settings.api_token_max_days) is checked too.
TOKEN_DAYS_CEILING = 3650


class TokenCreate(BaseModel):
    """A new token of the caller in the organisation."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    scopes: list[Permission] = Field(
        min_length=1,
        max_length=len(Permission),
        description="A subset of the permissions the caller's role holds here",
    )
    expires_in_days: int = Field(default=DEFAULT_TOKEN_DAYS, ge=1, le=TOKEN_DAYS_CEILING)


class TokenOut(BaseModel):
    """A token without its secret."""

    id: int
    name: str
    prefix: str = Field(description="Public part of the token, shown in lists and the audit log")
    scopes: list[str]
    owner_id: int
    owner_email: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    status: TokenStatus

    @classmethod
    def of(cls, view: TokenView) -> TokenOut:
        return cls(
            id=view.id,
            name=view.name,
            prefix=view.prefix,
            scopes=list(view.scopes),
            owner_id=view.owner_id,
            owner_email=view.owner_email,
            created_at=view.created_at,
            expires_at=view.expires_at,
            revoked_at=view.revoked_at,
            last_used_at=view.last_used_at,
            status=view.status,
        )


class TokenCreated(BaseModel):
    """The token and its secret, shown once."""

    token: TokenOut
    secret: str = Field(
        description="Send as `Authorization: Bearer <secret>`. Shown once: only a digest is kept."
    )
