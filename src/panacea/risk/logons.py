"""Credential use and theft: the logon and harvest actions of the accounts, built in bulk.

An account placed on an asset (or on every asset of a zone) gives, on each of those assets:
its credential is valid there (``access``); whoever is admin there can take its secrets
(``harvest``, AND over ``code_exec:admin``, into ``credential``); and with the credential and
a logon port in reach, the attacker logs on (``logon``, AND over the credential and the port,
into a session at the account's level there, or into the remote-access zone for a VPN). A zone
of a thousand workstations with one service account is a thousand of each, so they are added
in bulk, one of each per account and asset. Where an account is placed on an asset more than
once (on the asset and zone-wide, or as user and as admin), the likelier harvest counts (a
direct logon leaves more behind than a zone-wide one), and the account logs on at its highest
level: an administrator gets an administrator's session through any logon port, including the
ones only administrators can use (SMB, WinRM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import Gate, NodeKind
from panacea.risk.distinct import distinct

if TYPE_CHECKING:
    from panacea.risk.construction import Construction


def add_logons(c: Construction) -> None:
    """Add the access, harvest and logon of every account on every asset it is placed on."""
    owner: list[int] = []
    asset: list[int] = []
    as_admin: list[bool] = []  # levels are user or admin (inventory.vocabulary.LogonLevel)
    zone_wide: list[bool] = []
    for logon in c.inputs.logons:
        placed = c.placed(logon)
        owner.extend([logon.owner] * len(placed))
        asset.extend(placed)
        as_admin.extend([logon.level == "admin"] * len(placed))
        zone_wide.extend([logon.asset is None] * len(placed))
    if not owner:
        return
    # the placements of each (account, asset) pair, the pairs in order of first placement
    span = max(asset) + 1
    pairs = np.asarray(owner, dtype=np.int64) * span + np.asarray(asset, dtype=np.int64)
    order = np.argsort(pairs, kind="stable")
    starts = np.ones(order.size, dtype=bool)
    np.not_equal(pairs[order][1:], pairs[order][:-1], out=starts[1:])
    begin = np.flatnonzero(starts)
    first = order[begin]  # the first placement of each pair (pairs in sorted order)
    placement = np.argsort(first, kind="stable")  # sorted pair -> rank in placement order
    params = c.params
    direct = np.where(
        np.asarray(zone_wide), params.harvest_zone_probability, params.harvest_probability
    )
    harvest = np.maximum.reduceat(direct[order], begin)
    admin = np.logical_or.reduceat(np.asarray(as_admin)[order], begin)[placement]
    rows = first[placement]
    pair_owner = np.asarray(owner, dtype=np.int64)[rows].tolist()
    pair_asset = np.asarray(asset, dtype=np.int64)[rows].tolist()
    harvests = _harvests(c, pair_owner, pair_asset, harvest[placement])
    credential = {o: c.credential(c.account_names[o]) for o in dict.fromkeys(owner)}
    credentials = np.fromiter((credential[o] for o in pair_owner), np.int64, len(pair_owner))
    access = c.access_of(pair_asset)
    admin_code = c.privilege["admin"][c.rows(pair_asset)]
    stolen = np.arange(harvests.start, harvests.stop, dtype=np.int64)
    # valid there (credential -> access); stolen by an admin (code_exec:admin -> harvest ->
    # credential)
    c.b.edges(
        np.concatenate([credentials, admin_code, stolen]),
        np.concatenate([access, stolen, credentials]),
    )
    _logon_actions(c, pair_owner, pair_asset, admin, credentials)


def _harvests(
    c: Construction, owner: list[int], asset: list[int], chance: NDArray[np.float64]
) -> range:
    """One harvest action per (account, asset) pair, lowered by EDR on the asset."""
    rows = c.rows(asset)
    on, accounts = c.names_by_row, c.account_names
    labels = [f"harvest:{accounts[o]}:{on[r]}" for o, r in zip(owner, rows.tolist(), strict=True)]
    chances = chance * np.where(c.edr_by_row[rows], c.params.edr_factor, 1.0)
    return c.b.fresh(labels, NodeKind.HARVEST, Gate.AND, chances, asset)


def _logon_actions(
    c: Construction,
    owner: list[int],
    asset: list[int],
    admin: NDArray[np.bool_],
    credentials: NDArray[np.int64],
) -> None:
    """Logons of each (account, asset) pair whose logon port is in reach: AND over the
    account's credential and the port, into a session at the account's level there (into the
    remote-access zone it opens, for a VPN)."""
    accounts = {a.id: a for a in c.inputs.accounts}
    # the logon path of each (asset, level): made once each, they may add nodes
    keys = np.asarray(asset, dtype=np.int64) * 2 + admin
    kinds = distinct(keys)
    found = c.logon_paths(
        [k // 2 for k in kinds.tolist()], ["admin" if k % 2 else "user" for k in kinds.tolist()]
    )
    paths = np.array([-1 if f is None else f for f in found], dtype=np.int64)
    path = paths[np.searchsorted(kinds, keys)]
    chosen = np.flatnonzero(path >= 0)
    if not chosen.size:
        return
    params = c.params
    names = [accounts[owner[i]].name for i in chosen.tolist()]
    where = [asset[i] for i in chosen.tolist()]
    rows = c.rows(where)
    on = c.names_by_row
    labels = [f"logon:{n}:{on[r]}" for n, r in zip(names, rows.tolist(), strict=True)]
    mfa = np.fromiter((accounts[owner[i]].mfa for i in chosen.tolist()), bool, chosen.size)
    chances = params.logon_probability * np.where(mfa, params.mfa_factor, 1.0)
    target = np.where(admin[chosen], c.privilege["admin"][rows], c.privilege["user"][rows])
    opens = c.remote_access_of_row[rows]
    for i in np.flatnonzero(opens >= 0).tolist():  # a VPN: a foothold in the zone it opens on
        target[i] = c.net(int(opens[i]))
    added = c.b.fresh(labels, NodeKind.LOGON, Gate.AND, chances, where)
    logons = np.arange(added.start, added.stop, dtype=np.int64)
    c.b.edges(
        np.concatenate([credentials[chosen], path[chosen], logons]),
        np.concatenate([logons, logons, target]),
    )
