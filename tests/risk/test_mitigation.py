"""Mitigation planning: model edits, candidates, the budgeted greedy plan and the cut MILP.

Two models: the demo hospital (300 assets) and a tiny hand-made one whose every subset of
mitigations can be enumerated.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import create_db_engine
from panacea.demo.install import install_demo
from panacea.inventory.overrides import MitigationCost
from panacea.inventory.service import get_organisation
from panacea.inventory.vocabulary import MitigationKind
from panacea.risk.assessment import AssessmentOptions, assess_inputs
from panacea.risk.attack_graph import AttackGraph
from panacea.risk.budget import budget_plan
from panacea.risk.candidates import candidate_set, candidates
from panacea.risk.construction import build_attack_graph
from panacea.risk.cut import cut_plan
from panacea.risk.edits import apply_edit
from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import (
    AccountRecord,
    AssetRecord,
    DependencyRecord,
    EndpointRecord,
    EvidenceRecord,
    FindingRecord,
    MitigationCostRecord,
    PlacementRecord,
    RiskInputs,
    RuleRecord,
    ServiceRecord,
    StaffGroupRecord,
    VulnerabilityRecord,
    ZoneRecord,
    load_inputs,
)
from panacea.risk.mitigation import (
    DEFAULT_COSTS,
    REMOVALS,
    VENDOR_APPROVAL_FACTOR,
    Mitigation,
    Plan,
    apply,
    ports_without,
)
from panacea.risk.parameters import RiskParameters
from panacea.risk.paths import reached_with
from panacea.risk.planning import SCHEMA, plan_document
from panacea.risk.ports import allows
from panacea.risk.simulate import fixed_point, simulate
from panacea.risk.worlds import Worlds

ORG = "Demo General Hospital"
INTERNET = AssessmentOptions(entries=("internet",), trials=512, scenarios=0)
EVERYONE = AssessmentOptions(trials=512, scenarios=0)
PARAMS = RiskParameters()
RCE = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
ADJACENT = "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CLIENT = "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"


# models -----------------------------------------------------------------------------------
def tiny(costs: tuple[MitigationCostRecord, ...] = ()) -> RiskInputs:
    """Internet -> web server (dmz) -> database (lan) -> infusion pump (devices, no patching),
    and a workstation whose users can be phished. Rules 1 and 4 both let 443 into the dmz."""
    vulns = {
        cve: VulnerabilityRecord(cve, vector, frozenset(), kev=False, epss=None)
        for cve, vector in [
            ("CVE-0001", RCE),
            ("CVE-0002", RCE),
            ("CVE-0003", RCE),
            ("CVE-0004", ADJACENT),
            ("CVE-0005", CLIENT),
        ]
    }
    return RiskInputs(
        organisation_id=1,
        zones=(
            ZoneRecord(1, "internet", "internet", isolated=False),
            ZoneRecord(2, "dmz", "dmz", isolated=False),
            ZoneRecord(3, "lan", "clinical", isolated=False),
            ZoneRecord(4, "devices", "medical_devices", isolated=False),
        ),
        rules=(
            RuleRecord(1, 1, 2, "tcp", "443"),
            RuleRecord(2, 2, 3, "tcp", "1433,445"),
            RuleRecord(3, 3, 4, "tcp", "104"),
            RuleRecord(4, 1, 2, "tcp", "443,8443"),
        ),
        assets=(
            AssetRecord(1, "web", "server", 2, None, frozenset(), "yes"),
            AssetRecord(2, "db", "server", 3, None, frozenset(), "vendor_approval"),
            AssetRecord(3, "pump", "medical_device", 4, None, frozenset(), "no"),
            AssetRecord(4, "ws", "workstation", 3, None, frozenset({"edr"}), "yes"),
            AssetRecord(5, "monitor", "medical_device", 4, None, frozenset(), "no"),
        ),
        endpoints=(
            EndpointRecord(1, 1, 443, "tcp"),
            EndpointRecord(2, 1, 22, "tcp"),
            EndpointRecord(3, 2, 1433, "tcp"),
            EndpointRecord(4, 2, 445, "tcp"),
            EndpointRecord(5, 3, 104, "tcp"),
            EndpointRecord(6, 4, 445, "tcp"),
            EndpointRecord(7, 5, 104, "tcp"),
        ),
        findings=(
            FindingRecord(1, 1, 1, None, "CVE-0001", "confirmed"),
            FindingRecord(2, 2, 3, None, "CVE-0002", "confirmed"),
            FindingRecord(3, 3, 5, None, "CVE-0003", "confirmed"),
            FindingRecord(4, 3, None, None, "CVE-0004", "confirmed"),
            FindingRecord(5, 4, None, 1, "CVE-0005", "confirmed"),
            FindingRecord(6, 5, 7, None, "CVE-0003", "confirmed"),
        ),
        vulnerabilities=vulns,
        accounts=(
            AccountRecord(1, "CORP\\admin", "admin", mfa=False),
            AccountRecord(2, "CORP\\nurse", "user", mfa=True),
        ),
        logons=(
            PlacementRecord(1, 2, None, "admin"),
            PlacementRecord(2, None, 3, "user"),
        ),
        staff_groups=(StaffGroupRecord(1, "Nurses", 0.3, size=12),),
        workstations=(PlacementRecord(1, 4, None, "user"),),
        services=(
            ServiceRecord(1, "records", "Records", "serious", 1000.0, 10.0, 0, 0.0),
            ServiceRecord(2, "infusion", "Infusion", "critical", 5000.0, 4.0, 0, 0.0),
            ServiceRecord(3, "charting", "Charting", "minor", 100.0, 2.0, 0, 0.0),
        ),
        dependencies=(
            DependencyRecord(1, 2, "C", None),
            DependencyRecord(2, 3, "IA", None),
            DependencyRecord(3, 4, "C", None),
        ),
        groups={},
        service_dependencies=(),
        mitigation_costs=costs,
    )


def two_doors() -> RiskInputs:
    """A web server with two certain exploits on two ports, each let in by two rules: no
    single mitigation changes anything, two of a kind cut the portal."""
    certain = {
        cve: VulnerabilityRecord(cve, RCE, frozenset(), kev=True, epss=1.0)
        for cve in ("CVE-0001", "CVE-0002")
    }
    return dataclasses.replace(
        tiny(),
        zones=tiny().zones[:2],
        rules=(RuleRecord(1, 1, 2, "tcp", "443,8443"), RuleRecord(2, 1, 2, "tcp", "443,8443")),
        assets=(AssetRecord(1, "web", "server", 2, None, frozenset(), "yes"),),
        endpoints=(EndpointRecord(1, 1, 443, "tcp"), EndpointRecord(2, 1, 8443, "tcp")),
        findings=(
            FindingRecord(1, 1, 1, None, "CVE-0001", "confirmed"),
            FindingRecord(2, 1, 2, None, "CVE-0002", "confirmed"),
        ),
        vulnerabilities=certain,
        accounts=(),
        logons=(),
        staff_groups=(),
        workstations=(),
        services=(ServiceRecord(1, "portal", "Portal", "minor", 1000.0, 10.0, 0, 0.0),),
        dependencies=(DependencyRecord(1, 1, "C", None),),
        mitigation_costs=(MitigationCostRecord("edr", "*", 5000.0, 1.0),),  # out of budget
    )


@pytest.fixture(scope="module")
def demo_factory(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    path = tmp_path_factory.mktemp("mitigation") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    factory = sessionmaker(engine, expire_on_commit=False)
    install_demo(factory, organisation=ORG, seed=7)
    yield factory
    engine.dispose()


@pytest.fixture(scope="module")
def demo(demo_factory: sessionmaker[Session]) -> RiskInputs:
    with demo_factory() as session:
        return load_inputs(session, get_organisation(session, ORG).id)


@pytest.fixture(scope="module")
def internet_plan(demo: RiskInputs) -> Plan:
    return budget_plan(demo, INTERNET, 1000.0)


def test_demo_bigger_budget_never_leaves_more_risk(demo: RiskInputs, internet_plan: Plan) -> None:
    smaller = budget_plan(demo, INTERNET, 550.0)
    assert smaller.total_cost <= 550.0
    assert internet_plan.risk_after <= smaller.risk_after < smaller.risk_before


# edits --------------------------------------------------------------------------------------
def _mitigation(kind: MitigationKind, *subjects: int, **kw: object) -> Mitigation:
    return Mitigation(kind, subjects, f"{kind.value} {subjects}", 1.0, 0.1, **kw)  # type: ignore[arg-type]


def test_apply_edits_the_model_as_documented() -> None:
    model = tiny()
    edited = apply(
        model,
        [
            _mitigation(MitigationKind.PATCH, 1, cve="CVE-0001"),
            _mitigation(MitigationKind.BLOCK_RULE, 3),
            _mitigation(MitigationKind.NARROW_RULE, 2, port=445),
            _mitigation(MitigationKind.MOVE_ZONE, 3, zone="isolated-pump"),
            _mitigation(MitigationKind.MFA, 1),
            _mitigation(MitigationKind.EDR, 2),
            _mitigation(MitigationKind.ALLOWLISTING, 4),
            _mitigation(MitigationKind.TRAINING, 1, factor=0.5),
            _mitigation(MitigationKind.DISABLE_ENDPOINT, 3),
        ],
    )
    assert {f.id for f in edited.findings} == {3, 4, 5, 6}  # f1 patched, f2 on endpoint 3
    assert {r.id: r.ports for r in edited.rules} == {1: "443", 2: "1433", 4: "443,8443"}
    isolated = next(z for z in edited.zones if z.name == "isolated-pump")
    assert isolated.isolated
    assert isolated.kind == "medical_devices"
    assert isolated.id > 0  # (a negative one would read as "no zone")
    assert isolated.id not in {z.id for z in model.zones}
    assets = {a.id: a for a in edited.assets}
    assert assets[3].zone == isolated.id
    assert "edr" in assets[2].controls
    assert "application_allowlisting" in assets[4].controls
    assert all(a.mfa for a in edited.accounts)
    assert edited.staff_groups[0].susceptibility == pytest.approx(0.15)
    assert 3 not in {e.id for e in edited.endpoints}
    assert model == tiny()  # the original is untouched


@pytest.mark.parametrize(
    "mitigation",
    [
        _mitigation(MitigationKind.PATCH, 99, cve="CVE-0001"),
        _mitigation(MitigationKind.BLOCK_RULE, 99),
        _mitigation(MitigationKind.NARROW_RULE, 1, port=22),
        _mitigation(MitigationKind.MOVE_ZONE, 3),
        _mitigation(MitigationKind.MFA, 99),
        _mitigation(MitigationKind.TRAINING, 1, factor=2.0),
        _mitigation(MitigationKind.DISABLE_ENDPOINT, 99),
        _mitigation(MitigationKind.EDR),
    ],
)
def test_apply_rejects_what_the_model_does_not_have(mitigation: Mitigation) -> None:
    with pytest.raises(RiskModelError, match=mitigation.kind.value):
        apply(tiny(), [mitigation])


@pytest.mark.parametrize(
    ("ports", "port", "left"),
    [
        ("22,443", 22, "443"),
        ("8000-8100", 8050, "8000-8049,8051-8100"),
        ("*", 0, "1-65535"),
        ("443", 443, ""),
        ("22, 443-444", 444, "22,443"),
    ],
)
def test_ports_without(ports: str, port: int, left: str) -> None:
    assert ports_without(ports, port) == left


@given(
    st.lists(st.tuples(st.integers(1, 200), st.integers(0, 20)), min_size=1, max_size=4),
    st.integers(1, 230),
)
def test_narrowing_removes_exactly_one_port(ranges: list[tuple[int, int]], probe: int) -> None:
    ports = ",".join(f"{low}-{low + width}" for low, width in ranges)
    port = ranges[0][0]
    left = ports_without(ports, port)
    expected = allows("tcp", ports, "tcp", probe) and probe != port
    assert (bool(left) and allows("tcp", left, "tcp", probe)) == expected


# candidates -------------------------------------------------------------------------------
def test_tiny_candidates_respect_patchability_and_existing_controls() -> None:
    found = candidates(tiny(), PARAMS, ("internet", "phishing"))
    kinds = {(m.kind, m.subjects) for m in found}
    assert (MitigationKind.PATCH, (1,)) in kinds
    assert not any(m.kind is MitigationKind.PATCH and m.subjects == (3,) for m in found)
    assert (MitigationKind.MOVE_ZONE, (3,)) in kinds  # segmentation instead of a patch
    assert (MitigationKind.EDR, (3,)) in kinds
    assert (MitigationKind.EDR, (4,)) not in kinds  # it has EDR already
    assert (MitigationKind.MFA, (2,)) not in kinds  # it has MFA already
    assert (MitigationKind.TRAINING, (1,)) in kinds
    db = next(m for m in found if m.kind is MitigationKind.PATCH and m.subjects == (2,))
    assert "vendor_approval" in db.flags
    assert db.cost == DEFAULT_COSTS[MitigationKind.PATCH][0] * VENDOR_APPROVAL_FACTOR
    training = next(m for m in found if m.kind is MitigationKind.TRAINING)
    assert training.cost == DEFAULT_COSTS[MitigationKind.TRAINING][0] * 12  # x group size


def test_candidates_only_touch_live_attack_paths() -> None:
    internet = {(m.kind, m.subjects) for m in candidates(tiny(), PARAMS, ("internet",))}
    assert (MitigationKind.TRAINING, (1,)) not in internet  # nobody phishes without the entry
    assert not any(kind is MitigationKind.ALLOWLISTING for kind, _ in internet)


@pytest.mark.parametrize(
    ("row", "kind", "subjects", "expected"),
    [
        (MitigationCostRecord("patch", "*", 1000.0, 2.0), MitigationKind.PATCH, (1,), 1000.0),
        (
            MitigationCostRecord("patch", "*", 1000.0, 2.0),
            MitigationKind.PATCH,
            (2,),
            1000.0 * VENDOR_APPROVAL_FACTOR,
        ),
        (MitigationCostRecord("patch", "web", 123.0, 1.0), MitigationKind.PATCH, (1,), 123.0),
        (
            MitigationCostRecord("patch", "CVE-0002", 77.0, 1.0),
            MitigationKind.PATCH,
            (2,),
            77.0,
        ),
        (
            MitigationCostRecord("move_zone", "pump", 9000.0, 4.0),
            MitigationKind.MOVE_ZONE,
            (3,),
            9000.0,
        ),
        (MitigationCostRecord("training", "*", 10.0, 0.0), MitigationKind.TRAINING, (1,), 120.0),
        (
            MitigationCostRecord("block_rule", "dmz->lan", 42.0, 0.0),
            MitigationKind.BLOCK_RULE,
            (2,),
            42.0,
        ),
    ],
)
def test_cost_overrides_from_the_inventory_are_used(
    row: MitigationCostRecord, kind: MitigationKind, subjects: tuple[int, ...], expected: float
) -> None:
    found = candidates(tiny((row,)), PARAMS, ("internet", "phishing"))
    chosen = next(m for m in found if m.kind is kind and m.subjects == subjects)
    assert chosen.cost == pytest.approx(expected)


def test_cost_rows_are_loaded_from_the_database(demo_factory: sessionmaker[Session]) -> None:
    with demo_factory() as session:
        organisation = get_organisation(session, ORG).id
        session.add(MitigationCost(organisation_id=organisation, kind="mfa", target="*", cost=1.5))
        session.add(
            MitigationCost(
                organisation_id=organisation,
                kind="move_zone",
                target="infusion-gw-01",
                cost=6000.0,
                effort_days=4.0,
            )
        )
        session.flush()
        inputs = load_inputs(session, organisation)
        session.rollback()
    assert MitigationCostRecord("mfa", "*", 1.5, 0.0) in inputs.mitigation_costs
    found = candidates(inputs, PARAMS, ("internet", "vendor"))
    assert {m.cost for m in found if m.kind is MitigationKind.MFA} == {1.5}
    move = [m for m in found if m.kind is MitigationKind.MOVE_ZONE and m.target == "infusion-gw-01"]
    assert [(m.cost, m.effort_days) for m in move] == [(6000.0, 4.0)]


def test_demo_candidates_are_tens_to_hundreds_and_never_patch_unpatchable(
    demo: RiskInputs,
) -> None:
    found = candidates(demo, PARAMS)
    assert 50 <= len(found) <= 400
    unpatchable = {a.id for a in demo.assets if a.patchable == "no"}
    patches = [m for m in found if m.kind is MitigationKind.PATCH]
    assert patches
    assert not any(set(m.subjects) & unpatchable for m in patches)
    with_edr = {a.id for a in demo.assets if "edr" in a.controls}
    assert not any(set(m.subjects) & with_edr for m in found if m.kind is MitigationKind.EDR)
    assert len({m.key for m in found}) == len(found)
    moves = {m.subjects[0] for m in found if m.kind is MitigationKind.MOVE_ZONE}
    assert moves & unpatchable  # unpatchable devices get segmentation instead


# edits of the graph equal the rebuilt graph -------------------------------------------------
def _sample(found: list[Mitigation], per_kind: int) -> list[Mitigation]:
    by_kind: dict[MitigationKind, list[Mitigation]] = {}
    for m in found:
        by_kind.setdefault(m.kind, []).append(m)
    return [m for ms in by_kind.values() for m in ms[:: max(1, len(ms) // per_kind)][:per_kind]]


def _probabilities(graph: AttackGraph, worlds: Worlds) -> NDArray[np.float64]:
    """What ``simulate`` gives (test_budget_plan_figures_are_the_monte_carlo_reference)."""
    state, _ = fixed_point(graph, worlds.all_coins(graph))
    counts = np.unpackbits(state.view(np.uint8), axis=1).sum(axis=1)
    return np.asarray(counts / worlds.trials, dtype=np.float64)


def _compare(inputs: RiskInputs, entries: tuple[str, ...], per_kind: int) -> int:
    """Check every sampled candidate's edit against the rebuilt graph; return how many."""
    cset = candidate_set(inputs, PARAMS, entries)
    base = cset.built.graph
    worlds = Worlds(256, seed=1)
    before = _probabilities(base, worlds)
    assert np.array_equal(before, simulate(base, trials=256, seed=1).probability)
    chosen = set(_sample(list(cset.mitigations), per_kind))
    for m, edit in zip(cset.mitigations, cset.edits, strict=True):
        if m not in chosen:
            continue
        edited = _probabilities(apply_edit(base, edit), worlds)
        rebuilt_graph = build_attack_graph(apply(inputs, [m]), PARAMS, entries=entries).graph
        rebuilt = _probabilities(rebuilt_graph, worlds)
        for label, i in base.index.items():
            j = rebuilt_graph.index.get(label)
            if j is not None:
                assert rebuilt[j] <= before[i], (m.target, label)  # mitigating never raises
                assert edited[i] == rebuilt[j], (m.kind, m.target, label)
            elif base.probability[i] < 1.0:  # an action the rebuilt model no longer has
                assert edited[i] == 0.0, (m.kind, m.target, label)
    return len(chosen)


