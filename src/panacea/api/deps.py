"""Dependencies every route uses: the database session, the caller, the permission check.

``require(permission)`` is the only way a route gets an organisation: it authenticates the
caller (session cookie with CSRF check, or bearer API token), resolves the caller's role in
the organisation of the path (break-glass elevation included), insists on the second factor
the role needs, and checks the permission matrix. A non-member gets 404, as if the
organisation did not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.api.context import app_context, client_address
from panacea.api.problems import ProblemError
from panacea.db.base import utcnow
from panacea.identity.audit import AuditEvent, append
from panacea.identity.breakglass import BREAK_GLASS_HEADER, break_glass_header
from panacea.identity.memberships import active_grant, membership_of, mfa_roles
from panacea.identity.models import BreakGlassGrant
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.rbac import allows
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import CSRF_HEADER, SESSION_COOKIE, resolve_session
from panacea.identity.tokens import resolve_token
from panacea.inventory.organisation import Organisation

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNAUTHENTICATED = ProblemError(
    401, "authentication required", slug="unauthenticated", headers={"WWW-Authenticate": "Bearer"}
)


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the route succeeds, else rolled back."""
    session = app_context(request).sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


Db = Annotated[Session, Depends(db_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _from_token(request: Request, db: Session, secret: str) -> Principal:
    found = resolve_token(db, secret)
    if found is None:
        raise UNAUTHENTICATED
    token, user = found
    now = utcnow()
    # Token use is audited, at most once a minute per token (the same write as last_used_at).
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        append(
            db,
            AuditEvent(
                action="token.used",
                organisation_id=token.organisation_id,
                actor_user_id=user.id,
                actor=f"{user.email} (token {token.prefix})",
                via="token",
                target=f"token:{token.id}",
                client_address=client_address(request),
                details={"method": request.method, "path": request.url.path},
            ),
        )
    return Principal(
        user_id=user.id,
        email=user.email,
        via="token",
        token_id=token.id,
        token_prefix=token.prefix,
        token_organisation_id=token.organisation_id,
        scopes=frozenset(Permission(s) for s in token.scopes),
        client_address=client_address(request),
    )


def _from_cookie(request: Request, db: Session, cookie: str) -> Principal:
    found = resolve_session(db, cookie, timeouts=app_context(request).timeouts)
    if found is None:
        raise UNAUTHENTICATED
    row, user = found
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != row.csrf_token:
        raise ProblemError(403, "missing or wrong CSRF token", slug="csrf")
    return Principal(
        user_id=user.id,
        email=user.email,
        via="session",
        session_id=row.id,
        assurance=row.assurance,
        client_address=client_address(request),
    )


def current_principal(request: Request, db: Db) -> Principal:
    """The authenticated caller, whatever its assurance. Raises 401 problem otherwise."""
    secret = _bearer(request)
    if secret is not None:
        return _from_token(request, db, secret)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return _from_cookie(request, db, cookie)
    raise UNAUTHENTICATED


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def organisation_access(db: Session, principal: Principal, organisation_id: int) -> OrgAccess:
    """The caller's effective role in an organisation. Raises ProblemError 404 for non-members."""
    not_found = ProblemError(404, f"no organisation {organisation_id}", slug="not-found")
    if principal.token_organisation_id not in (None, organisation_id):
        raise not_found
    member = membership_of(db, user_id=principal.user_id, organisation_id=organisation_id)
    if member is None or db.get(Organisation, organisation_id) is None:
        raise not_found
    base_role = Role(member.role)
    grant = active_grant(db, user_id=principal.user_id, organisation_id=organisation_id)
    return OrgAccess(
        principal=principal,
        organisation_id=organisation_id,
        role=Role(grant.role) if grant is not None else base_role,
        base_role=base_role,
        break_glass_grant_id=grant.id if grant is not None else None,
    )


def _permitted(access: OrgAccess, permission: Permission) -> bool:
    # Elevation adds the elevated role's permissions; it never takes the member's own away.
    by_role = allows(access.role, permission) or allows(access.base_role, permission)
    scopes = access.principal.scopes
    return by_role and (scopes is None or permission in scopes)


def require(permission: Permission) -> Callable[..., OrgAccess]:
    """Dependency: the caller may ``permission`` in the organisation ``{org_id}`` of the path."""

    def dependency(
        principal: CurrentPrincipal,
        db: Db,
        org_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="Organisation id")],
        response: Response,
    ) -> OrgAccess:
        access = organisation_access(db, principal, org_id)
        needs_mfa = {access.role, access.base_role} & mfa_roles(db, org_id)
        if principal.via == "session" and needs_mfa and principal.assurance != "mfa":
            raise ProblemError(
                403,
                "this role requires a second factor: verify TOTP or a passkey first",
                slug="mfa-required",
            )
        if not _permitted(access, permission):
            raise ProblemError(
                403, f"role {access.role.value} lacks {permission.value}", slug="permission-denied"
            )
        if access.break_glass_grant_id is not None:
            # Every response made under break-glass says so, for the UI and for proxies' logs.
            # The grant was loaded by organisation_access: get() finds it in the session.
            grant = db.get(BreakGlassGrant, access.break_glass_grant_id)
            if grant is not None:
                response.headers[BREAK_GLASS_HEADER] = break_glass_header(grant)
        return access

    dependency.__name__ = f"require_{permission.name.lower()}"
    # Introspected by the permission-matrix test and docs/security.md.
    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def organisation_ids_of(db: Session, principal: Principal) -> list[int]:
    """Organisations the caller belongs to (a token: only its own)."""
    from panacea.identity.models import Membership

    stmt = select(Membership.organisation_id).where(Membership.user_id == principal.user_id)
    if principal.token_organisation_id is not None:
        stmt = stmt.where(Membership.organisation_id == principal.token_organisation_id)
    return list(db.execute(stmt.order_by(Membership.organisation_id)).scalars())
