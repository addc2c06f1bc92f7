"""The cut plan: the cheapest removal-type mitigations that leave a service unreachable.

Solved exactly as a MILP (``scipy.optimize.milp``, HiGHS) over the AND/OR attack graph::

    minimise  sum_m cost_m y_m                      y_m in {0, 1}: mitigation m is chosen
    entry e:        x_e = 1                          x_v in [0, 1]: node v may be reached
    OR v, parent u: x_v >= x_u - z_uv - z_v
    AND/THRESHOLD:  x_v >= sum of its parents' terms - (need - 1) - z_v
    removal r:      z_r <= sum_{m in c} y_m   for each clause c of r (effects.Removal)
    target t:       x_t = 0

A parent's term is x_u, or for an edge a mitigation can remove, a_uv >= x_u - z_uv, a_uv >= 0;
an AND precondition a move rewires (effects.Rewiring) has a >= x_old - y_m and a >= x_new.
x is only bounded below: whatever the chosen mitigations leave derivable from the entries is
forced to 1 along its derivation, cycles included, so x_t = 0 is feasible exactly when the
target is outside the least fixed point of the edited graph. Only nodes that hold when every
action succeeds and lead to the target take part. The solution is checked by rebuilding the
graph from the edited inputs; mitigations it does not need (of zero cost) are dropped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.attack_graph import Gate
from panacea.risk.candidates import CandidateSet, ancestors, candidate_set, held_nodes
from panacea.risk.construction import BuiltGraph, build_attack_graph
from panacea.risk.edits import GraphEdit, apply_edit
from panacea.risk.errors import RiskModelError
from panacea.risk.explain import Explainer
from panacea.risk.inputs import RiskInputs
from panacea.risk.mitigation import (
    REMOVALS,
    Mitigation,
    Plan,
    apply,
    curve_point,
    plan_of,
)
from panacea.risk.paths import reached_with, top_scenarios
from panacea.risk.worlds import Worlds, service_probabilities


class _Program:
    """Rows ``lower <= A v <= upper`` over y (mitigations), then x, z and slot variables."""

    def __init__(self, costs: list[float]) -> None:
        self.costs = list(costs)
        self.integral = [1] * len(costs)
        self.lower = [0.0] * len(costs)
        self.upper = [1.0] * len(costs)
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def variable(self, lower: float = 0.0, upper: float = 1.0) -> int:
        self.costs.append(0.0)
        self.integral.append(0)
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.costs) - 1

    def row(self, terms: dict[int, float], lower: float, upper: float = np.inf) -> None:
        self.rows.append((terms, lower, upper))

    def solve(self) -> NDArray[np.float64] | None:
        """The optimal values of every variable; None if the program has no solution."""
        data, rows, cols = [], [], []
        for r, (terms, _low, _high) in enumerate(self.rows):
            for col, coef in terms.items():
                rows.append(r)
                cols.append(col)
                data.append(coef)
        matrix = coo_matrix((data, (rows, cols)), shape=(len(self.rows), len(self.costs)))
        result = milp(
            c=np.asarray(self.costs),
            integrality=np.asarray(self.integral),
            bounds=Bounds(np.asarray(self.lower), np.asarray(self.upper)),
            constraints=LinearConstraint(
                matrix.tocsr(),
                np.asarray([low for _t, low, _h in self.rows]),
                np.asarray([high for _t, _l, high in self.rows]),
            ),
            options={"mip_rel_gap": 0.0},  # the optimum, not one within HiGHS' default 0.01%
        )
        if result.status == 2:  # infeasible
            return None
        if not result.success:
            raise RiskModelError(f"the cut MILP was not solved: {result.message}")
        return np.asarray(result.x)


class _CutModel:
    """The MILP of cutting ``target`` with the removal-type candidates of ``cset``."""

    def __init__(self, cset: CandidateSet, target: int) -> None:
        self.cset, self.graph = cset, cset.built.graph
        self.relevant = held_nodes(cset.built) & ancestors(self.graph, [target])
        self.program = _Program([m.cost for m in cset.mitigations])
        self.x = {int(v): self.program.variable() for v in np.flatnonzero(self.relevant)}
        self.edge_z: dict[tuple[int, int], int] = {}
        self.node_z: dict[int, int] = {}
        self._removals()
        self.rewired = {(w.node, w.old): w for w in cset.effects.rewirings if self.relevant[w.node]}
        for v in self.x:
            self._node(v)
        self.reachable = target in self.x
        if self.reachable:
            self.program.upper[self.x[target]] = 0.0

    def _removals(self) -> None:
        for r in self.cset.effects.removals:
            if not self.relevant[r.node] or (r.parent is not None and not self.relevant[r.parent]):
                continue
            z = self.program.variable()
            for clause in r.clauses:
                self.program.row({z: 1.0, **dict.fromkeys(clause, -1.0)}, -np.inf, 0.0)
            if r.parent is None:
                self.node_z[r.node] = z
            else:
                self.edge_z[(r.parent, r.node)] = z

    def _node(self, v: int) -> None:
        g, x = self.graph, self.x
        parents = [int(u) for u in g.parents[g.indptr[v] : g.indptr[v + 1]] if self.relevant[u]]
        kill = {self.node_z[v]: 1.0} if v in self.node_z else {}
        if g.need[v] == 0:  # an entry that can hold: the attacker starts there
            self.program.lower[x[v]] = 1.0
        elif g.gate[v] == Gate.OR:
            for u in parents:
                edge = {self.edge_z[(u, v)]: 1.0} if (u, v) in self.edge_z else {}
                self.program.row({x[v]: 1.0, x[u]: -1.0, **edge, **kill}, 0.0)
        else:
            terms: dict[int, float] = {x[v]: 1.0, **kill}
            for u in parents:
                slot = self._slot(u, v)
                terms[slot] = terms.get(slot, 0.0) - 1.0
            self.program.row(terms, 1.0 - float(g.need[v]))

    def _slot(self, u: int, v: int) -> int:
        """The variable standing for precondition u of AND/THRESHOLD node v."""
        rewiring, z = self.rewired.get((v, u)), self.edge_z.get((u, v))
        if rewiring is None and z is None:
            return self.x[u]
        a = self.program.variable()
        removed = {z: 1.0} if z is not None else {}
        if rewiring is not None:
            removed[rewiring.mitigation] = 1.0
            if rewiring.new in self.x:  # the precondition that replaces this one
                self.program.row({a: 1.0, self.x[rewiring.new]: -1.0}, 0.0)
        self.program.row({a: 1.0, self.x[u]: -1.0, **removed}, 0.0)
        return a

    def chosen(self) -> list[int] | None:
        """Indices of the mitigations of the cheapest cut; None if no cut exists."""
        if not self.reachable:
            return []
        values = self.program.solve()
        if values is None:
            return None
        return [i for i in range(len(self.cset.mitigations)) if values[i] > 0.5]


def cheapest_cut(cset: CandidateSet, target: int) -> list[int] | None:
    """Indices of the cheapest removal-type candidates of ``cset`` after which node ``target``
    holds in no world ([] if it already holds in none); None if none of them can do it."""
    removals = [i for i, m in enumerate(cset.mitigations) if m.kind in REMOVALS]
    chosen = _CutModel(cset.restricted(removals), target).chosen()
    return None if chosen is None else [removals[i] for i in chosen]


def cut_plan(
    inputs: RiskInputs,
    options: AssessmentOptions,
    service_key: str,
) -> Plan:
    """The minimum-cost removal-type mitigations after which ``service_key`` cannot be
    reached from ``options.entries`` (probability exactly 0), with the risk they remove.

    The curve has two points, before and after: a cut works as a whole. Raises
    RiskModelError for an unknown service, or if no set of the candidates cuts it (the
    message shows an attack scenario that survives them all).
    """
    service = next((s for s in inputs.services if s.key == service_key), None)
    if service is None:
        known = ", ".join(sorted(s.key for s in inputs.services))
        raise RiskModelError(f"unknown service {service_key!r} (known: {known})")
    full = candidate_set(inputs, options.parameters, options.entries)
    cset = full.restricted([i for i, m in enumerate(full.mitigations) if m.kind in REMOVALS])
    target = cset.built.service_nodes[service.id]
    chosen = cheapest_cut(cset, target)
    if chosen is None:
        raise RiskModelError(_uncuttable(inputs, cset, service_key, target))
    picks = [cset.mitigations[i] for i in chosen]
    picks, after = _needed(inputs, options, picks, service.id)
    reference = Worlds(options.trials, options.seed)
    before = curve_point(
        inputs, service_probabilities(cset.built, reference), options.matrix, 0.0, [], None
    )
    last = curve_point(
        apply(inputs, picks),
        service_probabilities(after, reference),
        options.matrix,
        sum(m.cost for m in picks),
        picks,
        before.risk,
    )
    return plan_of(picks, [before, last] if picks else [before], len(cset.mitigations), service_key)


def _cut_built(
    inputs: RiskInputs, options: AssessmentOptions, picks: list[Mitigation], service: int
) -> BuiltGraph | None:
    """The graph once ``picks`` are applied if the service is then out of reach even when
    every action succeeds (so its probability is 0 in every world); else None."""
    built = build_attack_graph(apply(inputs, picks), options.parameters, entries=options.entries)
    graph = built.graph
    actions = frozenset(int(n) for n in np.flatnonzero(graph.probability > 0))
    return None if reached_with(graph, actions, built.service_nodes[service]) else built


def _needed(
    inputs: RiskInputs, options: AssessmentOptions, picks: list[Mitigation], service: int
) -> tuple[list[Mitigation], BuiltGraph]:
    """``picks`` checked on the rebuilt model, less the free ones the cut does not need, and
    the rebuilt graph.

    Raises RiskModelError if the cut does not hold (the graph effects and the model disagree).
    """
    built = _cut_built(inputs, options, picks, service)
    if built is None:
        names = ", ".join(m.target for m in picks)
        raise RiskModelError(f"the cut [{names}] does not hold on the rebuilt model")
    for m in [m for m in picks if m.cost == 0]:
        fewer = [p for p in picks if p is not m]
        smaller = _cut_built(inputs, options, fewer, service)
        if smaller is not None:
            picks, built = fewer, smaller
    return picks, built


def _uncuttable(inputs: RiskInputs, cset: CandidateSet, key: str, target: int) -> str:
    """Why no cut exists: a scenario that survives every candidate at once."""
    everything = GraphEdit(
        {r.node: 0.0 for r in cset.effects.removals if r.parent is None},
        frozenset((r.parent, r.node) for r in cset.effects.removals if r.parent is not None),
    )
    graph = apply_edit(cset.built.graph, everything)
    scenarios = top_scenarios(graph, target, 1)
    steps = Explainer(graph, inputs).scenario(scenarios[0]).steps if scenarios else ()
    entries = ", ".join(cset.built.entries)
    return (
        f"no set of the {len(cset.mitigations)} removal-type candidates (patch, block or narrow "
        f"a rule, move to an isolated zone, disable an endpoint) cuts service {key!r} from "
        f"entries {entries}; this scenario survives them all: "
        + "; ".join(step.text for step in steps)
    )
