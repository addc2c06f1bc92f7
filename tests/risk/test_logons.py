"""Logon and harvest actions built in bulk: one of each per account and asset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, LabelIndex, NodeKind
from panacea.risk.construction import build_attack_graph, labels_unique
from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import (
    AccountRecord,
    EndpointRecord,
    FindingRecord,
    PlacementRecord,
    RiskInputs,
)
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


def test_names_with_a_colon_that_collide_are_refused_when_building() -> None:
    """Account ``x:ws`` on asset ``ws`` and account ``x`` on asset ``ws:ws``: the construction
    checks its labels at once (names with ':'), and refuses the model by name."""
    base = tiny()
    assets = (
        *base.assets,
        dataclasses.replace(base.assets[3], id=9, name="ws:ws"),
    )
    accounts = (
        *base.accounts,
        AccountRecord(8, "x:ws", "user", mfa=False),
        AccountRecord(9, "x", "user", mfa=False),
    )
    logons = (PlacementRecord(8, 4, None, "user"), PlacementRecord(9, 9, None, "user"))
    inputs = dataclasses.replace(base, assets=assets, accounts=accounts, logons=logons)
    assert not labels_unique(inputs)
    with pytest.raises(RiskModelError, match="would be called 'harvest:x:ws:ws'"):
        build_attack_graph(inputs, PARAMS)


@pytest.mark.parametrize("inputs", [tiny(), dataclasses.replace(tiny(), logons=())])
def test_labels_indexed_later_give_the_graph_indexed_at_once(
    inputs: RiskInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names without ':' used once each: the labels made in bulk are indexed when first read;
    the graph and its index are those of a builder that checks every label at once."""
    assert labels_unique(inputs)
    later = build_attack_graph(inputs, PARAMS).graph
    assert isinstance(later.index, LabelIndex)
    monkeypatch.setattr("panacea.risk.construction.labels_unique", lambda _inputs: False)
    at_once = build_attack_graph(inputs, PARAMS).graph
    assert isinstance(at_once.index, dict)
    assert later.labels == at_once.labels
    assert np.array_equal(later.parents, at_once.parents)
    assert dict(later.index) == at_once.index
    assert all(later.index[label] == i for i, label in enumerate(later.labels))
    assert later.index.get("nothing") is None
    assert "nothing" not in later.index


def test_a_bulk_label_is_found_before_the_graph_is_built() -> None:
    builder = GraphBuilder(bulk_labels_unique=True)
    builder.fresh(["cia:C:a", "cia:C:b"], NodeKind.CIA_LOSS, Gate.OR, [1.0, 1.0], [1, 2])
    assert builder.node("net:z", NodeKind.NETWORK) == 2
    assert builder.index_of("cia:C:b") == 1
    assert builder.has("cia:C:a")
    assert builder.index_of("cia:C:c") == -1


def test_a_broken_promise_of_distinct_labels_is_an_internal_error() -> None:
    index = LabelIndex(("cia:C:a", "cia:C:a"))
    with pytest.raises(RiskModelError, match="internal: two nodes"):
        index.get("cia:C:a")


def test_a_protocol_with_a_colon_gets_exploits_of_their_own_checked_at_once() -> None:
    """web's port 443 twice, over 'tcp' and 'x:tcp', a flaw on each: two actions, named by
    protocol and port (not read back from a label), and labels checked as they are made."""
    base = tiny()
    inputs = dataclasses.replace(
        base,
        endpoints=(*base.endpoints, EndpointRecord(8, 1, 443, "x:tcp")),
        findings=(*base.findings, FindingRecord(7, 1, 8, None, "CVE-0001", "confirmed")),
    )
    assert not labels_unique(inputs)
    graph = build_attack_graph(inputs, PARAMS).graph
    assert isinstance(graph.index, dict)
    assert len(set(graph.labels)) == len(graph.labels)
    ways = {graph.labels[graph.exploits.node_of_finding()[f]] for f in (1, 7)}
    assert ways == {"exploit:web:port:tcp/443:admin", "exploit:web:port:x:tcp/443:admin"}