@pytest.mark.parametrize("entries", [("internet",), ("internet", "phishing", "insider")])
def test_tiny_edits_equal_the_rebuilt_graph_and_never_raise(entries: tuple[str, ...]) -> None:
    assert _compare(tiny(), entries, per_kind=100) >= 8


def test_demo_edits_equal_the_rebuilt_graph_and_never_raise(demo: RiskInputs) -> None:
    assert _compare(demo, ("internet", "phishing", "insider", "vendor"), per_kind=3) >= 20


def twins(costs: tuple[MitigationCostRecord, ...] = ()) -> RiskInputs:
    """``tiny`` with a second flaw on web's port 443: the same way in and the same effects,
    so one exploit action stands for both findings."""
    base = tiny(costs)
    twin = FindingRecord(7, 1, 1, None, "CVE-0002", "potential")
    return dataclasses.replace(base, findings=(*base.findings, twin))


def test_two_flaws_with_one_way_in_are_one_action() -> None:
    graph = build_attack_graph(twins(), PARAMS, entries=("internet",)).graph
    members = graph.exploits
    node = members.node_of_finding()[1]
    assert members.node_of_finding()[7] == node
    assert members.of(node).tolist() == [1, 7]
    confirmed, potential = members.chances[members.span(node)]
    assert potential < confirmed
    assert graph.probability[node] == pytest.approx(1 - (1 - confirmed) * (1 - potential))
    assert members.lead(node) == 1  # the likelier (finding 1, CVE-0001) names the action
    alone = build_attack_graph(tiny(), PARAMS, entries=("internet",)).graph
    assert alone.size == graph.size
    assert alone.labels == graph.labels  # findings come and go, the action keeps its label


