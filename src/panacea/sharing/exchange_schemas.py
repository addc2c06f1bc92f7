"""Request and response bodies of the sharing administration routes (collections, the
organisation's public signing key, quarantine)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from panacea.sharing.keys import PublicKeyView
from panacea.sharing.quarantine import QuarantineView
from panacea.sharing.taxii.models import TaxiiCollection


class CollectionCreate(BaseModel):
    """A new TAXII collection of the organisation."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=4000)
    sharing_group_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A sharing group of the organisation: its members read and publish here",
    )


class CollectionOut(BaseModel):
    """A TAXII collection: ``id`` is the one TAXII clients use under /taxii2/panacea/."""

    id: str
    title: str
    description: str
    sharing_group_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, collection: TaxiiCollection) -> CollectionOut:
        return cls(
            id=collection.uuid,
            title=collection.title,
            description=collection.description,
            sharing_group_id=collection.sharing_group_id,
            created_at=collection.created_at,
        )


class PublicKeyOut(BaseModel):
    """The organisation's public signing key, for peers to register."""

    identity_ref: str = Field(description="STIX identity of the organisation (created_by_ref)")
    kid: str = Field(description="RFC 7638 thumbprint: the kid of its signatures")
    algorithm: str
    jwk: dict[str, Any]

    @classmethod
    def of(cls, view: PublicKeyView) -> PublicKeyOut:
        return cls(
            identity_ref=view.identity_ref, kid=view.kid, algorithm=view.algorithm, jwk=view.jwk
        )


class QuarantinedOut(BaseModel):
    """An object refused on ingest, with the reason and the JSON received."""

    id: int
    collection_id: str | None
    stix_id: str | None
    version: str | None
    reason: str = Field(
        description="invalid, unsigned, malformed-signature, unknown-key, wrong-publisher, "
        "bad-signature or replay"
    )
    detail: str
    received_at: datetime
    received_from: str
    status_id: str | None
    body: str = Field(description="The object exactly as received (JSON text)")

    @classmethod
    def of(cls, view: QuarantineView) -> QuarantinedOut:
        return cls(
            id=view.id,
            collection_id=view.collection_id,
            stix_id=view.stix_id,
            version=view.version,
            reason=view.reason,
            detail=view.detail,
            received_at=view.received_at,
            received_from=view.received_from,
            status_id=view.status_id,
            body=view.body,
        )
