"""The most probable minimal attack scenarios behind a node.

A scenario is a set of actions that together reach the target at the least fixed point, and
that is minimal: without any one of them the target is no longer reached. Its probability is
the chance that all its actions succeed (the product of their own probabilities).

Search: costs -log(p) are propagated over the whole graph at once (OR: the cheapest parent,
AND: the sum of the parents, THRESHOLD: the sum of the ``need`` cheapest), vectorised over the
edges like the rest of the engine; the derivation behind a target's cost is read back following
the order in which costs settled, so it cannot loop. The next scenarios come from banning, one
at a time, the actions of those found so far (Yen's deviation idea) and searching again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.distinct import distinct
from panacea.risk.errors import RiskModelError
from panacea.risk.fixpoint import Structure, structure
from panacea.risk.layout import csr_rows, reduced_pending

MAX_ROUNDS = 10_000
_KNOWN_SETS = 256  # answers Holding keeps (each two arrays of the nodes that hold)
_TOLERANCE = 1e-9
# A search that bans one more action recomputes only the nodes whose cost may rise; when they
# are at most this share of the graph (1/8), it evaluates them alone instead of sweeping the
# whole graph's layouts (most bans touch a few dozen nodes of hundreds of thousands).
_SMALL_SHARE = 8
# the fixed point's layouts reduce states with bitwise OR / AND; costs with minimum / sum
_COST_OF: dict[np.ufunc, np.ufunc] = {np.bitwise_or: np.minimum, np.bitwise_and: np.add}


@dataclass(frozen=True)
class Scenario:
    """Actions in the order they happen, and the chance that all of them succeed."""

    actions: tuple[int, ...]
    probability: float


@dataclass(frozen=True)
class _Costs:
    cost: NDArray[np.float64]
    # when each node's cost reached its final value: a count of the groups of nodes evaluated
    # (one stamp per group, increasing); the parent a cost came through always has an earlier
    # stamp, so reading a derivation back by earliest stamp among equal costs cannot loop
    settled: NDArray[np.int64]


def _log_cost(graph: AttackGraph) -> NDArray[np.float64]:
    """Each node's own -log cost."""
    with np.errstate(divide="ignore"):
        cost: NDArray[np.float64] = -np.log(graph.probability)
    return cost


def _own_cost(log_cost: NDArray[np.float64], banned: frozenset[int]) -> NDArray[np.float64]:
    """``log_cost`` with the banned actions made impossible (infinite)."""
    own = log_cost.copy()
    if banned:
        own[list(banned)] = np.inf
    return own