@pytest.mark.parametrize("entries", [("internet",), ("internet", "phishing", "insider")])
def test_edits_of_an_action_of_two_flaws_equal_the_rebuilt_graph(
    entries: tuple[str, ...],
) -> None:
    """Patching one of the two flaws lowers the action's chance to the other's; both: gone."""
    assert _compare(twins(), entries, per_kind=100) >= 8


def test_a_cut_removes_every_flaw_of_an_action() -> None:
    costs = (
        MitigationCostRecord("patch", "*", 1.0, 0.0),
        MitigationCostRecord("patch", "db", 1000.0, 0.0),
        MitigationCostRecord("block_rule", "*", 1000.0, 0.0),
        MitigationCostRecord("narrow_rule", "*", 1000.0, 0.0),
        MitigationCostRecord("disable_endpoint", "*", 1000.0, 0.0),
        MitigationCostRecord("move_zone", "*", 1000.0, 0.0),
    )
    model = twins(costs)
    plan = cut_plan(model, INTERNET, "records")
    assert sorted(m.target for m in plan.mitigations) == ["CVE-0001 on web", "CVE-0002 on web"]
    assert plan.total_cost == 2.0
    for one in plan.mitigations:
        assert not _cut(model, (one,), "records")
    assert _cut(model, tuple(plan.mitigations), "records")


