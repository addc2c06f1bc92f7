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
    params = c.params
    pair_of: dict[tuple[int, int], int] = {}
    labels: list[str] = []
    chances: list[float] = []
    where: list[int] = []
    uses: list[tuple[int, int, int, int]] = []  # pair, credential, path, what the logon gives
    for o, a, lv in zip(owner, asset, level, strict=True):
        record = c.assets[a]
        path = c.logon_path(record, lv)  # may add nodes: the logons' indices come after
        if path is None:
            continue
        pair = pair_of.get((o, a))
        if pair is None:
            account = accounts[o]
            pair = pair_of[o, a] = len(labels)
            labels.append(f"logon:{account.name}:{record.name}")
            chances.append(params.logon_probability * (params.mfa_factor if account.mfa else 1.0))
            where.append(a)
        if record.remote_access_zone is not None:
            target = c.net(record.remote_access_zone)
        else:
            target = c.code(a, "admin" if lv == "admin" else "user")
        uses.append((pair, c.credential(accounts[o].name), path, target))
    added = c.b.fresh(labels, NodeKind.LOGON, Gate.AND, chances, where, [-1] * len(labels))
    for pair, credential, path, target in uses:
        node = added[pair]
        parents += [credential, path, node]
        children += [node, node, target]