def _costs(
    graph: AttackGraph,
    banned: frozenset[int] = frozenset(),
    *,
    start: tuple[_Costs, NDArray[np.int64]] | None = None,
    log_cost: NDArray[np.float64] | None = None,
) -> _Costs:
    """Cheapest -log cost of every node, by rounds over the gates' vectorised layouts.

    A round visits the nodes level by level, as the fixed point's sweep does (see
    ``fixpoint.levels``), so most costs are final after the first; nodes that no other node
    reads are evaluated once, at the end. Only nodes one of whose parents improved since they
    were last evaluated are evaluated again (a node whose inputs did not move cannot improve),
    so later rounds cost little. Nodes that cannot hold even when every action succeeds keep
    an infinite cost.
    ``start``: the costs under fewer bans and the nodes whose cost may rise (``_affected``);
    the others keep their cost, and the recomputed ones get later stamps than any of them.
    ``log_cost``: ``_log_cost(graph)``, if already known.
    """
    shape = structure(graph)
    log_cost = _log_cost(graph) if log_cost is None else log_cost
    if start is not None and start[1].size * _SMALL_SHARE <= graph.size:
        return _costs_among(graph, shape, log_cost, banned, *start)
    own = _own_cost(log_cost, banned)
    pending = np.zeros(graph.size, dtype=bool)
    if start is None:
        cost = np.full(graph.size, np.inf)
        cost[shape.entries] = own[shape.entries]
        settled = np.zeros(graph.size, dtype=np.int64)
        pending[~shape.entries] = True
    else:
        base, affected = start
        cost, settled = base.cost.copy(), base.settled.copy()
        cost[affected] = np.inf
        pending[affected] = True
        pending[shape.entries] = False
    # each group of nodes evaluated together gets the next stamp: a node's cost always came
    # through parents with earlier stamps (see ``_Costs.settled``)
    stamp = int(settled.max())
    sweep = [(b, w, _COST_OF[r]) for b, w, r in shape.sweep]
    for _ in range(MAX_ROUNDS):
        improved_any = False
        for buckets, wide, reduce in sweep:
            for nodes, best in reduced_pending(cost, buckets, wide, pending, reduce):
                stamp += 1
                new = best + own[nodes]
                improved_any |= _improve(cost, settled, pending, shape, nodes, new, stamp)
        waiting = shape.thresholds[pending[shape.thresholds]]  # few: one per redundancy group
        if waiting.size:
            stamp += 1
            new = _gate_costs(graph, cost, waiting) + own[waiting]
            improved_any |= _improve(cost, settled, pending, shape, waiting, new, stamp)
        if not improved_any:
            for buckets, wide, gate in shape.tail:  # nothing reads them: once, at the end
                for nodes, best in reduced_pending(cost, buckets, wide, pending, _COST_OF[gate]):
                    stamp += 1
                    _improve(cost, settled, pending, shape, nodes, best + own[nodes], stamp)
            return _Costs(cost, settled)
    raise RiskModelError(f"scenario search did not settle in {MAX_ROUNDS} rounds")


def _costs_among(
    graph: AttackGraph,
    shape: Structure,
    log_cost: NDArray[np.float64],
    banned: frozenset[int],
    base: _Costs,
    affected: NDArray[np.int64],
) -> _Costs:
    """``_costs`` from ``base`` evaluating the ``affected`` nodes only (the others keep their
    cost). By rounds, one stamp each (after every stamp of ``base``), each node evaluated from
    its parents' costs at the end of the round before, so the parent a cost came through
    always has an earlier stamp (which ``_chosen_parents`` relies on); a node is evaluated
    again only after one of its parents changed."""
    cost, settled = base.cost.copy(), base.settled.copy()
    cost[affected] = np.inf
    nodes = affected[~shape.entries[affected]]
    member = np.zeros(graph.size, dtype=bool)
    member[nodes] = True
    excluded = np.fromiter(banned, dtype=np.int64, count=len(banned))
    first_stamp = int(settled.max()) + 1
    todo = nodes
    for stamp in range(first_stamp, first_stamp + MAX_ROUNDS):
        if not todo.size:
            return _Costs(cost, settled)
        own = log_cost[todo]
        own[np.isin(todo, excluded)] = np.inf
        new = _gate_costs(graph, cost, todo) + own
        better = new < cost[todo] - _TOLERANCE
        changed = todo[better]
        cost[changed] = new[better]
        settled[changed] = stamp
        children = shape.children_of(changed)
        todo = distinct(children[member[children]])
    raise RiskModelError(f"scenario search did not settle in {MAX_ROUNDS} rounds")


def _gate_costs(
    graph: AttackGraph, cost: NDArray[np.float64], nodes: NDArray[np.int64]
) -> NDArray[np.float64]:
    """What the parents of each of ``nodes`` cost it (before its own cost): the cheapest
    (OR), all of them (AND), the ``need`` cheapest (THRESHOLD); infinite without parents."""
    parents, lengths = csr_rows(graph.indptr, graph.parents, nodes)
    values = cost[parents]
    result = np.full(nodes.size, np.inf)
    some = lengths > 0
    if not some.any():
        return result
    starts = np.cumsum(lengths) - lengths
    gate = graph.gate[nodes]
    cheapest = np.minimum.reduceat(values, starts[some])
    total = np.add.reduceat(values, starts[some])
    result[some] = np.where(gate[some] == Gate.AND, total, cheapest)
    for i in np.flatnonzero(some & (gate == Gate.THRESHOLD)).tolist():
        run = values[starts[i] : starts[i] + lengths[i]]
        result[i] = np.sort(run)[: graph.need[nodes[i]]].sum()
    return result


