"""The TAXII 2.1 server under ``/taxii2/`` (OASIS TAXII Version 2.1, sections 4-5).

One API root, ``/taxii2/panacea/``: a token sees its own organisation's collections there
(:mod:`panacea.sharing.taxii.collections`). Endpoints:

====== ======================================================= ==========================
GET    /taxii2/                                                Server Discovery
GET    /taxii2/panacea/                                        API Root Information
GET    /taxii2/panacea/status/{status-id}/                     Get Status
GET    /taxii2/panacea/collections/                            Get Collections
GET    /taxii2/panacea/collections/{id}/                       Get A Collection
GET    /taxii2/panacea/collections/{id}/manifest/              Get Object Manifests
GET    /taxii2/panacea/collections/{id}/objects/               Get Objects
POST   /taxii2/panacea/collections/{id}/objects/               Add Objects (202 + status)
GET    /taxii2/panacea/collections/{id}/objects/{object-id}/   Get An Object
DELETE /taxii2/panacea/collections/{id}/objects/{object-id}/   Delete An Object
GET    .../objects/{object-id}/versions/                       Get Object Versions
====== ======================================================= ==========================

Every request is checked in this order: Accept (406), token (401), API root, collection or
status visible to the caller (404), read or write right (403), Content-Type of Add Objects
(415), parameters and body (400). Errors are TAXII error messages (:mod:`.media`). Routes are
left out of the OpenAPI document of ``/api/v1``: TAXII is specified by OASIS.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.routing import APIRoute

from panacea.api.context import app_context
from panacea.api.deps import Db, current_principal
from panacea.sharing.errors import TaxiiError
from panacea.sharing.taxii import resources
from panacea.sharing.taxii.collections import (
    CollectionAccess,
    TaxiiCaller,
    collection_for,
    readable_collections,
    require_read,
    require_write,
    taxii_caller,
)
from panacea.sharing.taxii.filters import (
    OBJECT_FILTERS,
    SINGLE_OBJECT_FILTERS,
    VERSIONS_FILTERS,
    ObjectFilter,
    VersionFilter,
    bad_request,
    parse_filter,
)
from panacea.sharing.taxii.ingest import add_objects
from panacea.sharing.taxii.media import check_accept, check_content_type, taxii_response
from panacea.sharing.taxii.status import get_status
from panacea.sharing.taxii.store import object_exists, page_manifest, page_objects, remove_object
from panacea.sharing.validation import ID_PATTERN

router = APIRouter(prefix="/taxii2", include_in_schema=False, dependencies=[Depends(check_accept)])
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _caller(request: Request, db: Db) -> TaxiiCaller:
    """The authenticated TAXII client: a Bearer API token, nothing else (no cookies)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise TaxiiError(
            401,
            "Unauthorized",
            "authenticate with a PANACEA API token: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="taxii"'},
        )
    return taxii_caller(db, current_principal(request, db))


Caller = Annotated[TaxiiCaller, Depends(_caller)]


def _api_root(api_root: Annotated[str, Path(max_length=100)]) -> str:
    if api_root != resources.API_ROOT:
        raise TaxiiError(404, "Not Found", f"no API root {api_root!r}")
    return api_root


ApiRoot = Annotated[str, Depends(_api_root)]
CollectionId = Annotated[str, Path(max_length=100)]
ObjectId = Annotated[str, Path(max_length=300)]


def _collection(
    db: Db, caller: Caller, _root: ApiRoot, collection_id: CollectionId
) -> CollectionAccess:
    return collection_for(db, caller, collection_id)


Collection = Annotated[CollectionAccess, Depends(_collection)]


def _object_id(object_id: ObjectId) -> str:
    if not ID_PATTERN.match(object_id):
        raise TaxiiError(404, "Not Found", f"{object_id!r} is not a STIX object id")
    return object_id


StixId = Annotated[str, Depends(_object_id)]


async def _envelope_body(request: Request) -> bytes:
    return await request.body()


Body = Annotated[bytes, Depends(_envelope_body)]


@router.get("/")
def discovery(caller: Caller) -> Response:
    return taxii_response(resources.discovery())


@router.get("/{api_root}/")
def api_root_information(caller: Caller, _root: ApiRoot, request: Request) -> Response:
    max_length = app_context(request).settings.max_request_bytes
    return taxii_response(resources.api_root_information(max_length))


