"""The endpoint table: each asset's endpoints, in the order given, filtered by port."""

from __future__ import annotations

import numpy as np

from panacea.risk.endpoints import EndpointTable
from panacea.risk.inputs import EndpointRecord

ENDPOINTS = [
    EndpointRecord(1, asset=30, port=445, protocol="tcp"),
    EndpointRecord(2, asset=10, port=22, protocol="tcp"),
    EndpointRecord(3, asset=30, port=161, protocol="udp"),
    EndpointRecord(4, asset=10, port=443, protocol="tcp"),
    EndpointRecord(5, asset=30, port=22, protocol="tcp"),
]
POSITION = {10: 0, 20: 1, 30: 2}  # asset 20 has no endpoint


def _pairs(
    table: EndpointTable, rows: list[int], ports: frozenset[int] | None
) -> list[tuple[int, str, int]]:
    owner, ends = table.among(np.array(rows, dtype=np.int64), ports)
    return [
        (int(o), table.protocols[table.protocol[e]], int(table.port[e]))
        for o, e in zip(owner, ends, strict=True)
    ]


def test_each_asset_lists_its_endpoints_in_the_given_order() -> None:
    table = EndpointTable.of(ENDPOINTS, POSITION, assets=3)
    assert _pairs(table, [2, 1, 0], None) == [
        (0, "tcp", 445),
        (0, "udp", 161),
        (0, "tcp", 22),
        (2, "tcp", 22),
        (2, "tcp", 443),
    ]


def test_only_the_asked_ports_are_kept() -> None:
    table = EndpointTable.of(ENDPOINTS, POSITION, assets=3)
    assert _pairs(table, [0, 2], frozenset({22})) == [(0, "tcp", 22), (1, "tcp", 22)]
    assert _pairs(table, [1], None) == []


def test_no_endpoints_at_all() -> None:
    table = EndpointTable.of([], POSITION, assets=3)
    assert _pairs(table, [0, 1, 2], frozenset({22})) == []
