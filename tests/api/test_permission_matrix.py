"""Walks every route of the API for every role and two organisations.

Proves the permission matrix is what the routes enforce: a role gets past the check exactly
where ``rbac.MATRIX`` says, another organisation's paths answer 404, and every route under
``/orgs/{org_id}`` declares its permission through ``require`` (none is left unguarded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute

from panacea.api.app import API_PREFIX, ROUTERS
from panacea.identity.rbac import allows
from panacea.identity.roles import Permission, Role
from tests.api.conftest import ApiWorld

# Routes that are not about one organisation: authentication, the caller's own account and
# organisations, and liveness. Each authenticates (or is public) in its own way.
ORGLESS_PREFIXES = (f"{API_PREFIX}/auth", f"{API_PREFIX}/health", f"{API_PREFIX}/orgs")


@dataclass(frozen=True)
class GuardedRoute:
    method: str
    path: str
    permission: Permission


def _permission_of(route: APIRoute) -> Permission | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        permission = getattr(dep.call, "permission", None)
        if isinstance(permission, Permission):
            return permission
        stack.extend(dep.dependencies)
    return None


def guarded_routes() -> Iterator[GuardedRoute]:
    # The routers the app mounts under API_PREFIX (FastAPI includes them lazily, so the app's
    # own route list does not show them one by one).
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute), f"{route!r}: nested routers are not walked"
            path = API_PREFIX + route.path
            permission = _permission_of(route)
            if "{org_id}" in path:
                assert permission is not None, f"{path} has no require(permission)"
            else:
                assert path.startswith(ORGLESS_PREFIXES), f"{path}: unscoped route"
            if permission is None:
                continue
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield GuardedRoute(method, path, permission)


def _url(path: str, org_id: int) -> str:
    return re.sub(r"\{[a-z_]+\}", "999999", path.replace("{org_id}", str(org_id)))


def _call(client: object, method: str, url: str) -> tuple[int, str]:
    response = client.request(method, url, json={})  # type: ignore[attr-defined]
    kind = ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        kind = response.json().get("type", "")
    return response.status_code, kind


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_route_enforces_the_matrix_for_every_role(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    routes = list(guarded_routes())
    assert routes, "no guarded routes found"
    checked = 0
    for role in Role:
        user = api_world.user(f"{role.value}@a.example", {a: role})
        client = api_world.session_client(user)
        for route in routes:
            status, kind = _call(client, route.method, _url(route.path, a))
            denied = status == 403 and kind.endswith("permission-denied")
            where = f"{role.value} {route.method} {route.path} -> {status} {kind}"
            assert status < 500, where
            assert denied != allows(role, route.permission), where
            status, kind = _call(client, route.method, _url(route.path, b))
            assert status == 404, f"cross-organisation {where}"
            checked += 1
    assert checked == len(routes) * len(Role)