def test_disabling_one_flaw_of_a_shared_action_is_a_candidate() -> None:
    """The pump (not patchable) gets a second adjacent-network flaw, on a port of its own:
    one action with finding 4, which no candidate removes whole. Disabling that port still
    lowers the action's chance, so it is offered, and its edit equals the rebuilt model."""
    base = tiny()
    vulns = dict(base.vulnerabilities)
    vulns["CVE-0006"] = VulnerabilityRecord("CVE-0006", ADJACENT, frozenset(), False, None)
    model = dataclasses.replace(
        base,
        endpoints=(*base.endpoints, EndpointRecord(8, 3, 9999, "tcp")),
        findings=(*base.findings, FindingRecord(8, 3, 8, None, "CVE-0006", "confirmed")),
        vulnerabilities=vulns,
    )
    cset = candidate_set(model, PARAMS, ("internet",))
    node = cset.built.graph.exploits.node_of_finding()[8]
    assert cset.built.graph.exploits.of(node).tolist() == [4, 8]
    assert cset.live[node]
    targets = [m.target for m in cset.mitigations if m.kind is MitigationKind.DISABLE_ENDPOINT]
    assert "pump tcp/9999" in targets
    assert _compare(model, ("internet",), per_kind=100) >= 8


def test_a_moved_asset_keeps_its_actions_and_their_draws() -> None:
    """The pump, reported compromised, is moved to a zone of its own: its adjacent-network
    flaw is still there (reached from the pump itself), under the same label (named after the
    way in, not the zone), so the edit of the move equals the rebuilt model world by world."""
    model = dataclasses.replace(
        tiny(), evidence=(EvidenceRecord(3, 0.6, "1.2.3.4", "report--1", "org-x"),)
    )
    cset = candidate_set(model, PARAMS, ("internet",))
    i, move = next(
        (i, m)
        for i, m in enumerate(cset.mitigations)
        if m.kind is MitigationKind.MOVE_ZONE and m.target == "pump"
    )
    base = cset.built.graph
    worlds = Worlds(2048, seed=1)
    edited = _probabilities(apply_edit(base, cset.edits[i]), worlds)
    rebuilt_graph = build_attack_graph(apply(model, [move]), PARAMS, entries=("internet",)).graph
    rebuilt = _probabilities(rebuilt_graph, worlds)
    adjacent = base.exploits.node_of_finding()[4]
    assert base.labels[adjacent] in rebuilt_graph.index
    for label, j in base.index.items():
        k = rebuilt_graph.index.get(label)
        if k is not None:
            assert edited[j] == rebuilt[k], label


