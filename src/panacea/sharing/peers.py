"""Peers: the remote TAXII 2.1 collections an organisation pulls from and pushes to.

A peer is configured by the organisation's security team with what the remote side gave it:
the server's base URL, the API root, the collection id and a secret (a Bearer token, or
``user:password`` for servers that use HTTP Basic, like medallion). The secret is sealed
(:func:`panacea.identity.encryption.seal`, AES-256-GCM under the data key) and only unsealed
to make a request; listings say whether there is one, never what it is.

For the TLP rules a peer also says **who reads the remote collection** (``audience``, STIX
identities of organisations): a push there is a share with those recipients, and what is
pulled from there was shared with them. Plain ``http://`` is accepted only for loopback
addresses (tests, a proxy on the same host): a token must not cross a network in clear
(RFC 6750 section 5.3 requires TLS for Bearer tokens).

Every change is audited: ``sharing.peer_added``, ``sharing.peer_removed``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.audit import AuditEvent, append
from panacea.identity.encryption import seal, unseal
from panacea.identity.errors import ConflictError, NotFoundError
from panacea.identity.principal import OrgAccess
from panacea.inventory.service import organisation_by_id
from panacea.sharing.errors import PeerError, TaxiiClientError
from panacea.sharing.sync_records import SEALED_COLUMN, SEALED_TABLE, SharingPeer
from panacea.sharing.taxii.models import TaxiiCollection
from panacea.sharing.taxii_client import Credentials, api_root_url
from panacea.sharing.validation import ID_PATTERN

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
AUTH_KINDS: Final = ("bearer", "basic", "none")
MAX_AUDIENCE: Final = 500


@dataclass(frozen=True)
class PeerSpec:
    """What a new peer is: where, how to authenticate, what it is used for, who reads it."""

    name: str
    base_url: str
    api_root: str
    collection_id: str
    auth_kind: str = "bearer"
    secret: str = field(default="", repr=False)
    can_pull: bool = True
    can_push: bool = False
    audience: Sequence[str] = ()
    partners: bool = False
    forward: bool = False
    inbox_collection: str | None = None


@dataclass(frozen=True)
class PeerView:
    """A peer as listed (the secret is never shown, only whether there is one)."""

    id: int
    name: str
    api_root_url: str
    collection_id: str
    auth_kind: str
    has_secret: bool
    can_pull: bool
    can_push: bool
    audience: tuple[str, ...]
    partners: bool
    forward: bool
    inbox_collection: str | None
    added_after: str | None
    last_pull_at: datetime | None
    last_push_at: datetime | None
    last_error: str


def _event(
    access: OrgAccess | None,
    organisation_id: int,
    action: str,
    *,
    actor: str,
    via: str,
    target: str,
    details: dict[str, Any],
) -> AuditEvent:
    """The audit event of a peer change: the API caller's (break-glass marked), or the
    console's (``actor``, ``via``)."""
    if access is not None:
        return access.event(action, target=target, **details)
    return AuditEvent(
        action=action,
        organisation_id=organisation_id,
        actor=actor,
        via=via,
        target=target,
        details=details,
    )