def _improve(
    cost: NDArray[np.float64],
    settled: NDArray[np.int64],
    pending: NDArray[np.bool_],
    shape: Structure,
    nodes: NDArray[np.int64],
    new: NDArray[np.float64],
    stamp: int,
) -> bool:
    pending[nodes] = False
    better = new < cost[nodes] - _TOLERANCE
    if not better.any():
        return False
    changed = nodes[better]
    cost[changed] = new[better]
    settled[changed] = stamp
    pending[shape.children_of(changed)] = True
    return True


def _derivation(graph: AttackGraph, costs: _Costs, target: int) -> frozenset[int] | None:
    """The actions of the cheapest derivation of ``target``; None if it cannot be reached."""
    if not np.isfinite(costs.cost[target]):
        return None
    actions: set[int] = set()
    stack, seen = [target], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if graph.probability[node] < 1.0 or graph.need[node] == 0:
            actions.add(node)
        stack.extend(_chosen_parents(graph, costs, node))
    return frozenset(actions)


def _chosen_parents(graph: AttackGraph, costs: _Costs, node: int) -> list[int]:
    parents = graph.parents[graph.indptr[node] : graph.indptr[node + 1]]
    if parents.size == 0:
        return []
    if graph.gate[node] == Gate.AND:
        return [int(p) for p in parents]
    if graph.gate[node] == Gate.THRESHOLD:
        # the cheapest among the parents stamped before it (the ones its cost came from are;
        # a later one may have got its cost through this very node)
        earlier = parents[costs.settled[parents] < costs.settled[node]]
        if earlier.size >= graph.need[node]:
            parents = earlier
        order = np.lexsort((costs.settled[parents], costs.cost[parents]))
        return [int(p) for p in parents[order[: graph.need[node]]]]
    best = costs.cost[parents].min()
    ties = parents[costs.cost[parents] <= best + _TOLERANCE]
    return [int(ties[np.argmin(costs.settled[ties])])]


@dataclass(frozen=True)
class Held:
    """Nodes that hold (sorted) and the round in which each first holds."""

    nodes: NDArray[np.int64]
    rounds: NDArray[np.int64]

    def round_of(self, node: int) -> int:
        """The round in which ``node`` first holds; -1 if it never does."""
        at = int(np.searchsorted(self.nodes, node))
        found = at < self.nodes.size and self.nodes[at] == node
        return int(self.rounds[at]) if found else -1


class Holding:
    """Which nodes hold when exactly a given set of actions succeeds, for one graph.

    Worked by frontier, so a check costs what comes to hold, not the size of the graph; the
    graph-sized buffers are kept between checks and only the entries a check touched are reset.
    """

    def __init__(self, graph: AttackGraph) -> None:
        self.graph = graph
        self.shape = structure(graph)
        self._privilege = (graph.probability >= 1.0) & ~self.shape.entries
        self._allowed = self._privilege.copy()
        self._first = np.full(graph.size, -1, dtype=np.int64)
        self._support = np.zeros(graph.size, dtype=np.int64)
        # the searches of several services check the same sets again: keep the recent answers
        self._known: dict[frozenset[int], Held] = {}

    def rounds(self, actions: frozenset[int]) -> Held:
        """The nodes that hold and the round in which each first holds.

        Round 0: the entries among ``actions``; round r: every allowed node (a privilege, or
        one of ``actions``) of which ``need`` parents held by round r-1.
        """
        known = self._known.get(actions)
        if known is None:
            if len(self._known) >= _KNOWN_SETS:
                self._known.clear()
            known = self._known[actions] = self._rounds(actions)
        return known

    def _rounds(self, actions: frozenset[int]) -> Held:
        graph, shape = self.graph, self.shape
        chosen = np.fromiter(actions, dtype=np.int64, count=len(actions))
        self._allowed[chosen] = True
        held: list[NDArray[np.int64]] = []
        counted: list[NDArray[np.int64]] = []
        try:
            new = chosen[shape.entries[chosen]]
            for round_ in range(MAX_ROUNDS):
                if new.size == 0:
                    nodes = np.sort(np.concatenate(held)) if held else new
                    return Held(nodes, self._first[nodes])
                self._first[new] = round_
                held.append(new)
                children = shape.children_of(new)
                np.add.at(self._support, children, 1)
                counted.append(children)
                ready = self._allowed[children] & (self._first[children] < 0)
                ready &= self._support[children] >= graph.need[children]
                new = distinct(children[ready])
            raise RiskModelError("no fixed point while checking a scenario")
        finally:
            self._allowed[chosen] = self._privilege[chosen]
            for nodes in held:
                self._first[nodes] = -1
            for nodes in counted:
                self._support[nodes] = 0

    def reaches(self, actions: frozenset[int], target: int) -> bool:
        return self.rounds(actions).round_of(target) >= 0


