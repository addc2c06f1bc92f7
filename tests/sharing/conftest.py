"""Fixtures of the sharing tests: a live server (SQLite and PostgreSQL) and a trusted peer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sharing.taxii_world import Publisher, TaxiiWorld, live_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[TaxiiWorld]:
    with live_world(db_url, tmp_path) as live:
        yield live


@pytest.fixture
def peer(world: TaxiiWorld) -> Publisher:
    """A remote publisher whose key the platform trusts."""
    publisher = Publisher.new()
    world.trust(publisher)
    return publisher
