"""The dynamic engine: incremental recomputation equals full recomputation."""

from __future__ import annotations

import dataclasses
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import sessionmaker

from panacea.db.engine import create_db_engine
from panacea.demo.install import install_demo
from panacea.inventory.service import get_organisation
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.engine import (
    EpssChanged,
    Event,
    Evidence,
    FindingStatusChanged,
    IntelSighting,
    KevChanged,
    RiskEngine,
)
from panacea.risk.errors import RiskModelError
from panacea.risk.fixpoint import over_shares, world_shares
from panacea.risk.inputs import RiskInputs, load_inputs

OPTIONS = AssessmentOptions(entries=("internet", "phishing"), trials=512, scenarios=0)


@pytest.fixture(scope="module")
def inputs(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> RiskInputs:
    path = tmp_path_factory.mktemp("engine") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    factory = sessionmaker(engine, expire_on_commit=False)
    install_demo(factory, organisation="Demo", assets=120, seed=3)
    with factory() as session:
        loaded = load_inputs(session, get_organisation(session, "Demo").id)
    engine.dispose()
    return loaded


def _random_event(rng: random.Random, inputs: RiskInputs, engine: RiskEngine) -> Event:
    kind = rng.randrange(4)
    if kind == 0:
        finding = rng.choice(sorted(engine.modelled_findings()))
        return FindingStatusChanged(finding, exploitable=rng.random() < 0.4)
    cve = rng.choice(sorted(inputs.vulnerabilities))
    if kind == 1:
        return KevChanged(cve, kev=rng.random() < 0.5)
    if kind == 2:
        return EpssChanged(cve, epss=rng.choice([None, 0.001, 0.2, 0.9]))
    asset = rng.choice(inputs.assets)
    return Evidence(f"code_exec:user:{asset.name}", confidence=rng.choice([1.0, 0.6, 0.0]))


@pytest.mark.parametrize("seed", range(12))
def test_incremental_equals_full_after_random_events(inputs: RiskInputs, seed: int) -> None:
    rng = random.Random(seed)
    engine = RiskEngine(inputs, OPTIONS)
    for _ in range(10):
        engine.apply(_random_event(rng, inputs, engine))
        assert np.array_equal(engine.state, engine.full())


def test_incremental_equals_a_fresh_build_without_the_finding(inputs: RiskInputs) -> None:
    engine = RiskEngine(inputs, OPTIONS)
    modelled = engine.modelled_findings()
    target = next(f for f in inputs.findings if f.cve == "CVE-2018-13379" and f.id in modelled)
    recomputed = engine.apply(FindingStatusChanged(target.id, exploitable=False))
    assert 0 < recomputed < engine.graph.size
    fresh = RiskEngine(
        dataclasses.replace(inputs, findings=tuple(f for f in inputs.findings if f != target)),
        OPTIONS,
    )
    assert engine.service_probabilities() == fresh.service_probabilities()
    for label, node in fresh.graph.index.items():
        assert engine.probability(engine.graph.node(label)) == fresh.probability(node)


def test_an_action_of_several_findings_follows_each_of_them(inputs: RiskInputs) -> None:
    """One of an exploit's findings resolved, another's CVE put on KEV: the action's chance
    and every figure are those of a fresh build of the changed inputs."""
    engine = RiskEngine(inputs, OPTIONS)
    members = engine.graph.exploits
    node = next(n for n in members.nodes.tolist() if members.of(n).size > 1)
    findings = {f.id: f for f in inputs.findings}
    resolved, kept = (findings[f] for f in members.of(node).tolist()[:2])
    engine.apply(FindingStatusChanged(resolved.id, exploitable=False))
    flag = not inputs.vulnerabilities[kept.cve].kev
    engine.apply(KevChanged(kept.cve, kev=flag))
    vulnerabilities = dict(inputs.vulnerabilities)
    vulnerabilities[kept.cve] = dataclasses.replace(vulnerabilities[kept.cve], kev=flag)
    changed = dataclasses.replace(
        inputs,
        findings=tuple(f for f in inputs.findings if f != resolved),
        vulnerabilities=vulnerabilities,
    )
    fresh = RiskEngine(changed, OPTIONS)
    label = engine.graph.labels[node]
    assert engine.graph.probability[node] == fresh.graph.probability[fresh.graph.node(label)]
    for label, other in fresh.graph.index.items():
        assert engine.probability(engine.graph.node(label)) == fresh.probability(other)


@pytest.mark.parametrize("seed", range(4))
def test_shared_actions_follow_random_events_as_a_fresh_build(
    inputs: RiskInputs, seed: int
) -> None:
    """Findings of actions that stand for several disabled and enabled again, their CVEs'
    KEV, EPSS and shared sightings changed: every node is what a fresh build gives."""
    rng = random.Random(seed)
    engine = RiskEngine(inputs, OPTIONS)
    members = engine.graph.exploits
    pool = sorted(
        f for n in members.nodes.tolist() if members.of(n).size > 1 for f in members.of(n).tolist()
    )
    cve_of = {f.id: f.cve for f in inputs.findings}
    disabled: set[int] = set()
    for step in range(25):
        finding = rng.choice(pool)
        cve = cve_of[finding]
        kind = rng.randrange(4)
        if kind == 0:
            enabled = rng.random() < 0.4
            engine.apply(FindingStatusChanged(finding, exploitable=enabled))
            (disabled.discard if enabled else disabled.add)(finding)
        elif kind == 1:
            engine.apply(KevChanged(cve, kev=rng.random() < 0.5))
        elif kind == 2:
            engine.apply(EpssChanged(cve, epss=rng.choice([None, 0.01, 0.5, 0.97])))
        else:
            engine.apply(IntelSighting(cve, rng.random(), f"org-{step}", f"report--{step}"))
    kept = tuple(f for f in engine.inputs.findings if f.id not in disabled)
    fresh = RiskEngine(dataclasses.replace(engine.inputs, findings=kept), OPTIONS)
    for label, node in fresh.graph.index.items():
        mine = engine.graph.node(label)
        assert engine.graph.probability[mine] == fresh.graph.probability[node], label
        assert np.array_equal(engine.state[mine], fresh.state[node]), label


def test_evidence_of_compromise_raises_downstream(inputs: RiskInputs) -> None:
    engine = RiskEngine(inputs, AssessmentOptions(entries=("internet",), trials=512, scenarios=0))
    before = engine.service_probabilities()
    engine.apply(Evidence("code_exec:admin:ehr-db-01", confidence=1.0))
    after = engine.service_probabilities()
    ehr = next(s.id for s in inputs.services if s.key == "ehr")
    assert after[ehr] == 1.0
    assert all(after[s] >= before[s] for s in before)


def test_kev_flag_raises_and_lowers(inputs: RiskInputs) -> None:
    engine = RiskEngine(inputs, OPTIONS)
    finding = next(f.id for f in inputs.findings if f.cve == "CVE-2022-2119")
    node = engine.graph.exploits.node_of_finding()[finding]
    base = float(engine.graph.probability[node])
    engine.apply(KevChanged("CVE-2022-2119", kev=True))
    assert float(engine.graph.probability[node]) > base
    engine.apply(KevChanged("CVE-2022-2119", kev=False))
    assert float(engine.graph.probability[node]) == pytest.approx(base)


def test_every_share_of_the_worlds_finishes_before_an_error_is_raised() -> None:
    """A failing share must not leave another still writing the engine's state."""
    finished: list[slice] = []

    def solve(share: slice) -> int:
        if share.start == 0:  # the caller's own share fails at once
            raise RiskModelError("boom")
        time.sleep(0.2)
        finished.append(share)
        return 1

    with pytest.raises(RiskModelError, match="boom"):
        over_shares(solve, 64)
    assert len(finished) == len(world_shares(64)) - 1