def reached_with(graph: AttackGraph, actions: frozenset[int], target: int) -> bool:
    """Whether ``target`` holds when exactly ``actions`` succeed (and no other chance does)."""
    return Holding(graph).reaches(actions, target)


def _minimal(holding: Holding, actions: frozenset[int], target: int) -> frozenset[int] | None:
    """Drop actions the target does not need, least probable first; None if they never reach it.

    (A derivation read back by earliest stamp reaches its target, see ``_Costs.settled``; the
    check guards the search against a mistake there rather than returning a wrong scenario.)
    """
    if not holding.reaches(actions, target):
        return None
    current = set(actions)
    for action in sorted(actions, key=lambda a: holding.graph.probability[a]):
        trial = frozenset(current - {action})
        if holding.reaches(trial, target):
            current = set(trial)
    return frozenset(current)


def _ordered(holding: Holding, actions: frozenset[int]) -> Scenario:
    """The actions in the order they can happen: by the round each first holds."""
    rounds = holding.rounds(actions)
    order = sorted(actions, key=lambda a: (rounds.round_of(a), a))
    probability = float(np.prod(holding.graph.probability[list(actions)])) if actions else 1.0
    return Scenario(tuple(order), probability)


class ScenarioSearch:
    """Scenario searches on one graph that share their cost computations.

    The services of a hospital share most of their attack paths, so the searches behind them
    ban the same actions: each banned set's costs are computed once.
    """

    def __init__(self, graph: AttackGraph) -> None:
        self.graph = graph
        self.holding = Holding(graph)
        self._costs: dict[frozenset[int], _Costs] = {}
        self._log_cost = _log_cost(graph)

    def costs(self, banned: frozenset[int] = frozenset()) -> _Costs:
        known = self._costs.get(banned)
        if known is not None:
            return known
        for action in banned:  # one more ban than a set already solved: redo what it feeds
            fewer = self._costs.get(banned - {action})
            if fewer is not None:
                start = (fewer, self._affected(fewer, action))
                known = self._costs[banned] = _costs(
                    self.graph, banned, start=start, log_cost=self._log_cost
                )
                return known
        known = self._costs[banned] = _costs(self.graph, banned, log_cost=self._log_cost)
        return known

    def _affected(self, base: _Costs, action: int) -> NDArray[np.int64]:
        """Nodes whose cost under ``base`` may rise when ``action`` is banned as well.

        An AND or k-of-n node is affected by any affected parent. An OR node only once all its
        sources (``_source``) are: while one of them is not, the node keeps that parent's
        derivation, which avoids the action. (A zone's network reached from thousands of
        equally likely workstations is not affected by banning one of them, nor is anything
        that depends on it.) By induction on the stamps, no other node's cost can rise.
        """
        graph, shape = self.graph, structure(self.graph)
        # (the actions banned in ``base`` cost infinity there: ``usable`` leaves them out, so
        # their own cost is not needed with the ban)
        usable = np.isfinite(base.cost) & ~shape.entries  # a pinned node is an entry: its own cost
        left = np.full(graph.size, -1, dtype=np.int64)  # OR nodes: sources not yet affected
        seen = np.zeros(graph.size, dtype=bool)
        seen[action] = True
        frontier = np.array([action], dtype=np.int64)
        while frontier.size:
            parent, child = shape.edges_from(frontier)
            keep = usable[child] & ~seen[child]
            parent, child = parent[keep], child[keep]
            is_or = graph.gate[child] == Gate.OR
            uncounted = distinct(child[is_or & (left[child] < 0)])
            left[uncounted] = self._sources(base, uncounted)
            source = self._source(base, parent, child)
            hit = child[is_or & (source | (left[child] == 0))]  # (no source: any parent)
            np.subtract.at(left, hit, 1)
            reached = np.concatenate([child[~is_or], hit[left[hit] <= 0]])
            frontier = distinct(reached)
            frontier = frontier[~seen[frontier]]
            seen[frontier] = True
        return np.flatnonzero(seen)

    def _sources(self, base: _Costs, nodes: NDArray[np.int64]) -> NDArray[np.int64]:
        """For each of the OR ``nodes``: how many of its parents it may have its cost from
        (see ``_source``)."""
        parents, lengths = csr_rows(self.graph.indptr, self.graph.parents, nodes)
        ok = self._source(base, parents, np.repeat(nodes, lengths))
        counts = np.zeros(nodes.size, dtype=np.int64)
        some = lengths > 0
        if some.any():
            starts = np.cumsum(lengths) - lengths
            counts[some] = np.add.reduceat(ok.astype(np.int64), starts[some])
        return counts

    def _source(
        self, base: _Costs, parents: NDArray[np.int64], children: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """For each edge, whether the child (an OR node) may have its cost from the parent:
        exactly its cost (the float sum of one parent's and its own; within the search's
        tolerance, errors would add up along a chain) and stamped before it (so not through
        it)."""
        cost, stamp = base.cost, base.settled
        exact = cost[parents] + self._log_cost[children] <= cost[children]
        result: NDArray[np.bool_] = exact & (stamp[parents] < stamp[children])
        return result

    def derivation(
        self, target: int, banned: frozenset[int] = frozenset()
    ) -> frozenset[int] | None:
        return _derivation(self.graph, self.costs(banned), target)


def top_scenarios(
    graph: AttackGraph, target: int, k: int = 3, *, search: ScenarioSearch | None = None
) -> list[Scenario]:
    """The ``k`` most probable minimal scenarios reaching ``target`` (fewer if there are fewer).

    Pass the same ``search`` (made for ``graph``) to the searches of several targets.
    """
    if k <= 0:
        return []
    search = search or ScenarioSearch(graph)
    first = search.derivation(target)
    if first is None:
        return []
    found: dict[frozenset[int], Scenario] = {}
    candidates: list[tuple[float, int, frozenset[int], frozenset[int]]] = []
    counter = 0
    start = _minimal(search.holding, first, target)
    if start is None:
        return []
    heapq.heappush(candidates, (-1.0, counter, start, frozenset()))
    while candidates and len(found) < k:
        _neg, _c, actions, banned = heapq.heappop(candidates)
        if actions in found:
            continue
        found[actions] = _ordered(search.holding, actions)
        for action in sorted(actions):
            if graph.need[action] == 0:
                continue  # entries are the attacker's choice of profile, not a step to ban
            ban = banned | {action}
            alternative = search.derivation(target, ban)
            if alternative is None:
                continue
            minimal = _minimal(search.holding, alternative, target)
            if minimal is not None and minimal not in found:
                counter += 1
                p = float(np.prod(graph.probability[list(minimal)]))
                heapq.heappush(candidates, (-p, counter, minimal, ban))
    return sorted(found.values(), key=lambda s: -s.probability)
