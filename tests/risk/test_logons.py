"""Logon and harvest actions built in bulk: one of each per account and asset."""

from __future__ import annotations

import dataclasses

import pytest

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.construction import build_attack_graph
from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import PlacementRecord
from panacea.risk.parameters import RiskParameters
from tests.risk.graph_strategies import labels_around
from tests.risk.test_mitigation import tiny

PARAMS = RiskParameters()


def edges_of(graph: AttackGraph, label: str) -> tuple[set[str], set[str]]:
    return labels_around(graph, graph.node(label))


def test_an_account_placed_twice_on_an_asset_has_one_logon_and_one_harvest() -> None:
    """The nurse may log on anywhere in the lan (user) and on the workstation as admin: she logs
    on at her highest level, through the admin-only port 445 (the workstation has no user logon
    port); the likelier harvest counts (a direct logon's, not the zone-wide one's), lowered by
    the workstation's EDR."""
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
    assert graph.probability[harvest] == PARAMS.harvest_probability * PARAMS.edr_factor
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


def test_an_account_placed_as_user_and_as_admin_logs_on_as_admin_through_any_port() -> None:
    """Not an AND over the user and the admin ports: SSH (22) alone gives the admin a session."""
    base = tiny()
    logons = (PlacementRecord(2, 1, None, "user"), PlacementRecord(2, 1, None, "admin"))
    graph = build_attack_graph(dataclasses.replace(base, logons=logons), PARAMS).graph
    nurse = "CORP\\nurse"
    assert edges_of(graph, f"logon:{nurse}:web") == (
        {f"credential:{nurse}", "logon_port:admin:web"},
        {"code_exec:admin:web"},
    )
    assert edges_of(graph, "logon_port:admin:web")[0] == {"reach:dmz:tcp/22"}


def test_names_that_collide_in_a_label_are_refused_by_name() -> None:
    """Account ``x:ws`` on asset ``ws`` and account ``x`` on an asset ``ws:ws`` would both make
    ``harvest:x:ws:ws``: the builder refuses the second, and keeps what it had."""
    builder = GraphBuilder()
    builder.fresh(["harvest:x:ws:ws"], NodeKind.HARVEST, Gate.AND, [0.5], [1])
    with pytest.raises(RiskModelError, match="harvest:x:ws:ws"):
        builder.fresh(
            ["harvest:y:db", "harvest:x:ws:ws"],
            NodeKind.HARVEST,
            Gate.AND,
            [0.5, 0.5],
            [2, 3],
        )
    assert builder.size == 1
    assert not builder.has("harvest:y:db")
