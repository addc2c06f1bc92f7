"""Routes of federation peers: ``/orgs/{org_id}/sharing/peers`` (docs/sharing-federation.md).

Listing needs ``sharing:read``; adding and removing need ``sharing:publish`` (audited
``sharing.peer_added``, ``sharing.peer_removed``). A peer's secret is write-only. Pulls,
pushes and syncs run from the CLI (``panacea share``), not from a request: they talk to other
servers for as long as their bounds allow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from panacea.api.deps import Db, require
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.sharing.peers import add_peer, list_peers, remove_peer
from panacea.sharing.peers_schemas import PeerCreate, PeerOut

router = APIRouter(prefix="/orgs/{org_id}/sharing/peers", tags=["sharing"])
ReadSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_READ))]
PublishSharing = Annotated[OrgAccess, Depends(require(Permission.SHARING_PUBLISH))]
PeerName = Annotated[str, Path(min_length=1, max_length=100, description="Peer name")]


@router.get("", summary="The organisation's federation peers", response_model=list[PeerOut])
def peers(access: ReadSharing, db: Db) -> list[PeerOut]:
    return [PeerOut.of(v) for v in list_peers(db, access.organisation_id)]


@router.post(
    "",
    status_code=201,
    summary="Add a federation peer (its secret is sealed, never returned)",
    response_model=PeerOut,
)
def new_peer(body: PeerCreate, access: PublishSharing, db: Db) -> PeerOut:
    peer = add_peer(db, access.organisation_id, body.spec(), access=access)
    [view] = [v for v in list_peers(db, access.organisation_id) if v.id == peer.id]
    return PeerOut.of(view)


@router.delete("/{name}", status_code=204, summary="Remove a federation peer")
def delete_peer(name: PeerName, access: PublishSharing, db: Db) -> Response:
    remove_peer(db, access.organisation_id, name, access=access)
    return Response(status_code=204)
