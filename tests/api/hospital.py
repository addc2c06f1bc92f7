"""A small hospital for the domain route tests: the shipped feeds and the documented inventory.

The inventory is the complete example of docs/inventory.md (6 zones, 4 rules, 5 assets, 4
clinical services); with the shipped NVD, KEV and EPSS files matching gives it 15 findings.
Small enough that an assessment takes milliseconds, real enough to have attack paths.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from panacea.demo.install import packaged_feeds
from panacea.identity.audit_records import AuditEntry
from panacea.inventory.imports import import_bytes
from panacea.vulndb.feeds import load_directory
from tests.api.conftest import ApiWorld
from tests.inventory.importers.test_inventory_yaml import documented_example


def small_hospital(world: ApiWorld, name: str) -> int:
    """Create organisation ``name`` with the documented inventory, matched; return its id.

    The feeds are loaded first (loading them again is harmless: they are upserts).
    """
    org_id = world.organisation(name)
    load_directory(world.sessions, packaged_feeds())
    import_bytes(
        world.sessions, "inventory", documented_example(), organisation=name, source="hospital.yaml"
    )
    return org_id


def audit_of(world: ApiWorld, org_id: int, action: str) -> list[AuditEntry]:
    """The organisation's audit entries of ``action``, oldest first."""
    with world.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.organisation_id == org_id, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
        )


def walk(client: Any, url: str, limit: int, **query: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list, following ``next`` (bounded: 1,000 pages).

    ``query`` holds the list's other parameters (filters), sent with every page.
    """
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {**query, "limit": limit}
    for _ in range(1000):
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next"] is None:
            return items
        params = {**query, "limit": limit, "cursor": page["next"]}
    raise AssertionError(f"{url}: more than 1000 pages")


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem document of ``response``, checked to be RFC 9457 with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
