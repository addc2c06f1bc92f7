"""The hospital's endpoints as arrays, by asset, for nodes made over many assets at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.inputs import EndpointRecord
from panacea.risk.layout import csr_rows


@dataclass(frozen=True)
class EndpointTable:
    """Endpoints grouped by asset row: ``indptr[r]:indptr[r + 1]`` are row r's, each with its
    protocol (an index into ``protocols``) and port."""

    indptr: NDArray[np.int64]
    protocol: NDArray[np.int64]
    port: NDArray[np.int64]
    protocols: tuple[str, ...]

    @classmethod
    def of(
        cls, endpoints: Sequence[EndpointRecord], position: Mapping[int, int], assets: int
    ) -> EndpointTable:
        """The table of ``endpoints``; ``position``: asset id -> row (of ``assets`` rows)."""
        n = len(endpoints)
        protocols = tuple(sorted({e.protocol for e in endpoints}))
        code = {p: i for i, p in enumerate(protocols)}
        row = np.fromiter((position[e.asset] for e in endpoints), np.int64, n)
        order = np.argsort(row, kind="stable")  # each asset's endpoints in the given order
        indptr = np.zeros(assets + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=assets), out=indptr[1:])
        protocol = np.fromiter((code[e.protocol] for e in endpoints), np.int64, n)[order]
        port = np.fromiter((e.port for e in endpoints), np.int64, n)[order]
        return cls(indptr, protocol, port, protocols)

    def among(
        self, rows: NDArray[np.int64], ports: frozenset[int] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The endpoints of ``rows`` (of ``ports`` only, if given), as pairs of arrays: which
        of ``rows`` (its index there), and the endpoint (its index in the table)."""
        every = np.arange(self.port.size, dtype=np.int64)
        ends, lengths = csr_rows(self.indptr, every, rows)
        owner = np.repeat(np.arange(rows.size, dtype=np.int64), lengths)
        if ports is not None:
            keep = np.isin(self.port[ends], np.fromiter(ports, np.int64, len(ports)))
            owner, ends = owner[keep], ends[keep]
        return owner, ends
