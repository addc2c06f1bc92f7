"""The attack graph as compact arrays: nodes with a gate, a probability, and parents in CSR form.

Every node is a gate over its parents: ``need`` of them must hold (OR: 1, AND: all of them,
THRESHOLD: k), and then the node's own chance ``probability`` must succeed (1 for privileges,
the action's success probability for actions). Entry nodes have no parents and ``need`` 0.
A node holds in a sampled world iff that is true on support that does not loop back through it:
the least fixed point, which every algorithm here computes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panacea.risk.distinct import distinct
from panacea.risk.errors import RiskModelError


class Gate(IntEnum):
    OR = 0
    AND = 1
    THRESHOLD = 2


class NodeKind(IntEnum):
    """What a node stands for, for explanations and for picking results out of the graph."""

    ENTRY = 0
    NETWORK = 1  # attacker has a foothold in a zone: net(zone)
    REACH = 2  # can send to a port of a zone: reach(zone, proto/port)
    EXPOSED = 3  # can reach some open port of an asset
    CODE_EXEC_USER = 4
    CODE_EXEC_ADMIN = 5
    CREDENTIAL = 6
    CIA_LOSS = 7
    SERVICE_DOWN = 8
    GROUP_LOST = 9  # a k-of-n redundancy group is lost
    MEMBER_LOST = 10
    ACCESS = 11  # some credential or session valid on an asset
    EXPLOIT = 20
    PHISH = 21
    LOGON = 22
    HARVEST = 23  # steal credentials from a host
    HUMAN = 24  # a person on an asset who can be tricked (UI:R)


@dataclass(frozen=True)
class Members:
    """The findings each exploit action stands for, with their own chances.

    ``findings[indptr[i]:indptr[i+1]]`` are those of node ``nodes[i]`` (nodes ascending,
    findings of a node by ascending id), ``chances`` aligned with ``findings``. An exploit
    action is one asset's findings that need the same preconditions and give the same
    postconditions (exploits.py): it succeeds when one of them does.
    """

    nodes: NDArray[np.int64]
    indptr: NDArray[np.int64]
    findings: NDArray[np.int64]
    chances: NDArray[np.float64]

    @classmethod
    def empty(cls) -> Members:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, np.zeros(1, dtype=np.int64), none, np.zeros(0))

    def span(self, node: int) -> slice:
        """Where ``node``'s findings lie in ``findings`` (empty for a node that is no exploit)."""
        i = int(np.searchsorted(self.nodes, node))
        if i == self.nodes.size or self.nodes[i] != node:
            return slice(0, 0)
        return slice(int(self.indptr[i]), int(self.indptr[i + 1]))

    def of(self, node: int) -> NDArray[np.int64]:
        """The findings of exploit ``node``, by ascending id (none for other nodes)."""
        return self.findings[self.span(node)]

    def lead(self, node: int) -> int | None:
        """Exploit ``node``'s likeliest finding (of equally likely ones, the lowest id), whose
        CVE names the action; None for a node that is no exploit."""
        span = self.span(node)
        if span.stop == span.start:
            return None
        chances = self.chances[span]
        return int(self.findings[span][int(np.argmax(chances))])  # (the first of the best)

    def node_of_finding(self) -> dict[int, int]:
        """Finding id -> its exploit node."""
        owners = np.repeat(self.nodes, np.diff(self.indptr))
        return dict(zip(self.findings.tolist(), owners.tolist(), strict=True))


@dataclass(frozen=True)
class AttackGraph:
    """Frozen arrays of the graph. ``parents[indptr[i]:indptr[i+1]]`` are node i's parents."""

    kind: NDArray[np.int8]
    gate: NDArray[np.int8]
    need: NDArray[np.int32]
    probability: NDArray[np.float64]
    indptr: NDArray[np.int64]
    parents: NDArray[np.int32]
    labels: tuple[str, ...]
    # node -> (asset id, findings, account...) for explanations
    asset_of: NDArray[np.int64]
    exploits: Members
    entry_of: dict[int, str] = field(default_factory=dict)
    index: Mapping[str, int] = field(default_factory=dict)  # label -> node
    # derived from the shape (gate, need, indptr, parents) by the solvers, computed once
    cache: dict[str, object] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def size(self) -> int:
        return int(self.kind.shape[0])

    @property
    def edges(self) -> int:
        return int(self.parents.shape[0])

    def actions(self) -> NDArray[np.int64]:
        """Indices of nodes whose own probability is below 1 (the random choices)."""
        return np.flatnonzero(self.probability < 1.0)

    def with_probability(self, probability: NDArray[np.float64]) -> AttackGraph:
        """The same graph with other own probabilities (a mitigation, evidence, an update)."""
        graph = AttackGraph(
            self.kind,
            self.gate,
            self.need,
            probability,
            self.indptr,
            self.parents,
            self.labels,
            self.asset_of,
            self.exploits,
            self.entry_of,
            self.index,
        )
        graph.cache.update(self.cache)  # same shape
        return graph

    def node(self, label: str) -> int:
        """The index of the node labelled ``label``; raise KeyError if there is none."""
        return self.index[label]