def check_url(url: str) -> str:
    """``url`` if it is https, or http to a loopback address; raise PeerError otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        raise PeerError(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise PeerError(f"{url!r} holds credentials: give the secret separately (it is sealed)")
    if parts.scheme == "http" and not _loopback(host):
        raise PeerError(
            f"{url!r}: plain http is only for loopback addresses; a token must travel over "
            "TLS (RFC 6750 section 5.3), use https"
        )
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _audience(values: Sequence[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        text = value.strip()
        matched = ID_PATTERN.match(text)
        if matched is None or matched.group(1) != "identity":
            raise PeerError(f"audience: {value!r} is not a STIX identity id (identity--<UUID>)")
        if text not in found:
            found.append(text)
    if len(found) > MAX_AUDIENCE:
        raise PeerError(f"audience: at most {MAX_AUDIENCE} organisations")
    return found


def _inbox(session: Session, organisation_id: int, collection: str | None) -> int | None:
    if collection is None:
        return None
    found = session.execute(
        select(TaxiiCollection.id).where(
            TaxiiCollection.uuid == collection, TaxiiCollection.organisation_id == organisation_id
        )
    ).scalar_one_or_none()
    if found is None:
        raise PeerError(f"inbox: organisation {organisation_id} has no collection {collection}")
    return found


def add_peer(
    session: Session,
    organisation_id: int,
    spec: PeerSpec,
    *,
    actor: str = "",
    via: str = "cli",
    access: OrgAccess | None = None,
) -> SharingPeer:
    """Record a peer of the organisation (audited ``sharing.peer_added``, as ``access`` when
    an API caller adds it, else as ``actor`` via ``via``).

    Raises PeerError naming the field for a malformed name, URL, collection id, audience or
    secret, or a push peer without an audience (a push must know its recipients: the TLP rules
    are checked against them); ConflictError for a name the organisation already uses.
    """
    organisation_by_id(session, organisation_id)
    if not NAME_PATTERN.match(spec.name):
        raise PeerError(f"name: {spec.name!r} must be 1-100 letters, digits, '.', '_' or '-'")
    base_url = check_url(spec.base_url.strip())
    try:
        root_url = check_url(api_root_url(base_url, spec.api_root.strip()))
    except TaxiiClientError as e:
        raise PeerError(f"api root: {e}") from e
    collection_id = spec.collection_id.strip()
    if not collection_id or len(collection_id) > 100 or "/" in collection_id:
        raise PeerError(f"collection: {spec.collection_id!r} is not a collection id")
    if spec.auth_kind not in AUTH_KINDS:
        raise PeerError(f"auth: {spec.auth_kind!r} is not one of {', '.join(AUTH_KINDS)}")
    if spec.auth_kind != "none" and not spec.secret:
        raise PeerError(f"auth {spec.auth_kind} needs the secret the remote side issued")
    if spec.auth_kind == "basic" and ":" not in spec.secret:
        raise PeerError("auth basic: write the secret as user:password")
    audience = _audience(spec.audience)
    if spec.can_push and not audience:
        raise PeerError(
            "audience: a peer pushed to needs the STIX identities of the organisations that "
            "read its collection (the recipients of a push)"
        )
    if not (spec.can_pull or spec.can_push or spec.inbox_collection):
        raise PeerError("a peer is pulled from, pushed to, or pushes into a local inbox")
    taken = session.execute(
        select(SharingPeer.id).where(
            SharingPeer.organisation_id == organisation_id, SharingPeer.name == spec.name
        )
    ).scalar_one_or_none()
    if taken is not None:
        raise ConflictError(
            f"name: organisation {organisation_id} already has a peer {spec.name!r}"
        )
    peer = SharingPeer(
        organisation_id=organisation_id,
        name=spec.name,
        base_url=base_url,
        api_root=root_url,
        collection_id=collection_id,
        auth_kind=spec.auth_kind,
        can_pull=spec.can_pull,
        can_push=spec.can_push,
        audience=audience,
        partners=spec.partners,
        forward=spec.forward,
        inbox_collection_id=_inbox(session, organisation_id, spec.inbox_collection),
    )
    session.add(peer)
    session.flush()  # the sealed secret is bound to the row id
    if spec.auth_kind != "none":
        peer.token_encrypted = seal(
            session,
            spec.secret.encode("utf-8"),
            table=SEALED_TABLE,
            row_id=peer.id,
            column=SEALED_COLUMN,
        )
        session.flush()
    append(
        session,
        _event(
            access,
            organisation_id,
            "sharing.peer_added",
            actor=actor,
            via=via,
            target=f"sharing_peer:{peer.id}",
            details={
                "name": peer.name,
                "api_root": root_url,
                "collection": collection_id,
                "pull": spec.can_pull,
                "push": spec.can_push,
                "audience": audience,
                "partners": spec.partners,
                "forward": spec.forward,
            },
        ),
    )
    return peer


def peer_named(session: Session, organisation_id: int, name: str) -> SharingPeer:
    """The organisation's peer called ``name``. Raises NotFoundError if there is none."""
    peer = session.execute(
        select(SharingPeer).where(
            SharingPeer.organisation_id == organisation_id, SharingPeer.name == name
        )
    ).scalar_one_or_none()
    if peer is None:
        raise NotFoundError(f"organisation {organisation_id} has no peer {name!r}")
    return peer


def peers_of(session: Session, organisation_id: int) -> list[SharingPeer]:
    """The organisation's peers, oldest first."""
    return list(
        session.execute(
            select(SharingPeer)
            .where(SharingPeer.organisation_id == organisation_id)
            .order_by(SharingPeer.id)
        ).scalars()
    )


def list_peers(session: Session, organisation_id: int) -> list[PeerView]:
    """The organisation's peers as listed, oldest first."""
    inboxes = dict(
        session.execute(
            select(TaxiiCollection.id, TaxiiCollection.uuid).where(
                TaxiiCollection.organisation_id == organisation_id
            )
        ).all()
    )
    return [
        PeerView(
            id=p.id,
            name=p.name,
            api_root_url=p.api_root,
            collection_id=p.collection_id,
            auth_kind=p.auth_kind,
            has_secret=p.token_encrypted is not None,
            can_pull=p.can_pull,
            can_push=p.can_push,
            audience=tuple(p.audience),
            partners=p.partners,
            forward=p.forward,
            inbox_collection=inboxes.get(p.inbox_collection_id or 0),
            added_after=p.added_after,
            last_pull_at=p.last_pull_at,
            last_push_at=p.last_push_at,
            last_error=p.last_error,
        )
        for p in peers_of(session, organisation_id)
    ]


def remove_peer(
    session: Session,
    organisation_id: int,
    name: str,
    *,
    actor: str = "",
    via: str = "cli",
    access: OrgAccess | None = None,
) -> None:
    """Forget a peer (its checkpoint and delivery records go with it; what was received from
    it stays). Audited ``sharing.peer_removed``. Raises NotFoundError if there is none."""
    peer = peer_named(session, organisation_id, name)
    append(
        session,
        _event(
            access,
            organisation_id,
            "sharing.peer_removed",
            actor=actor,
            via=via,
            target=f"sharing_peer:{peer.id}",
            details={"name": peer.name},
        ),
    )
    session.delete(peer)
    session.flush()


def credentials_of(session: Session, peer: SharingPeer) -> Credentials | None:
    """The peer's unsealed secret as client credentials (None for ``auth none``).

    Raises EncryptionError if the KEK is missing or wrong.
    """
    if peer.auth_kind == "none" or peer.token_encrypted is None:
        return None
    secret = unseal(
        session,
        peer.token_encrypted,
        table=SEALED_TABLE,
        row_id=peer.id,
        column=SEALED_COLUMN,
    ).decode("utf-8")
    return Credentials("basic" if peer.auth_kind == "basic" else "bearer", secret)
