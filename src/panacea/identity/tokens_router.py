"""Routes of API tokens: ``/orgs/{org_id}/tokens`` (the rules are in api_tokens)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from panacea.api.context import app_context
from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, after_id, page_of
from panacea.identity import api_tokens
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.identity.tokens_schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/orgs/{org_id}/tokens", tags=["API tokens"])
ManageTokens = Annotated[OrgAccess, Depends(require(Permission.TOKENS_MANAGE))]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Token id")]


@router.get(
    "",
    summary="The caller's tokens (administrators: every token of the organisation)",
    response_model=Page[TokenOut],
)
def list_tokens(
    access: ManageTokens, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[TokenOut]:
    views = api_tokens.list_tokens(db, access, after=after_id(cursor), limit=limit + 1)
    page = page_of(views, limit=limit, key=lambda v: v.id)
    return Page[TokenOut](items=[TokenOut.of(v) for v in page.items], next=page.next)


@router.post(
    "",
    status_code=201,
    summary="Create a token of the caller; the secret is shown once",
    response_model=TokenCreated,
)
def create_token(body: TokenCreate, access: ManageTokens, db: Db, request: Request) -> TokenCreated:
    max_days = app_context(request).settings.api_token_max_days
    view, secret = api_tokens.issue_token(
        db,
        access,
        name=body.name,
        scopes=body.scopes,
        lifetime=timedelta(days=body.expires_in_days),
        max_lifetime=timedelta(days=max_days),
    )
    return TokenCreated(token=TokenOut.of(view), secret=secret)


@router.delete(
    "/{token_id}",
    status_code=204,
    summary="Revoke a token (own; administrators: any of the organisation)",
    response_class=Response,
)
def revoke_token(token_id: TokenId, access: ManageTokens, db: Db) -> Response:
    api_tokens.revoke(db, access, token_id)
    return Response(status_code=204)