@router.get("/{api_root}/status/{status_id}/")
@router.get("/{api_root}/status/{status_id}")
def status(
    caller: Caller, _root: ApiRoot, db: Db, status_id: Annotated[str, Path(max_length=36)]
) -> Response:
    return taxii_response(resources.status_resource(get_status(db, caller, status_id)))


@router.get("/{api_root}/collections/")
def collections(caller: Caller, _root: ApiRoot, db: Db) -> Response:
    return taxii_response(resources.collections_resource(readable_collections(db, caller)))


@router.get("/{api_root}/collections/{collection_id}/")
def collection(seen: Collection) -> Response:
    return taxii_response(resources.collection_resource(seen))


@router.get("/{api_root}/collections/{collection_id}/manifest/")
def manifest(seen: Collection, db: Db, request: Request) -> Response:
    require_read(seen)
    flt = parse_filter(request.query_params, allowed=OBJECT_FILTERS)
    page = page_manifest(db, seen.collection.id, flt)
    return taxii_response(resources.manifest(page), headers=resources.date_headers(page))


@router.get("/{api_root}/collections/{collection_id}/objects/")
def get_objects(seen: Collection, db: Db, request: Request) -> Response:
    require_read(seen)
    flt = parse_filter(request.query_params, allowed=OBJECT_FILTERS)
    page = page_objects(db, seen.collection.id, flt)
    return taxii_response(resources.envelope(page), headers=resources.date_headers(page))


def _objects_of(body: bytes) -> list[Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"the body is not JSON: {e}") from e
    except RecursionError as e:  # the decoder refuses arrays or objects nested this deep
        raise bad_request("the body is nested too deeply to be a TAXII envelope") from e
    if not isinstance(document, dict):
        raise bad_request("the body must be a TAXII envelope (a JSON object)")
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise bad_request("'objects' of the envelope must be a list")
    return objects


@router.post("/{api_root}/collections/{collection_id}/objects/")
def post_objects(
    seen: Collection, db: Db, request: Request, body: Body, caller: Caller
) -> Response:
    require_write(seen)
    check_content_type(request)
    status = add_objects(db, caller.access, seen.collection, _objects_of(body))
    return taxii_response(resources.status_resource(status), status=202)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def get_object(seen: Collection, db: Db, request: Request, stix_id: StixId) -> Response:
    require_read(seen)
    flt = parse_filter(request.query_params, allowed=SINGLE_OBJECT_FILTERS)
    if not object_exists(db, seen.collection.id, stix_id):
        raise TaxiiError(404, "Not Found", f"no object {stix_id} in this collection")
    page = page_objects(db, seen.collection.id, _with_id(flt, stix_id))
    return taxii_response(resources.envelope(page), headers=resources.date_headers(page))


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def delete_object(
    seen: Collection, db: Db, request: Request, stix_id: StixId, caller: Caller
) -> Response:
    require_read(seen)
    require_write(seen)
    flt = parse_filter(request.query_params, allowed=SINGLE_OBJECT_FILTERS, delete=True)
    remove_object(db, caller.access, seen.collection, stix_id, _with_id(flt, stix_id))
    return taxii_response(b"")


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/")
def object_versions(seen: Collection, db: Db, request: Request, stix_id: StixId) -> Response:
    require_read(seen)
    flt = parse_filter(request.query_params, allowed=VERSIONS_FILTERS)
    if not object_exists(db, seen.collection.id, stix_id):
        raise TaxiiError(404, "Not Found", f"no object {stix_id} in this collection")
    every_version = _with_id(flt, stix_id, versions=VersionFilter(all=True, last=False))
    page = page_manifest(db, seen.collection.id, every_version)
    return taxii_response(resources.versions(page), headers=resources.date_headers(page))


@router.api_route("/{rest:path}", methods=_ALL_METHODS)
def no_endpoint(request: Request) -> Response:
    """Whatever no endpoint above matched: 405 (with Allow) for a known path, else 404."""
    path = request.url.path
    allowed = sorted(
        {
            method
            for route in router.routes
            if isinstance(route, APIRoute)
            and route.endpoint is not no_endpoint
            and route.path_regex.match(path)
            for method in route.methods or ()
        }
    )
    if allowed:
        raise TaxiiError(
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on {path}",
            headers={"Allow": ", ".join(allowed)},
        )
    raise TaxiiError(404, "Not Found", f"no TAXII endpoint at {path}")


def _with_id(
    flt: ObjectFilter, stix_id: str, *, versions: VersionFilter | None = None
) -> ObjectFilter:
    return replace(flt, ids=(stix_id,), versions=versions or flt.versions)
