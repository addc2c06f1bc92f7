"""Logon and harvest actions built in bulk: one of each per account and asset."""

from __future__ import annotations

import dataclasses

from panacea.risk.attack_graph import AttackGraph
from panacea.risk.construction import build_attack_graph
from panacea.risk.inputs import PlacementRecord
from panacea.risk.parameters import RiskParameters
from tests.risk.test_mitigation import tiny

PARAMS = RiskParameters()


def edges_of(graph: AttackGraph, label: str) -> tuple[set[str], set[str]]:
    node = graph.node(label)
    parents = {graph.labels[p] for p in graph.parents[graph.indptr[node] : graph.indptr[node + 1]]}
    children = {
        graph.labels[c]
        for c in range(graph.size)
        if node in graph.parents[graph.indptr[c] : graph.indptr[c + 1]]
    }
    return parents, children


def test_an_account_placed_twice_on_an_asset_has_one_logon_and_one_harvest() -> None:
    """The nurse may log on anywhere in the lan (user) and on the workstation as admin: the
    workstation has no user logon port (445 only), so only the admin placement logs on; the
    harvest keeps the probability of the first placement (zone-wide), lowered by the EDR."""
    base = tiny()
    logons = (*base.logons, PlacementRecord(2, 4, None, "admin"))
    graph = build_attack_graph(dataclasses.replace(base, logons=logons), PARAMS).graph
    nurse = "CORP\\nurse"
    assert sum(label == f"logon:{nurse}:ws" for label in graph.labels) == 1
    assert edges_of(graph, f"logon:{nurse}:ws") == (
        {f"credential:{nurse}", "logon_port:admin:ws"},
        {"code_exec:admin:ws"},
    )
    harvest = graph.node(f"harvest:{nurse}:ws")
    assert graph.probability[harvest] == PARAMS.harvest_zone_probability * PARAMS.edr_factor
    assert edges_of(graph, f"harvest:{nurse}:ws") == (
        {"code_exec:admin:ws"},
        {f"credential:{nurse}"},
    )
    # the credential is valid on every asset of the zone it is placed on
    assert f"credential:{nurse}" in edges_of(graph, "access:ws")[0]
    assert f"credential:{nurse}" in edges_of(graph, "access:db")[0]


def test_a_logon_on_a_server_gives_a_session_at_its_level() -> None:
    graph = build_attack_graph(tiny(), PARAMS).graph
    admin = "CORP\\admin"
    parents, children = edges_of(graph, f"logon:{admin}:db")
    assert parents == {f"credential:{admin}", "logon_port:admin:db"}
    assert children == {"code_exec:admin:db"}
    logon = graph.node(f"logon:{admin}:db")
    assert graph.probability[logon] == PARAMS.logon_probability  # no MFA
    assert graph.probability[graph.node(f"harvest:{admin}:db")] == PARAMS.harvest_probability