# budget plan ------------------------------------------------------------------------------
def test_budget_plan_curve_is_monotone_and_within_budget(
    demo: RiskInputs, internet_plan: Plan
) -> None:
    plan = internet_plan
    costs = [p.cost for p in plan.curve]
    risks = [p.risk for p in plan.curve]
    assert costs == sorted(costs)
    assert risks == sorted(risks, reverse=True)
    assert plan.total_cost <= 1000.0
    assert plan.total_cost == pytest.approx(costs[-1])
    assert plan.mitigations
    assert risks[-1] < risks[0]
    assert [p.mitigation for p in plan.curve[1:]] == list(plan.mitigations)
    for point in plan.curve:
        assert sum(point.risk_classes.values()) == len(demo.services)
    for previous, point in itertools.pairwise(plan.curve):
        assert point.mitigation is not None
        assert point.rosi is not None
        reduction = previous.risk - point.risk
        assert point.rosi == pytest.approx(
            (reduction - point.mitigation.cost) / point.mitigation.cost
        )
    assert plan.rosi == pytest.approx(
        (plan.risk_before - plan.risk_after - plan.total_cost) / plan.total_cost
    )


def test_budget_plan_figures_are_the_monte_carlo_reference(
    demo: RiskInputs, internet_plan: Plan
) -> None:
    before = assess_inputs(demo, INTERNET)
    after = assess_inputs(apply(demo, internet_plan.mitigations), INTERNET)
    assert internet_plan.risk_before == pytest.approx(before.total_expected_loss)
    assert internet_plan.risk_after == pytest.approx(after.total_expected_loss)
    classes = dict.fromkeys(internet_plan.curve[-1].risk_classes, 0)
    for s in after.services:
        classes[s.impact.risk_class.label] += 1
    assert internet_plan.curve[-1].risk_classes == classes


