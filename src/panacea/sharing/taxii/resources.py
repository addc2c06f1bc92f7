"""The JSON resources of TAXII 2.1 (section 4-5), built from stored rows.

Optional lists are left out rather than sent empty. An envelope's objects are the stored JSON
texts joined as they are: no object is parsed or re-serialised to serve a page.
"""

from __future__ import annotations

import json
from typing import Any, Final

from panacea.sharing.taxii.collections import CollectionAccess
from panacea.sharing.taxii.filters import encode_next
from panacea.sharing.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE
from panacea.sharing.taxii.models import TaxiiStatus
from panacea.sharing.taxii.store import StoredPage, taxii_timestamp

API_ROOT: Final = "panacea"
DISCOVERY_TITLE: Final = "PANACEA TAXII 2.1 server"
DATE_ADDED_FIRST: Final = "X-TAXII-Date-Added-First"
DATE_ADDED_LAST: Final = "X-TAXII-Date-Added-Last"


def api_root_url() -> str:
    """The API root as a relative URL (TAXII 2.1 allows them in discovery: section 4.1.1)."""
    return f"/taxii2/{API_ROOT}/"


def discovery() -> dict[str, Any]:
    return {
        "title": DISCOVERY_TITLE,
        "description": (
            "Signed STIX 2.1 sharing between hospitals. Authenticate with a PANACEA API token "
            "(Bearer) whose scopes include sharing:read and/or sharing:publish."
        ),
        "default": api_root_url(),
        "api_roots": [api_root_url()],
    }


def api_root_information(max_content_length: int) -> dict[str, Any]:
    return {
        "title": "PANACEA",
        "description": "The collections of the caller's organisation.",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": max_content_length,
    }


def collection_resource(seen: CollectionAccess) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": seen.collection.uuid,
        "title": seen.collection.title,
        "can_read": seen.can_read,
        "can_write": seen.can_write,
        "media_types": [STIX_MEDIA_TYPE],
    }
    if seen.collection.description:
        resource["description"] = seen.collection.description
    if seen.collection.alias:
        resource["alias"] = seen.collection.alias
    return resource


def collections_resource(seen: list[CollectionAccess]) -> dict[str, Any]:
    return {"collections": [collection_resource(s) for s in seen]} if seen else {}


def date_headers(page: StoredPage) -> dict[str, str]:
    """``X-TAXII-Date-Added-First/Last`` of a page (none for an empty one)."""
    if not page.rows:
        return {}
    return {
        DATE_ADDED_FIRST: taxii_timestamp(page.rows[0].date_added),
        DATE_ADDED_LAST: taxii_timestamp(page.rows[-1].date_added),
    }


def _paging(page: StoredPage) -> dict[str, Any]:
    paging: dict[str, Any] = {"more": page.more}
    if page.more and page.last_key is not None:
        paging["next"] = encode_next(page.last_key)
    return paging


def envelope(page: StoredPage) -> bytes:
    """The envelope of a page of objects: stored JSON texts joined, never re-parsed."""
    head = json.dumps(_paging(page), separators=(",", ":"))
    if not page.rows:
        return head.encode("utf-8")
    objects = ",".join(row.body or "{}" for row in page.rows)
    return (head[:-1] + ',"objects":[' + objects + "]}").encode("utf-8")


def manifest(page: StoredPage) -> dict[str, Any]:
    resource = _paging(page)
    if page.rows:
        resource["objects"] = [
            {
                "id": row.stix_id,
                "date_added": taxii_timestamp(row.date_added),
                "version": row.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for row in page.rows
        ]
    return resource


def versions(page: StoredPage) -> dict[str, Any]:
    resource = _paging(page)
    if page.rows:
        resource["versions"] = [row.version for row in page.rows]
    return resource


def status_resource(status: TaxiiStatus) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": status.id,
        "status": status.status,
        "request_timestamp": taxii_timestamp(status.request_timestamp),
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
    }
    if status.successes:
        resource["successes"] = status.successes
    if status.failures:
        resource["failures"] = status.failures
    return resource