class LabelIndex(Mapping[str, int]):
    """Label -> node of a graph whose labels are known to be distinct, made on first use.

    An assessment never looks a node up by label; the engine and the planners do. Hashing
    the labels of 340,000 nodes into a dict is a fifth of building the graph, so it waits
    until then.
    """

    def __init__(self, labels: tuple[str, ...]) -> None:
        self._labels = labels
        self._index: dict[str, int] | None = None

    def _made(self) -> dict[str, int]:
        if self._index is None:  # (two threads may both make it: the same dict)
            index = dict(zip(self._labels, range(len(self._labels)), strict=True))
            if len(index) < len(self._labels):
                raise RiskModelError("internal: two nodes of the attack graph share a label")
            self._index = index
        return self._index

    def __getitem__(self, label: str) -> int:
        return self._made()[label]

    def get(self, label: str, default: Any = None) -> Any:
        return self._made().get(label, default)

    def __contains__(self, label: object) -> bool:
        return label in self._made()

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._labels)


class GraphBuilder:
    """Collects nodes by label (idempotent) and edges, then freezes them into an AttackGraph.

    ``bulk_labels_unique``: the caller guarantees that the labels it gives ``fresh`` are
    new, and distinct from those of ``node`` (the construction does where no asset or account
    name holds a ':' or is used twice, see ``construction.labels_unique``). Those labels then
    enter the label index only when one is looked up, or when the graph's index is first read
    (``LabelIndex``), instead of each at once.
    """

    def __init__(self, *, bulk_labels_unique: bool = False) -> None:
        self._index: dict[str, int] = {}
        self._bulk_labels_unique = bulk_labels_unique
        self._unindexed: list[range] = []  # labels of ``fresh`` not in the index yet
        self._labels: list[str] = []
        # per node: kind, gate, need, probability, asset; nodes made one by one are gathered
        # in lists, those made in bulk kept as arrays, in order of creation
        self._singles: tuple[list[int], list[int], list[int], list[float], list[int]]
        self._singles = ([], [], [], [], [])
        self._members = Members.empty()
        self._columns: list[tuple[NDArray[Any], ...]] = []
        self._edge_parent: list[int] = []
        self._edge_child: list[int] = []
        self._edge_chunks: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []  # in bulk
        self.entry_of: dict[int, str] = {}

    def node(
        self,
        label: str,
        kind: NodeKind,
        *,
        gate: Gate = Gate.OR,
        probability: float = 1.0,
        need: int | None = None,
        asset: int = -1,
    ) -> int:
        """The index of node ``label``, created on first use with these attributes."""
        existing = self._index.get(label)
        if existing is not None:
            return existing
        i = len(self._labels)
        self._index[label] = i
        self._labels.append(label)
        kinds, gates, needs, chances, assets = self._singles
        kinds.append(int(kind))
        gates.append(int(gate))
        needs.append(-1 if need is None else need)
        chances.append(probability)
        assets.append(asset)
        return i

    @property
    def size(self) -> int:
        return len(self._labels)

    def fresh(
        self,
        labels: list[str],
        kind: NodeKind,
        gate: Gate,
        probability: Sequence[float] | NDArray[np.float64],
        asset: Sequence[int] | NDArray[np.int64],
    ) -> range:
        """Add nodes whose labels are new (all of one kind and gate); their indices.

        Raises RiskModelError if a label is already taken (or given twice), keeping the nodes
        it had.
        """
        first = len(self._labels)
        if self._bulk_labels_unique:
            self._unindexed.append(range(first, first + len(labels)))
        else:
            self._add_to_index(labels, first)
        self._labels.extend(labels)
        self._flush()
        k = len(labels)
        self._columns.append(
            (
                np.full(k, int(kind), dtype=np.int8),
                np.full(k, int(gate), dtype=np.int8),
                np.full(k, -1, dtype=np.int32),
                np.asarray(probability, dtype=np.float64),
                np.asarray(asset, dtype=np.int64),
            )
        )
        return range(first, len(self._labels))

    def _add_to_index(self, labels: Sequence[str], first: int) -> None:
        """Index ``labels`` as nodes ``first``, ``first + 1``...; RiskModelError (keeping the
        index as it was) if one of them is taken or given twice."""
        before = len(self._index)
        # every label indexed so far has its own entry: the index grows by fewer than
        # ``labels`` only if one of them was taken
        self._index.update(zip(labels, range(first, first + len(labels)), strict=True))
        if len(self._index) < before + len(labels):
            earlier = self._labels[:first]
            self._index = dict(zip(earlier, range(first), strict=True))  # as it was
            seen = set(earlier)
            for label in labels:  # the first label taken before, or twice
                if label in seen:
                    break
                seen.add(label)
            raise RiskModelError(
                f"two nodes of the attack graph would be called {label!r}: names that contain "
                "':' can collide (rename the asset or account)"
            )

    def _index_all(self) -> None:
        """Put the labels of ``fresh`` not yet indexed into the index."""
        for made in self._unindexed:
            self._add_to_index(self._labels[made.start : made.stop], made.start)
        self._unindexed = []

    def members(self, members: Members) -> None:
        """Record the findings of the exploit nodes (all of them, made in one go)."""
        if self._members.nodes.size:
            raise RiskModelError("internal: the exploits' findings were recorded twice")
        self._members = members

    def label(self, node: int) -> str:
        return self._labels[node]

    def _flush(self) -> None:
        """Move the nodes made one by one so far into a block of arrays."""
        kinds, gates, needs, chances, assets = self._singles
        if kinds:
            self._columns.append(
                (
                    np.asarray(kinds, dtype=np.int8),
                    np.asarray(gates, dtype=np.int8),
                    np.asarray(needs, dtype=np.int32),
                    np.asarray(chances, dtype=np.float64),
                    np.asarray(assets, dtype=np.int64),
                )
            )
            self._singles = ([], [], [], [], [])

    def has(self, label: str) -> bool:
        return self.index_of(label) >= 0

    def index_of(self, label: str) -> int:
        """The index of node ``label``, -1 if there is none."""
        found = self._index.get(label, -1)
        if found < 0 and self._unindexed:
            self._index_all()
            found = self._index.get(label, -1)
        return found

    def edge(self, parent: int, child: int) -> None:
        """``parent`` is one of the conditions of ``child``."""
        self._edge_parent.append(parent)
        self._edge_child.append(child)

    def edges(
        self, parents: Sequence[int] | NDArray[Any], children: Sequence[int] | NDArray[Any]
    ) -> None:
        """``parents[i]`` is one of the conditions of ``children[i]``, for every i."""
        if len(parents) != len(children):
            raise ValueError("edges need as many parents as children")
        self._edge_chunks.append(
            (np.asarray(parents, dtype=np.int64), np.asarray(children, dtype=np.int64))
        )

    def build(self) -> AttackGraph:
        """Freeze; AND nodes need all parents, OR nodes one, entries none.

        A node other than an entry that ended up with no parents can never hold (need 1).
        """
        labels = tuple(self._labels)
        size = len(self._labels)
        chunks = [
            (
                np.asarray(self._edge_parent, dtype=np.int64),
                np.asarray(self._edge_child, dtype=np.int64),
            ),
            *self._edge_chunks,
        ]
        parent = np.concatenate([p for p, _ in chunks])
        child = np.concatenate([c for _, c in chunks])
        edges = distinct(child * size + parent)  # by child, then parent; no repeats
        counts = np.bincount(edges // size, minlength=size)
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        flat = (edges % size).astype(np.int32)
        self._flush()
        columns = [np.concatenate(c) for c in zip(*self._columns, strict=True)]
        kind, gate, need, probability, asset = columns or [np.zeros(0)] * 5
        need = np.where(need >= 0, need, np.where(gate == Gate.AND, counts, 1)).astype(np.int32)
        need = np.where(kind == NodeKind.ENTRY, 0, np.maximum(need, 1)).astype(np.int32)
        return AttackGraph(
            kind=kind.astype(np.int8, copy=False),
            gate=gate.astype(np.int8, copy=False),
            need=need,
            probability=probability.astype(np.float64, copy=False),
            indptr=indptr,
            parents=flat,
            labels=labels,
            asset_of=asset.astype(np.int64, copy=False),
            exploits=self._members,
            entry_of=dict(self.entry_of),
            # (the builder is not used after it froze its graph)
            index=LabelIndex(labels) if self._unindexed else self._index,
        )