def test_budget_plan_never_patches_unpatchable_assets(
    demo: RiskInputs, internet_plan: Plan
) -> None:
    unpatchable = {a.id for a in demo.assets if a.patchable == "no"}
    for m in internet_plan.mitigations:
        assert m.kind is not MitigationKind.PATCH or not set(m.subjects) & unpatchable


@pytest.mark.parametrize("entries", [("internet",), ("internet", "phishing")])
def test_a_bigger_budget_never_leaves_more_risk(entries: tuple[str, ...]) -> None:
    options = AssessmentOptions(entries=entries, trials=256, scenarios=0)
    model = tiny()
    after = [budget_plan(model, options, b).risk_after for b in (0, 100, 300, 600, 1500, 5000)]
    assert after == sorted(after, reverse=True)
    assert after[0] > after[-1]


def test_budget_plan_buys_a_cut_when_no_single_mitigation_helps() -> None:
    model = two_doors()
    plan = budget_plan(model, INTERNET, 1000.0)
    assert [m.kind for m in plan.mitigations] == [MitigationKind.DISABLE_ENDPOINT] * 2
    assert plan.risk_before == pytest.approx(10_000.0)
    assert plan.risk_after == 0.0
    assert [p.risk for p in plan.curve] == [10_000.0, 10_000.0, 0.0]
    assert budget_plan(model, INTERNET, 399.0).mitigations == ()  # the cut costs 400


