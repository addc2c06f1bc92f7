"""The budgeted plan: greedy on risk reduced per unit of cost, recomputed after each pick.

Each round rebuilds the graph of the inputs edited so far, lists the candidates on it and
picks the affordable one that removes the most expected annual loss (the services' P x loss)
per unit of cost; it stops when no affordable candidate removes anything. Gains are measured
by the coupled Monte Carlo (common random numbers keyed by node label, see ``worlds``) over
``search_trials`` worlds, on each candidate's ``GraphEdit`` of the current graph: removing
something or lowering a chance cannot make any node hold in any world, so a gain is the
mitigation's effect and never sampling noise. ``_Search`` finds the best candidate without
trying them all, and its pick is the exact greedy choice on these worlds.

The figures of the plan (risk before and after, the curve, the risk classes) are those
``assess_inputs`` reports with the caller's options: the same coupled draws and fixed point
as ``simulate``, so the curve never rises. ROSI = (risk reduced - cost) / cost.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.candidates import CandidateSet, candidate_set
from panacea.risk.construction import BuiltGraph, build_attack_graph
from panacea.risk.cut import cheapest_cut
from panacea.risk.edits import GraphEdit, apply_edit
from panacea.risk.errors import RiskModelError
from panacea.risk.fixpoint import fixed_point, popcount
from panacea.risk.impact import loss_if_disrupted
from panacea.risk.inputs import RiskInputs
from panacea.risk.mitigation import (
    TRAINING_FACTOR,
    CurvePoint,
    Mitigation,
    Plan,
    apply,
    curve_point,
    plan_of,
)
from panacea.risk.worlds import Worlds, service_probabilities

SEARCH_TRIALS = 256


class _Round:
    """One greedy round: the current graph, its worlds, and the services' losses in them."""

    def __init__(self, cset: CandidateSet, losses: dict[int, float], worlds: Worlds) -> None:
        self.cset, self.worlds = cset, worlds
        self.graph = cset.built.graph
        self.coins = worlds.all_coins(self.graph)
        self.state, _ = fixed_point(self.graph, self.coins)
        services = sorted(cset.built.service_nodes.items())
        self.service_ids = [s for s, _ in services]
        self.service_nodes = np.asarray([node for _, node in services], dtype=np.int64)
        self.losses = np.asarray([losses[s] for s, _ in services]) / worlds.trials

    def lost(self, edit: GraphEdit) -> NDArray[np.uint64]:
        """Per service, the worlds in which it holds now and no longer does after ``edit``."""
        graph = apply_edit(self.graph, edit)
        coins = self.coins.copy()
        nodes = list(edit.probability)
        if nodes:
            coins[nodes] = self.worlds.coins(graph, nodes, [edit.probability[n] for n in nodes])
        state, _ = fixed_point(graph, coins)
        before = self.state[self.service_nodes]
        lost: NDArray[np.uint64] = before & ~state[self.service_nodes]
        return lost

    def touched(self, edit: GraphEdit) -> NDArray[np.uint64]:
        """The worlds in which something the edit lowers or removes holds (only those change)."""
        touched = np.zeros(self.worlds.words, dtype=np.uint64)
        for node in edit.probability:
            touched |= self.state[node]
        for parent, child in edit.removed_edges:
            touched |= self.state[parent] & self.state[child]
        return touched

    def value(self, lost: NDArray[np.uint64]) -> float:
        """Expected annual loss of the services in the ``lost`` worlds."""
        counts = popcount(lost)
        return float(counts @ self.losses)

    def gain_of(self, built: BuiltGraph) -> float:
        """Expected annual loss removed in ``built``, the graph of edited inputs."""
        state, _ = fixed_point(built.graph, self.worlds.all_coins(built.graph))
        nodes = [built.service_nodes[s] for s in self.service_ids]
        return self.value(self.state[self.service_nodes]) - self.value(state[nodes])


def joint(edits: Sequence[GraphEdit]) -> GraphEdit:
    """All ``edits`` at once (lowest chance per node): it removes at least what each one does."""
    probability: dict[int, float] = {}
    for edit in edits:
        for node, p in edit.probability.items():
            probability[node] = min(p, probability.get(node, p))
    return GraphEdit(
        probability,
        frozenset().union(*(e.removed_edges for e in edits)),
        frozenset().union(*(e.added_edges for e in edits)),
    )


def _ratio(gain: float, cost: float) -> float:
    if cost > 0:
        return gain / cost
    return math.inf if gain > 0 else 0.0


