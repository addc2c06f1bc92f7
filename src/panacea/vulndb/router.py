"""Feed routes: the state of the vulnerability feeds (read only).

The feeds are public knowledge shared by every organisation; the routes sit under an
organisation only because that is where the caller's permission is decided.

Updating is not offered here. ``vulndb.feeds.update_online`` pages through the whole NVD on a
first run (hours at the NVD's public rate limit), commits page by page outside any request
transaction, and would hold a server worker for as long: it runs from ``panacea feeds update``
(a scheduled job), not from an HTTP request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.api.problems import ProblemError
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.vulndb import views
from panacea.vulndb.models import FeedState
from panacea.vulndb.schemas import FeedStateOut, KnowledgeOut

router = APIRouter(prefix="/orgs/{org_id}", tags=["feeds"])
Reader = Annotated[OrgAccess, Depends(require(Permission.FEEDS_READ))]


@router.get("/feeds", summary="State of each vulnerability feed (NVD, KEV, EPSS)")
def list_feeds(
    access: Reader, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[FeedStateOut]:
    stmt = views.feed_states_query()
    return paginate(db, stmt, FeedState.name, cursor=cursor, limit=limit, convert=FeedStateOut.of)


@router.get("/feeds/{name}", summary="State of one feed")
def get_feed(
    access: Reader, db: Db, name: Annotated[str, Path(min_length=1, max_length=20)]
) -> FeedStateOut:
    state = views.feed_state(db, name)
    if state is None:
        raise ProblemError(404, f"feed {name!r} was never loaded", slug="not-found")
    return FeedStateOut.of(state)


@router.get("/vulnerability-knowledge", summary="How many CVEs are known, and with which signals")
def vulnerability_knowledge(access: Reader, db: Db) -> KnowledgeOut:
    return KnowledgeOut.of(views.knowledge_counts(db))