def test_budget_plan_rejects_a_negative_budget() -> None:
    with pytest.raises(RiskModelError, match="budget"):
        budget_plan(tiny(), INTERNET, -1.0)


# cut plan ---------------------------------------------------------------------------------
def _unreachable(inputs: RiskInputs, options: AssessmentOptions, key: str) -> bool:
    built = build_attack_graph(inputs, options.parameters, entries=options.entries)
    graph = built.graph
    service = next(s.id for s in inputs.services if s.key == key)
    actions = frozenset(int(n) for n in np.flatnonzero(graph.probability > 0))
    return not reached_with(graph, actions, built.service_nodes[service])


@pytest.mark.parametrize(
    ("options", "key"),
    [(INTERNET, "ehr"), (INTERNET, "infusion_therapy"), (EVERYONE, "remote_access")],
)
def test_cut_plan_leaves_the_service_unreachable(
    demo: RiskInputs, options: AssessmentOptions, key: str
) -> None:
    plan = cut_plan(demo, options, key)
    assert plan.service == key
    assert plan.mitigations
    assert all(m.kind in REMOVALS for m in plan.mitigations)
    edited = apply(demo, plan.mitigations)
    assert _unreachable(edited, options, key)
    after = assess_inputs(edited, options)
    assert next(s.impact.probability for s in after.services if s.impact.service.key == key) == 0
    assert plan.risk_after == pytest.approx(after.total_expected_loss)
    assert plan.total_cost == pytest.approx(sum(m.cost for m in plan.mitigations))


