"""Routes of the organisations the caller belongs to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select

from panacea.api.deps import CurrentPrincipal, Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.identity.models import Membership
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.inventory.organisation import Organisation

router = APIRouter(prefix="/orgs", tags=["organisations"])


class OrganisationOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    role: str | None = None


@router.get("", summary="Organisations the caller belongs to", response_model=Page[OrganisationOut])
def list_organisations(
    principal: CurrentPrincipal,
    db: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[OrganisationOut]:
    stmt = (
        select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == principal.user_id)
    )
    if principal.token_organisation_id is not None:
        stmt = stmt.where(Organisation.id == principal.token_organisation_id)
    roles = dict(
        db.execute(
            select(Membership.organisation_id, Membership.role).where(
                Membership.user_id == principal.user_id
            )
        ).all()
    )
    return paginate(
        db,
        stmt,
        Organisation.id,
        cursor=cursor,
        limit=limit,
        convert=lambda o: OrganisationOut(
            id=o.id, name=o.name, created_at=o.created_at, role=roles.get(o.id)
        ),
    )


@router.get("/{org_id}", summary="One organisation", response_model=OrganisationOut)
def get_organisation(
    access: Annotated[OrgAccess, Depends(require(Permission.ORGANISATION_READ))], db: Db
) -> OrganisationOut:
    org = db.get(Organisation, access.organisation_id)
    assert org is not None  # require() answered 404 otherwise
    return OrganisationOut(
        id=org.id, name=org.name, created_at=org.created_at, role=access.role.value
    )