class _Search:
    """Best-first search for the largest gain per cost, by groups of candidates.

    Mitigations only remove, so what a group removes together bounds what any of its members
    removes alone: a member's gain is at most the loss in the worlds the group loses and the
    member touches. Groups are split in halves, most promising first; a single candidate's
    bound is its exact gain, so the first one taken off the queue is the greedy pick.
    """

    def __init__(self, round_: _Round, members: list[int]) -> None:
        self.round = round_
        self.heap: list[tuple[float, int, list[int], float]] = []
        self.costs = [m.cost for m in round_.cset.mitigations]
        self.touched = {i: round_.touched(round_.cset.edits[i]) for i in members}
        self.counter = 0
        self.push(members)

    def push(self, group: list[int]) -> None:
        edits = self.round.cset.edits
        lost = self.round.lost(joint([edits[i] for i in group]))
        bounds = {i: _ratio(self.round.value(lost & self.touched[i]), self.costs[i]) for i in group}
        ordered = sorted((i for i in group if bounds[i] > 0), key=lambda i: (-bounds[i], i))
        if ordered:
            self.counter += 1
            gain = self.round.value(lost)
            heapq.heappush(self.heap, (-bounds[ordered[0]], self.counter, ordered, gain))

    def best(self) -> tuple[int, float] | None:
        while self.heap:
            _key, _n, group, gain = heapq.heappop(self.heap)
            if len(group) == 1:
                return group[0], gain
            half = len(group) // 2
            self.push(group[:half])
            self.push(group[half:])
        return None


def best_pick(round_: _Round, remaining: float) -> tuple[Mitigation, float] | None:
    """The affordable candidate with the largest gain per cost, and its gain; None if none
    removes any loss."""
    mitigations = round_.cset.mitigations
    members = [i for i, m in enumerate(mitigations) if m.cost <= remaining]
    found = _Search(round_, members).best() if members else None
    return None if found is None else (mitigations[found[0]], found[1])


def best_cut(
    round_: _Round, inputs: RiskInputs, options: AssessmentOptions, remaining: float
) -> list[Mitigation] | None:
    """When no single mitigation removes any loss (every service at risk has other paths),
    the cheapest cut of each such service is a bundle: the affordable bundle with the largest
    gain per cost, or None if none removes anything."""
    cset = round_.cset
    best: tuple[float, list[Mitigation]] | None = None
    tried: set[tuple[int, ...]] = set()
    for node in round_.service_nodes:
        if not round_.state[node].any():
            continue  # not at risk in these worlds
        chosen = tuple(cheapest_cut(cset, int(node)) or ())
        cost = sum(cset.mitigations[i].cost for i in chosen)
        if not chosen or chosen in tried or cost > remaining:
            continue
        tried.add(chosen)
        bundle = [cset.mitigations[i] for i in chosen]
        edited = apply(inputs, bundle)
        built = build_attack_graph(edited, options.parameters, entries=options.entries)
        ratio = _ratio(round_.gain_of(built), cost)
        if ratio > 0 and (best is None or ratio > best[0]):
            best = (ratio, bundle)
    return None if best is None else best[1]


def budget_plan(
    inputs: RiskInputs,
    options: AssessmentOptions,
    budget: float,
    *,
    search_trials: int = SEARCH_TRIALS,
    training_factor: float = TRAINING_FACTOR,
) -> Plan:
    """The greedy plan within ``budget``, with its risk-vs-budget curve and ROSI.

    Raises RiskModelError for a negative or non-finite budget or non-positive search trials.
    """
    if not math.isfinite(budget) or budget < 0:
        raise RiskModelError(f"the budget must be a finite amount >= 0, got {budget}")
    if search_trials <= 0:
        raise RiskModelError(f"search trials must be positive, got {search_trials}")
    losses = {s.id: loss_if_disrupted(s) for s in inputs.services}
    search = Worlds(search_trials, options.seed)
    reference = Worlds(options.trials, options.seed)
    current, picks, curve, spent = inputs, list[Mitigation](), list[CurvePoint](), 0.0
    considered: int | None = None  # candidates of the first round: what was on the table
    while True:
        cset = candidate_set(
            current, options.parameters, options.entries, training_factor=training_factor
        )
        considered = len(cset.mitigations) if considered is None else considered
        curve.append(_point(cset.built, current, options, reference, spent, picks, curve))
        round_ = _Round(cset, losses, search)
        pick = best_pick(round_, budget - spent)
        bundle = [pick[0]] if pick else best_cut(round_, current, options, budget - spent)
        if not bundle:
            return plan_of(picks, curve, considered)
        for n, mitigation in enumerate(bundle):
            if n:  # the points inside a bundle; the next round draws the last one
                built = build_attack_graph(current, options.parameters, entries=options.entries)
                curve.append(_point(built, current, options, reference, spent, picks, curve))
            picks.append(mitigation)
            spent += mitigation.cost
            current = apply(current, [mitigation])


def _point(
    built: BuiltGraph,
    inputs: RiskInputs,
    options: AssessmentOptions,
    reference: Worlds,
    spent: float,
    picks: Sequence[Mitigation],
    curve: Sequence[CurvePoint],
) -> CurvePoint:
    """The curve after ``picks``: what ``assess_inputs`` would report, from the same draws."""
    probability = service_probabilities(built, reference)
    previous = curve[-1].risk if curve else None
    return curve_point(inputs, probability, options.matrix, spent, picks, previous)
