"""Administration routes of sharing: ``/orgs/{org_id}/sharing/...``.

- ``collections``: the organisation's TAXII collections (list; create, audited);
- ``signing-key``: its public signing key (JWK) and STIX identity, for peers to register;
- ``quarantine``: objects refused on ingest, never ingested nor served over TAXII.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, after_id, page_of
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.sharing.exchange_schemas import (
    CollectionCreate,
    CollectionOut,
    PublicKeyOut,
    QuarantinedOut,
)
from panacea.sharing.keys import public_key_of
from panacea.sharing.quarantine import list_quarantined
from panacea.sharing.taxii.collections import create_collection, list_collections

router = APIRouter(prefix="/orgs/{org_id}/sharing", tags=["sharing"])
ReadSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_READ))]
PublishSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_PUBLISH))]


@router.get(
    "/collections",
    summary="The organisation's TAXII collections",
    response_model=list[CollectionOut],
)
def collections(access: ReadSharing, db: Db) -> list[CollectionOut]:
    return [CollectionOut.of(c) for c in list_collections(db, access.organisation_id)]


@router.post(
    "/collections",
    status_code=201,
    summary="Create a TAXII collection of the organisation",
    response_model=CollectionOut,
)
def new_collection(body: CollectionCreate, access: PublishSharing, db: Db) -> CollectionOut:
    created = create_collection(
        db,
        access,
        title=body.title,
        description=body.description,
        sharing_group_id=body.sharing_group_id,
    )
    return CollectionOut.of(created)


@router.get(
    "/signing-key",
    summary="The organisation's public signing key (JWK) and STIX identity",
    response_model=PublicKeyOut,
)
def signing_key(access: PublishSharing, db: Db) -> PublicKeyOut:
    return PublicKeyOut.of(public_key_of(db, access.organisation_id))


@router.get(
    "/quarantine",
    summary="Objects refused on ingest (never ingested, never served over TAXII)",
    response_model=Page[QuarantinedOut],
)
def quarantine(
    access: ReadSharing, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[QuarantinedOut]:
    views = list_quarantined(
        db, organisation_id=access.organisation_id, after=after_id(cursor), limit=limit + 1
    )
    page = page_of(views, limit=limit, key=lambda v: v.id)
    return Page[QuarantinedOut](items=[QuarantinedOut.of(v) for v in page.items], next=page.next)
