"""Request and response bodies of the federation peers' routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from panacea.sharing.peers import MAX_AUDIENCE, PeerSpec, PeerView

IdentityRef = Annotated[str, Field(pattern=r"^identity--[0-9a-fA-F-]{36}$", max_length=46)]


class PeerCreate(BaseModel):
    """A remote TAXII 2.1 collection the organisation pulls from and/or pushes to."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_url: str = Field(
        min_length=8, max_length=500, description="The server's base URL (https, or loopback)"
    )
    api_root: str = Field(min_length=1, max_length=500, description="API root name or URL")
    collection_id: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    auth_kind: Literal["bearer", "basic", "none"] = "bearer"
    secret: SecretStr | None = Field(
        default=None,
        description="What the remote side issued (token, or user:password); stored sealed, "
        "never returned",
    )
    pull: bool = True
    push: bool = False
    audience: list[IdentityRef] = Field(
        default_factory=list,
        max_length=MAX_AUDIENCE,
        description="STIX identities of the organisations that read the remote collection",
    )
    partners: bool = Field(default=False, description="The audience are named partners (AMBER)")
    forward: bool = Field(default=False, description="Sync forwards received objects there")
    inbox_collection: str | None = Field(
        default=None, max_length=100, description="Local collection the peer pushes into"
    )

    def spec(self) -> PeerSpec:
        return PeerSpec(
            name=self.name,
            base_url=self.base_url,
            api_root=self.api_root,
            collection_id=self.collection_id,
            auth_kind=self.auth_kind,
            secret=self.secret.get_secret_value() if self.secret is not None else "",
            can_pull=self.pull,
            can_push=self.push,
            audience=tuple(self.audience),
            partners=self.partners,
            forward=self.forward,
            inbox_collection=self.inbox_collection,
        )


class PeerOut(BaseModel):
    """A peer as listed: never its secret, only whether there is one."""

    id: int
    name: str
    api_root_url: str
    collection_id: str
    auth_kind: str
    has_secret: bool
    pull: bool
    push: bool
    audience: list[str]
    partners: bool
    forward: bool
    inbox_collection: str | None
    added_after: str | None = Field(description="Checkpoint: the last date added pulled")
    last_pull_at: datetime | None
    last_push_at: datetime | None
    last_error: str

    @classmethod
    def of(cls, view: PeerView) -> PeerOut:
        return cls(
            id=view.id,
            name=view.name,
            api_root_url=view.api_root_url,
            collection_id=view.collection_id,
            auth_kind=view.auth_kind,
            has_secret=view.has_secret,
            pull=view.can_pull,
            push=view.can_push,
            audience=list(view.audience),
            partners=view.partners,
            forward=view.forward,
            inbox_collection=view.inbox_collection,
            added_after=view.added_after,
            last_pull_at=view.last_pull_at,
            last_push_at=view.last_push_at,
            last_error=view.last_error,
        )
