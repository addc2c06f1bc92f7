"""Credential use and theft: the logon and harvest actions of the accounts, built in bulk.

An account placed on an asset (or on every asset of a zone) gives, on each of those assets:
its credential is valid there (``access``); whoever is admin there can take its secrets
(``harvest``, AND over ``code_exec:admin``, into ``credential``); and with the credential and
a logon port in reach, the attacker logs on (``logon``, AND over the credential and the port,
into a session at the placement's level, or into the remote-access zone for a VPN). A zone of
a thousand workstations with one service account is a thousand of each, so they are added in
bulk. Where an account is placed on an asset twice, the first placement decides the harvest
probability, and the logon action is one node whose parents and children are the union.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from panacea.risk.attack_graph import Gate, NodeKind
from panacea.risk.distinct import distinct

if TYPE_CHECKING:
    from panacea.risk.construction import Construction


def add_logons(c: Construction) -> None:
    """Add the access, harvest and logon of every account on every asset it is placed on."""
    accounts = {a.id: a for a in c.inputs.accounts}
    owner: list[int] = []
    asset: list[int] = []
    level: list[str] = []
    zone_wide: list[bool] = []
    for logon in c.inputs.logons:
        placed = c.placed(logon)
        owner.extend([logon.owner] * len(placed))
        asset.extend(placed)
        level.extend([logon.level] * len(placed))
        zone_wide.extend([logon.asset is None] * len(placed))
    if not owner:
        return
    credential = {a: c.credential(accounts[a].name) for a in dict.fromkeys(owner)}
    access = {a: c.access(a) for a in dict.fromkeys(asset)}
    parents = [credential[o] for o in owner]
    children = [access[a] for a in asset]
    # one harvest per (account, asset), its probability from the first placement there
    span = max(asset) + 1
    pairs = np.asarray(owner, dtype=np.int64) * span + np.asarray(asset, dtype=np.int64)
    order = np.argsort(pairs, kind="stable")
    ordered = pairs[order]
    starts = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    first = np.sort(order[starts]).tolist()  # the first row of each pair, in placement order
    params = c.params
    labels, chances, where = [], [], []
    for row in first:
        record = c.assets[asset[row]]
        p = params.harvest_zone_probability if zone_wide[row] else params.harvest_probability
        p *= params.edr_factor if "edr" in record.controls else 1.0
        labels.append(f"harvest:{accounts[owner[row]].name}:{record.name}")
        chances.append(p)
        where.append(record.id)
    harvests = c.b.fresh(labels, NodeKind.HARVEST, Gate.AND, chances, where, [-1] * len(first))
    for row, node in zip(first, harvests, strict=True):
        parents += [c.code(asset[row], "admin"), node]
        children += [node, credential[owner[row]]]
    _logon_actions(c, owner, asset, level, parents, children)
    c.b.edges(parents, children)


def _logon_actions(
    c: Construction,
    owner: list[int],
    asset: list[int],
    level: list[str],
    parents: list[int],
    children: list[int],
) -> None:
    """Logons where a logon port is in reach (edges appended to ``parents``/``children``)."""
    accounts = {a.id: a for a in c.inputs.accounts}
    # the logon path of each (asset, level): made once each, they may add nodes
    levels = sorted(set(level))
    code = {name: i for i, name in enumerate(levels)}
    keys = np.asarray(asset, dtype=np.int64) * len(levels)
    keys += np.asarray([code[lv] for lv in level], dtype=np.int64)
    kinds = distinct(keys)
    found = [
        c.logon_path(c.assets[k // len(levels)], levels[k % len(levels)]) for k in kinds.tolist()
    ]
    paths = np.array([-1 if f is None else f for f in found], dtype=np.int64)
    path = paths[np.searchsorted(kinds, keys)]
    rows = np.flatnonzero(path >= 0)
    if not rows.size:
        return
    # one logon action per (account, asset), in the order of the first placement there
    span = max(asset) + 1
    pairs = np.asarray(owner, dtype=np.int64)[rows] * span + np.asarray(asset)[rows]
    order = np.argsort(pairs, kind="stable")
    starts = np.ones(rows.size, dtype=bool)
    np.not_equal(pairs[order][1:], pairs[order][:-1], out=starts[1:])
    first = np.sort(order[starts])  # positions in ``rows`` of each pair's first placement
    params = c.params
    labels, chances, where = [], [], []
    for i in rows[first].tolist():
        account, record = accounts[owner[i]], c.assets[asset[i]]
        labels.append(f"logon:{account.name}:{record.name}")
        chances.append(params.logon_probability * (params.mfa_factor if account.mfa else 1.0))
        where.append(record.id)
    added = c.b.fresh(labels, NodeKind.LOGON, Gate.AND, chances, where, [-1] * len(labels))
    by_pair = np.argsort(pairs[first], kind="stable")
    slot = by_pair[np.searchsorted(pairs[first][by_pair], pairs)]
    node = added.start + slot
    # with the credential and the port, a session at the placement's level (or, for a VPN,
    # a foothold in the zone it opens on)
    chosen = [c.position[asset[i]] for i in rows.tolist()]
    admin = np.array([level[i] == "admin" for i in rows.tolist()], dtype=bool)
    target = np.where(admin, c.privilege["admin"][chosen], c.privilege["user"][chosen])
    for k, i in enumerate(rows.tolist()):
        remote = c.assets[asset[i]].remote_access_zone
        if remote is not None:
            target[k] = c.net(remote)
    credentials = [c.credential(accounts[owner[i]].name) for i in rows.tolist()]
    parents += credentials + path[rows].tolist() + node.tolist()
    children += node.tolist() + node.tolist() + target.tolist()
