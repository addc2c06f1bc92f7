"""CVSS vectors: validated and scored with the ``cvss`` package (FIRST's reference formulas)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from panacea.vulndb.errors import CvssVectorError

CVSS_VERSIONS: Final = ("3.0", "3.1", "4.0")
# Scores are published with one decimal; anything closer than this is the same score.
SCORE_TOLERANCE: Final = 0.05


@dataclass(frozen=True)
class CvssMetric:
    """One CVSS assessment of a CVE: the vector as published and its base score.

    ``score`` is computed from ``vector``; ``published_score`` is what the feed said. They agree
    for every record we have seen; when they do not, the computed one is stored (the vector is
    what the risk model reads, so the score must follow it) and the loader logs the difference.
    """

    version: str
    vector: str
    score: float
    published_score: float
    source: str

    @property
    def score_agrees(self) -> bool:
        """Whether the feed's score is the one the vector gives."""
        return abs(self.score - self.published_score) < SCORE_TOLERANCE


def base_score(version: str, vector: str) -> float:
    """The CVSS base score of ``vector``, which must be a CVSS ``version`` (3.0, 3.1, 4.0) vector.

    Raises CvssVectorError naming the vector when it is malformed, lacks mandatory metrics, or
    carries another version's prefix.
    """
    if version not in CVSS_VERSIONS:
        raise CvssVectorError(f"unsupported CVSS version {version!r} (expected 3.0, 3.1 or 4.0)")
    prefix = f"CVSS:{version}/"
    if not vector.startswith(prefix):
        raise CvssVectorError(f"CVSS {version} vector must start with {prefix!r}: {vector!r}")
    return _cached_score(vector)


@lru_cache(maxsize=16384)
def _cached_score(vector: str) -> float:
    # A few thousand distinct vectors cover the whole NVD; caching makes bulk loads cheap.
    try:
        if vector.startswith("CVSS:4.0/"):
            return float(CVSS4(vector).base_score)
        return float(CVSS3(vector).scores()[0])
    except CVSSError as e:
        raise CvssVectorError(f"invalid CVSS vector {vector!r}: {e}") from e