COSTS = [
    (),
    (MitigationCostRecord("block_rule", "*", 50.0, 0.0),),
    (
        MitigationCostRecord("disable_endpoint", "*", 5000.0, 0.0),
        MitigationCostRecord("narrow_rule", "*", 2000.0, 0.0),
        MitigationCostRecord("patch", "CVE-0002", 10.0, 0.0),
    ),
    (MitigationCostRecord("move_zone", "*", 1.0, 0.0),),
    (  # cheapest: block both rules that let 443 into the dmz; one of them is not enough
        MitigationCostRecord("block_rule", "*", 50.0, 0.0),
        MitigationCostRecord("block_rule", "dmz->lan", 1000.0, 0.0),
        MitigationCostRecord("disable_endpoint", "*", 5000.0, 0.0),
        MitigationCostRecord("move_zone", "*", 5000.0, 0.0),
    ),
    (  # cheapest: the pump's port off, and the monitor's for the pump's adjacent-network flaw
        MitigationCostRecord("disable_endpoint", "*", 5000.0, 0.0),
        MitigationCostRecord("disable_endpoint", "pump tcp/104", 1.0, 0.0),
        MitigationCostRecord("disable_endpoint", "monitor tcp/104", 1.0, 0.0),
        MitigationCostRecord("block_rule", "*", 5000.0, 0.0),
        MitigationCostRecord("narrow_rule", "*", 5000.0, 0.0),
        MitigationCostRecord("move_zone", "*", 5000.0, 0.0),
        MitigationCostRecord("patch", "*", 5000.0, 0.0),
    ),
]


@pytest.mark.parametrize("costs", COSTS)
@pytest.mark.parametrize("key", ["records", "infusion"])
def test_cut_plan_is_the_brute_force_minimum(
    costs: tuple[MitigationCostRecord, ...], key: str
) -> None:
    model = tiny(costs)
    plan = cut_plan(model, INTERNET, key)
    assert _unreachable(apply(model, plan.mitigations), INTERNET, key)
    removals = [m for m in candidates(model, PARAMS, ("internet",)) if m.kind in REMOVALS]
    assert len(removals) <= 16  # 2^16 subsets, tried cheapest first
    subsets = sorted(
        (
            subset
            for n in range(len(removals) + 1)
            for subset in itertools.combinations(removals, n)
        ),
        key=lambda subset: sum(m.cost for m in subset),
    )
    cheapest = next(s for s in subsets if _applies(model, s) and _cut(model, s, key))
    assert plan.total_cost == pytest.approx(sum(m.cost for m in cheapest))


def _applies(model: RiskInputs, subset: tuple[Mitigation, ...]) -> bool:
    try:
        apply(model, subset)
    except RiskModelError:  # e.g. narrowing a rule the subset also blocks
        return False
    return True


def _cut(model: RiskInputs, subset: tuple[Mitigation, ...], key: str) -> bool:
    return _unreachable(apply(model, subset), INTERNET, key)


def test_cut_plan_says_why_a_service_cannot_be_cut() -> None:
    phishing = AssessmentOptions(entries=("phishing",), trials=256, scenarios=0)
    with pytest.raises(RiskModelError, match=r"charting.*survives.*ws"):
        cut_plan(tiny(), phishing, "charting")


def test_cut_plan_of_an_unknown_service() -> None:
    with pytest.raises(RiskModelError, match="known: charting, infusion, records"):
        cut_plan(tiny(), INTERNET, "nope")


def test_cut_plan_of_an_unreachable_service_is_empty() -> None:
    model = dataclasses.replace(tiny(), rules=())
    plan = cut_plan(model, INTERNET, "records")
    assert plan.mitigations == ()
    assert plan.total_cost == 0
    assert plan.rosi is None


# the JSON document ------------------------------------------------------------------------
def test_plan_document(internet_plan: Plan) -> None:
    document = plan_document(internet_plan, organisation=ORG, options=INTERNET, budget=1000.0)
    assert document["schema"] == SCHEMA == "panacea.plan/1"
    assert document["mode"] == "budget"
    assert document["service"] is None
    assert [m["target"] for m in document["mitigations"]] == [
        m.target for m in internet_plan.mitigations
    ]
    assert {"kind", "target", "cost", "effort_days", "subjects", "flags"} <= set(
        document["mitigations"][0]
    )
    assert document["total_cost"] == pytest.approx(internet_plan.total_cost)
    assert len(document["curve"]) == len(internet_plan.mitigations) + 1
    assert document["curve"][0]["mitigation"] is None
