"""Who may read and write which collection, and creating collections.

A TAXII client is an API token of the identity layer (Bearer, RFC 6750): it acts for one user
in one organisation (the token's), within its scopes. In that organisation the user's role
(break-glass elevation included) and the token's scopes give two rights:

- ``can_read``: the role allows ``sharing:read`` and the token has that scope;
- ``can_write``: the role allows ``sharing:publish`` and the token has that scope.

:func:`readable_collections` is the one place that decides which collections a caller sees:
its organisation's own collections, and the collections of the sharing groups its organisation
is a member of (``TaxiiCollection.sharing_group_id``; membership is
:mod:`panacea.sharing.groups`'), where every member reads and publishes with the same two
rights. A collection the caller cannot see answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from panacea.identity.audit import append
from panacea.identity.errors import NotFoundError
from panacea.identity.memberships import active_grant, membership_of
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.rbac import allows
from panacea.identity.roles import Permission, Role
from panacea.sharing.errors import SharingError, TaxiiError
from panacea.sharing.group_models import SharingGroupMember
from panacea.sharing.groups import is_member
from panacea.sharing.taxii.models import TaxiiCollection


@dataclass(frozen=True)
class TaxiiCaller:
    """A TAXII client's access to its organisation, and its two rights there."""

    access: OrgAccess
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class CollectionAccess:
    """A collection the caller sees, with the caller's rights on it."""

    collection: TaxiiCollection
    can_read: bool
    can_write: bool


def _permitted(access: OrgAccess, permission: Permission) -> bool:
    # Elevation adds the elevated role's permissions; it never removes the member's own.
    by_role = allows(access.role, permission) or allows(access.base_role, permission)
    scopes = access.principal.scopes
    return by_role and (scopes is None or permission in scopes)


def taxii_caller(session: Session, principal: Principal) -> TaxiiCaller:
    """The rights of a token's principal. Raises TaxiiError(401/403) for anything else."""
    organisation_id = principal.token_organisation_id
    if principal.via != "token" or organisation_id is None:
        raise TaxiiError(401, "Unauthorized", "TAXII takes an API token (Bearer) only")
    member = membership_of(session, user_id=principal.user_id, organisation_id=organisation_id)
    if member is None:
        raise TaxiiError(403, "Forbidden", "the token's user is not a member of its organisation")
    base_role = Role(member.role)
    grant = active_grant(session, user_id=principal.user_id, organisation_id=organisation_id)
    access = OrgAccess(
        principal=principal,
        organisation_id=organisation_id,
        role=Role(grant.role) if grant is not None else base_role,
        base_role=base_role,
        break_glass_grant_id=grant.id if grant is not None else None,
    )
    return TaxiiCaller(
        access=access,
        can_read=_permitted(access, Permission.SHARING_READ),
        can_write=_permitted(access, Permission.SHARING_PUBLISH),
    )


def readable_collections(session: Session, caller: TaxiiCaller) -> list[CollectionAccess]:
    """The collections ``caller`` sees (its organisation's), with its rights, oldest first."""
    if not (caller.can_read or caller.can_write):
        return []
    organisation_id = caller.access.organisation_id
    member_of = select(SharingGroupMember.group_id).where(
        SharingGroupMember.organisation_id == organisation_id
    )
    rows = session.execute(
        select(TaxiiCollection)
        .where(
            or_(
                TaxiiCollection.organisation_id == organisation_id,
                TaxiiCollection.sharing_group_id.in_(member_of),
            )
        )
        .order_by(TaxiiCollection.id)
    ).scalars()
    return [CollectionAccess(c, caller.can_read, caller.can_write) for c in rows]


def collection_for(session: Session, caller: TaxiiCaller, collection_uuid: str) -> CollectionAccess:
    """The collection ``collection_uuid`` as ``caller`` sees it. Raises TaxiiError(404)."""
    for seen in readable_collections(session, caller):
        if seen.collection.uuid == collection_uuid:
            return seen
    raise TaxiiError(404, "Not Found", f"no collection {collection_uuid}")


def require_read(seen: CollectionAccess) -> None:
    """Raise TaxiiError(403) unless the caller may read the collection."""
    if not seen.can_read:
        raise TaxiiError(403, "Forbidden", f"no read access to collection {seen.collection.uuid}")


def require_write(seen: CollectionAccess) -> None:
    """Raise TaxiiError(403) unless the caller may write to the collection."""
    if not seen.can_write:
        raise TaxiiError(403, "Forbidden", f"no write access to collection {seen.collection.uuid}")


def create_collection(
    session: Session,
    access: OrgAccess,
    *,
    title: str,
    description: str = "",
    sharing_group_id: int | None = None,
) -> TaxiiCollection:
    """A new collection of the caller's organisation (audited), shared with the members of
    ``sharing_group_id`` if given.

    Raises SharingError for an empty title, NotFoundError for a group the organisation is not
    a member of (the same answer as for a group that does not exist).
    """
    if not title.strip():
        raise SharingError("a collection needs a title")
    if sharing_group_id is not None and not is_member(
        session, access.organisation_id, sharing_group_id
    ):
        raise NotFoundError(f"no sharing group {sharing_group_id}")
    collection = TaxiiCollection(
        organisation_id=access.organisation_id,
        uuid=str(uuid.uuid4()),
        title=title.strip()[:200],
        description=description.strip()[:4000],
        sharing_group_id=sharing_group_id,
    )
    session.add(collection)
    session.flush()
    append(
        session,
        access.event(
            "sharing.collection_created",
            target=f"taxii_collection:{collection.uuid}",
            title=collection.title,
            sharing_group_id=sharing_group_id,
        ),
    )
    return collection


def list_collections(session: Session, organisation_id: int) -> list[TaxiiCollection]:
    """The organisation's own collections, oldest first."""
    return list(
        session.execute(
            select(TaxiiCollection)
            .where(TaxiiCollection.organisation_id == organisation_id)
            .order_by(TaxiiCollection.id)
        ).scalars()
    )
