"""Building the attack graph of DESIGN.md section 2 from the risk inputs.

Privileges (OR): net(zone), reach(zone, proto/port), exposed(asset), code_exec(asset, user|admin),
access(asset) (a credential valid there), credential(account), cia(asset, C|I|A),
service_down(service). Actions (AND, with a probability): entry(profile), exploit(asset, way
in, postconditions: the findings it stands for), phish(asset), human(asset), logon(account,
asset), harvest(asset). The table of pre- and
postconditions is in docs/risk-model.md. Reachability goes through reach(zone, port) nodes, so
edges grow with zones x ports + findings + logons, never with hosts x hosts.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.collector import paused_collector
from panacea.risk.distinct import distinct
from panacea.risk.endpoints import EndpointTable
from panacea.risk.evidence import pin
from panacea.risk.exploits import add_exploits
from panacea.risk.inputs import (
    PlacementRecord,
    RiskInputs,
)
from panacea.risk.logons import add_logons
from panacea.risk.parameters import ENTRY_PROFILES, RiskParameters
from panacea.risk.ports import allows

# Remote logons: a user gets a session through SSH, telnet, RDP or VNC; an administrator also
# through SMB (PsExec-style service creation) and WinRM.
USER_LOGON_PORTS = frozenset({22, 23, 3389, 5900})
ADMIN_LOGON_PORTS = USER_LOGON_PORTS | {445, 5985, 5986}
# Services of the operating system itself: a network flaw found on an asset's OS (not on one
# of its endpoints) is reachable only through one of these (SMB, RPC, RDP, SSH, WinRM, SNMP).
OS_SERVICE_PORTS = frozenset({22, 135, 137, 138, 139, 161, 445, 3389, 5985, 5986})
INSIDER_ZONE_KINDS = frozenset({"clinical", "administration"})


@dataclass(frozen=True)
class BuiltGraph:
    graph: AttackGraph
    service_nodes: dict[int, int]  # service id -> service_down node
    asset_nodes: dict[int, int]  # asset id -> code_exec(user) node
    entries: tuple[str, ...]


class Construction:
    def __init__(
        self, inputs: RiskInputs, params: RiskParameters, entries: tuple[str, ...]
    ) -> None:
        self.inputs = inputs
        self.params = params
        self.entries = entries
        self.b = GraphBuilder(bulk_labels_unique=labels_unique(inputs))
        self.assets = {a.id: a for a in inputs.assets}
        self.zones = {z.id: z for z in inputs.zones}
        self.assets_in_zone: dict[int, list[int]] = defaultdict(list)
        for a in inputs.assets:
            if a.zone is not None:
                self.assets_in_zone[a.zone].append(a.id)
        self.endpoint_index = {e.id: e for e in inputs.endpoints}
        # asset id -> its row in the arrays of per-asset nodes (code_exec, cia), made in bulk
        self.position = {a.id: i for i, a in enumerate(inputs.assets)}
        self.endpoint_table = EndpointTable.of(inputs.endpoints, self.position, len(inputs.assets))
        self.zone_of_row = np.array(
            [-1 if a.zone is None else a.zone for a in inputs.assets], dtype=np.int64
        )
        self.remote_access_of_row = np.array(  # the zone a VPN opens on, -1 for others
            [-1 if a.remote_access_zone is None else a.remote_access_zone for a in inputs.assets],
            dtype=np.int64,
        )
        ids = np.fromiter((a.id for a in inputs.assets), np.int64, len(inputs.assets))
        self._ids = ids  # asset id by row
        self._ids_order = np.argsort(ids, kind="stable")  # rows by ascending asset id
        self._ids_sorted = ids[self._ids_order]
        self._access = np.full(len(inputs.assets), -1, dtype=np.int64)  # access node by row
        self.human = np.full(len(inputs.assets), -1, dtype=np.int64)  # human node by row
        self.names_by_row = [a.name for a in inputs.assets]
        self.edr_by_row = np.fromiter(("edr" in a.controls for a in inputs.assets), bool)
        self.privilege: dict[str, NDArray[np.int64]] = {}
        # the hot lookups by ids, so that the builder formats a label once per node
        self._nodes: dict[tuple[object, ...], int] = {}
        self.account_names = {a.id: a.name for a in inputs.accounts}
        self._stored_credentials: dict[int, set[str]] = defaultdict(set)
        for logon in inputs.logons:
            if logon.asset is not None:
                self._stored_credentials[logon.asset].add(self.account_names[logon.owner])

    # privileges -------------------------------------------------------------------------
    def net(self, zone: int) -> int:
        node = self._nodes.get(("net", zone))
        if node is None:
            node = self.b.node(f"net:{self.zones[zone].name}", NodeKind.NETWORK)
            self._nodes["net", zone] = node
        return node

    def cia(self, asset: int, letter: str) -> int:
        """The loss of confidentiality, integrity or availability (C, I, A) of ``asset``."""
        return int(self.privilege[letter][self.position[asset]])

    def credential(self, account_name: str) -> int:
        node = self._nodes.get(("credential", account_name))
        if node is None:
            node = self.b.node(f"credential:{account_name}", NodeKind.CREDENTIAL)
            self._nodes["credential", account_name] = node
        return node

    def access_of(self, assets: list[int]) -> NDArray[np.int64]:
        """For each of ``assets``, the node of some credential or session valid on it (a user
        session there gives one); the missing ones are made together, in order of first
        mention."""
        rows = self.rows(assets)
        missing = rows[self._access[rows] < 0]
        if missing.size:
            _, first = np.unique(missing, return_index=True)
            missing = missing[np.sort(first)]  # in order of first mention
            where = self._ids[missing].tolist()
            labels = [f"access:{self.assets[a].name}" for a in where]
            k = len(where)
            added = self.b.fresh(labels, NodeKind.ACCESS, Gate.OR, np.ones(k), where)
            self._access[missing] = np.arange(added.start, added.stop, dtype=np.int64)
            self.b.edges(self.privilege["user"][missing], self._access[missing])
        access: NDArray[np.int64] = self._access[rows]
        return access

    def rows(self, assets: list[int]) -> NDArray[np.int64]:
        """The rows of ``assets`` (ids) in the arrays of per-asset nodes; KeyError for an id
        that is not in the inputs."""
        ids = np.asarray(assets, dtype=np.int64)
        at = np.searchsorted(self._ids_sorted, ids)
        known = at < self._ids_sorted.size
        known[known] = self._ids_sorted[at[known]] == ids[known]
        if not known.all():
            raise KeyError(f"asset {int(ids[~known][0])} is not in the risk inputs")
        rows: NDArray[np.int64] = self._ids_order[at]
        return rows

    def reach(self, zone: int, protocol: str, port: int) -> int:
        known = self._nodes.get(("reach", zone, protocol, port))
        if known is not None:
            return known
        label = f"reach:{self.zones[zone].name}:{protocol}/{port}"
        node = self.b.node(label, NodeKind.REACH)
        self._nodes["reach", zone, protocol, port] = node
        if not self.zones[zone].isolated:
            self.b.edge(self.net(zone), node)
        for rule in self.inputs.rules:
            inbound = rule.to_zone == zone and rule.from_zone != zone
            if inbound and allows(rule.protocol, rule.ports, protocol, port):
                self.b.edge(self.net(rule.from_zone), node)
        return node

    def exposed(self, asset: int, *, os_only: bool = False) -> int | None:
        """Some open port of the asset (of its OS services only) can be reached; None if none."""
        return self.exposed_of([asset], [os_only])[0]

    def exposed_of(self, assets: list[int], os_only: list[bool]) -> list[int | None]:
        """``exposed`` of each (asset, os_only) pair (pairs distinct), the new ones together."""
        made: list[int | None] = []
        todo: dict[bool, list[int]] = {False: [], True: []}
        for i, (asset, only) in enumerate(zip(assets, os_only, strict=True)):
            known = self._nodes.get(("exposed", asset, only))
            made.append(None if known is None or known < 0 else known)
            if known is None:
                todo[only].append(i)
        for only, chosen in todo.items():
            prefix = "exposed_os" if only else "exposed"
            found = self._port_nodes(
                [assets[i] for i in chosen], prefix, OS_SERVICE_PORTS if only else None
            )
            for i, node in zip(chosen, found.tolist(), strict=True):
                self._nodes["exposed", assets[i], only] = node
                made[i] = None if node < 0 else node
        return made

    def logon_paths(self, assets: list[int], levels: list[str]) -> list[int | None]:
        """Some port through which an account of ``level`` can log on to the asset (for a
        VPN, any exposed port), for each (asset, level) pair (pairs distinct); None if none."""
        made: list[int | None] = [None] * len(assets)
        rows = self.rows(assets)
        gateway = (self.remote_access_of_row[rows] >= 0) & (self.zone_of_row[rows] >= 0)
        for i in np.flatnonzero(gateway).tolist():
            made[i] = self.exposed(assets[i])
        wanted = np.asarray(levels)
        for level in dict.fromkeys(wanted[~gateway].tolist()):  # in order of first mention
            chosen = np.flatnonzero(~gateway & (wanted == level)).tolist()
            usable = ADMIN_LOGON_PORTS if level == "admin" else USER_LOGON_PORTS
            found = self._port_nodes([assets[i] for i in chosen], f"logon_port:{level}", usable)
            for i, node in zip(chosen, found.tolist(), strict=True):
                made[i] = None if node < 0 else node
        return made

    def _port_nodes(
        self, assets: list[int], prefix: str, ports: frozenset[int] | None
    ) -> NDArray[np.int64]:
        """For each of ``assets`` in a zone with one of ``ports`` open (any port, if None), a
        new node ``prefix:asset`` held when one of those can be reached in the asset's zone;
        the nodes (-1 where there is none)."""
        rows = self.rows(assets)
        owner, ends = self.endpoint_table.among(rows, ports)
        zone = self.zone_of_row[rows]
        keep = zone[owner] >= 0
        owner, ends = owner[keep], ends[keep]
        nodes = np.full(rows.size, -1, dtype=np.int64)
        chosen = distinct(owner)
        if not chosen.size:
            return nodes
        where = [assets[i] for i in chosen.tolist()]
        labels = [f"{prefix}:{self.assets[a].name}" for a in where]
        k = len(labels)
        added = self.b.fresh(labels, NodeKind.EXPOSED, Gate.OR, np.ones(k), where)
        nodes[chosen] = np.arange(added.start, added.stop, dtype=np.int64)
        # the reach node of each endpoint: one per (zone, protocol, port)
        table = self.endpoint_table
        span = len(table.protocols) * 65536
        key = zone[owner] * span + table.protocol[ends] * 65536 + table.port[ends]
        keys = distinct(key)
        reach = [
            self.reach(k // span, table.protocols[k % span // 65536], k % 65536)
            for k in keys.tolist()
        ]
        self.b.edges(np.asarray(reach, dtype=np.int64)[np.searchsorted(keys, key)], nodes[owner])
        return nodes

    # construction -----------------------------------------------------------------------
    def build(self) -> BuiltGraph:
        self._asset_privileges()
        self._entries()
        add_logons(self)
        add_exploits(self)
        services = self._services()
        graph = self.b.build()
        asset_nodes = dict(zip(self._ids.tolist(), self.privilege["user"].tolist(), strict=True))
        return BuiltGraph(graph, services, asset_nodes, self.entries)

    def _asset_privileges(self) -> None:
        """Code execution (user, admin) and C/I/A loss of every asset, in bulk.

        Admin implies user; user loses confidentiality, admin all three; a user session is a
        foothold in the asset's zone (pivot).
        """
        assets = self.inputs.assets
        where = [a.id for a in assets]
        sure = [1.0] * len(assets)
        for key, prefix, kind in (
            ("user", "code_exec:user", NodeKind.CODE_EXEC_USER),
            ("admin", "code_exec:admin", NodeKind.CODE_EXEC_ADMIN),
            ("C", "cia:C", NodeKind.CIA_LOSS),
            ("I", "cia:I", NodeKind.CIA_LOSS),
            ("A", "cia:A", NodeKind.CIA_LOSS),
        ):
            labels = [f"{prefix}:{a.name}" for a in assets]
            added = self.b.fresh(labels, kind, Gate.OR, sure, where)
            self.privilege[key] = np.arange(added.start, added.stop, dtype=np.int64)
        user, admin = self.privilege["user"], self.privilege["admin"]
        zoned = np.array([a.zone is not None for a in assets], dtype=bool)
        nets = np.array([self.net(a.zone) for a in assets if a.zone is not None], dtype=np.int64)
        parents = np.concatenate([admin, user, admin, admin, admin, user[zoned]])
        children = np.concatenate([user, *(self.privilege[x] for x in ("C", "C", "I", "A")), nets])
        self.b.edges(parents, children)

    def _entry(self, profile: str) -> int:
        node = self.b.node(
            f"entry:{profile}", NodeKind.ENTRY, probability=self.params.entry_weights[profile]
        )
        self.b.entry_of[node] = profile
        return node

    def _entries(self) -> None:
        if "internet" in self.entries:
            entry = self._entry("internet")
            for zone in self.inputs.zones:
                if zone.kind == "internet":
                    self.b.edge(entry, self.net(zone.id))
        if "insider" in self.entries:
            entry = self._entry("insider")
            for zone in self.inputs.zones:
                if zone.kind in INSIDER_ZONE_KINDS:
                    self.b.edge(entry, self.net(zone.id))
        if "vendor" in self.entries:
            entry = self._entry("vendor")
            for account in self.inputs.accounts:
                if account.kind == "vendor":
                    self.b.edge(entry, self.credential(account.name))
        if "phishing" in self.entries:
            self._phishing(self._entry("phishing"))

    def _workstation_users(self) -> dict[int, float]:
        """Asset id -> highest phishing susceptibility among the staff groups using it."""
        susceptibility = {g.id: g.susceptibility for g in self.inputs.staff_groups}
        users: dict[int, float] = {}
        for ws in self.inputs.workstations:
            for asset in self.placed(ws):
                users[asset] = max(users.get(asset, 0.0), susceptibility[ws.owner])
        return users

    def _phishing(self, entry: int) -> None:
        """A mail reaches a user of each workstation (human, chance by the staff group's
        susceptibility) who opens it (phish, lowered by allow-listing and EDR): code runs."""
        p = self.params
        users = self._workstation_users()
        ids = list(users)
        records = [self.assets[a] for a in ids]
        k = len(ids)
        humans = self.b.fresh(
            [f"human:{r.name}" for r in records],
            NodeKind.HUMAN,
            Gate.AND,
            [users[a] * p.phishing_campaign_reach for a in ids],
            ids,
        )
        allowlisted = [
            p.allowlisting_factor if "application_allowlisting" in r.controls else 1.0
            for r in records
        ]
        edr = [p.edr_factor if "edr" in r.controls else 1.0 for r in records]
        phish = self.b.fresh(
            [f"phish:{r.name}" for r in records],
            NodeKind.PHISH,
            Gate.AND,
            [a * e for a, e in zip(allowlisted, edr, strict=True)],
            ids,
        )
        human, mail = np.asarray(humans, dtype=np.int64), np.asarray(phish, dtype=np.int64)
        self.human[self.rows(ids)] = human
        self.b.edges(
            np.concatenate([np.full(k, entry, dtype=np.int64), human, mail]),
            np.concatenate([human, mail, self.privilege["user"][self.rows(ids)]]),
        )

    def placed(self, placement: PlacementRecord) -> list[int]:
        """The asset of a logon or workstation placement, or every asset of its zone."""
        if placement.asset is not None:
            return [placement.asset]
        return self.assets_in_zone.get(placement.zone or -1, [])

    def stores_credentials(self) -> NDArray[np.bool_]:
        """By asset row: whether some account logs on to the asset (its secrets are there)."""
        stored = self._stored_credentials
        return np.fromiter((a.id in stored for a in self.inputs.assets), bool)

    def accounts_on(self, asset_id: int) -> list[str]:
        """Accounts that log on to this very asset: their secrets are stored on it."""
        return sorted(self._stored_credentials.get(asset_id, ()))

    def _services(self) -> dict[int, int]:
        nodes = {
            s.id: self.b.node(f"service:{s.key}", NodeKind.SERVICE_DOWN)
            for s in self.inputs.services
        }
        grouped: dict[int, list[int]] = defaultdict(list)
        for dep in self.inputs.dependencies:
            lost = self._member_lost(dep.service, dep.asset, dep.needs)
            if dep.group is None:
                self.b.edge(lost, nodes[dep.service])
            else:
                grouped[dep.group].append(lost)
        for group_id, members in grouped.items():
            k, name = self.inputs.groups[group_id]
            service = next(d.service for d in self.inputs.dependencies if d.group == group_id)
            node = self.b.node(
                f"group_lost:{name}:{service}",
                NodeKind.GROUP_LOST,
                gate=Gate.THRESHOLD,
                need=len(members) - k + 1,
            )
            for member in members:
                self.b.edge(member, node)
            self.b.edge(node, nodes[service])
        for service, depends_on in self.inputs.service_dependencies:
            self.b.edge(nodes[depends_on], nodes[service])
        return nodes

    def _member_lost(self, service: int, asset: int, needs: str) -> int:
        node = self.b.node(
            f"lost:{needs}:{self.assets[asset].name}", NodeKind.MEMBER_LOST, asset=asset
        )
        for letter in needs:
            self.b.edge(self.cia(asset, letter), node)
        return node


def labels_unique(inputs: RiskInputs) -> bool:
    """Whether the labels of the nodes made in bulk are distinct by construction: no asset or
    account name is used twice or holds a ':', and no endpoint's protocol holds one. Each such
    label is a kind of its own (its first field: code_exec, cia, access, exposed, exposed_os,
    logon_port, human, phish, harvest, logon, exploit; none of them a kind of the nodes made
    one by one) followed by the names of one asset (and of one account, for logons and
    harvests), words of a fixed vocabulary and, for an exploit through a port, its protocol
    and number; each kind makes one node per asset (account and asset, way in) at most."""
    for names in ([a.name for a in inputs.assets], [a.name for a in inputs.accounts]):
        if len(set(names)) < len(names) or any(":" in name for name in names):
            return False
    return not any(":" in protocol for protocol in {e.protocol for e in inputs.endpoints})


def build_attack_graph(
    inputs: RiskInputs, params: RiskParameters, *, entries: tuple[str, ...] = ENTRY_PROFILES
) -> BuiltGraph:
    """The attack graph of ``inputs`` for the entry profiles ``entries``.

    Evidence of the inputs (received indicators that name an asset) pins the asset's
    ``code_exec:user`` node (:func:`panacea.risk.evidence.pin`), so every user of the graph
    (assessment, scenarios, plans) reads it the same way.
    """
    with paused_collector():  # many small objects, no cycles: see ``collector``
        chosen = tuple(e for e in ENTRY_PROFILES if e in entries)
        built = Construction(inputs, params, chosen).build()
    pins = evidence_pins(inputs, built.asset_nodes)
    return dataclasses.replace(built, graph=pin(built.graph, pins)) if pins else built


def evidence_pins(inputs: RiskInputs, asset_nodes: dict[int, int]) -> dict[int, float]:
    """Node -> probability for the evidence of ``inputs``: several reports naming one asset
    are independent witnesses (``1 - prod(1 - c_i)``)."""
    miss: dict[int, float] = {}
    for record in inputs.evidence:
        node = asset_nodes.get(record.asset)
        if node is not None:
            miss[node] = miss.get(node, 1.0) * (1.0 - min(1.0, max(0.0, record.confidence)))
    return {node: 1.0 - m for node, m in miss.items()}
