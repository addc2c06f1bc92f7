"""Ordering of real-world version strings, as NVD ranges and scanners write them.

No one scheme fits NVD: it holds semantic versions (``2.14.1``), OpenSSH and OpenSSL suffixes
(``8.9p1``, ``1.1.1t``), build tags (``7.2.2-build1234``), Windows builds (``10.0.17763.1``),
Citrix releases (``13.0-47.24``) and pre-releases (``1.2.3rc1``). Libraries that parse one scheme
(PEP 440, semver) reject the others, so this module orders them all by one documented rule:

1. Normalise: strip blanks, lower-case, drop a leading ``v`` before a digit and trailing
   separators (``2.4.`` is ``2.4``).
2. Split into runs of digits and runs of letters; every other character only separates.
3. Numbers compare as integers. Letters rank by kind, from low to high:
   pre-release word (``dev`` < ``alpha``/``a`` < ``beta``/``b`` < ``pre``/``preview`` < ``rc``) <
   *end of the version* < any other word (``p``, ``patch``, ``build``, ``sp``, OpenSSL's ``t``) <
   a number. So ``1.2.3rc1 < 1.2.3 < 1.2.3p1 < 1.2.3.1``. Words of the same rank compare as text.
   ``a``, ``b`` and ``c`` count as pre-release only when a number follows (``1.0a1``), else they
   are OpenSSL-style patch letters (``1.0.2a`` after ``1.0.2``). ``final``, ``ga``, ``release``
   and ``stable`` mean the release itself and are dropped.
4. Zero numbers not followed by a number are dropped, so ``2.4.0 == 2.4`` and
   ``1.0rc1 == 1rc1``: NVD writes ``versionEndExcluding 2.15.0`` where an SBOM says ``2.15``. On
   purely numeric versions the order is therefore tuple order once trailing zeros are removed.

The order is total and ``version_key`` is consistent with ``compare_versions``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TypeAlias

# One element of a key: (rank, number, word). Ranks are chosen so tuple order is version order.
VersionKey: TypeAlias = tuple[tuple[int, int, str], ...]

_PRE_RELEASE = 0
_END = 1
_POST_RELEASE = 2
_NUMBER = 3
_END_TOKEN = (_END, 0, "")
_ZERO = (_NUMBER, 0, "")

_PRE_RELEASE_WORDS = {
    "dev": 0,
    "snapshot": 0,
    "alpha": 1,
    "a": 1,
    "beta": 2,
    "b": 2,
    "pre": 3,
    "preview": 3,
    "c": 4,
    "rc": 4,
    "cr": 4,
}
# Single letters that are pre-release in PEP 440 ("1.0a1") but OpenSSL patch letters ("1.0.2a").
_AMBIGUOUS_LETTERS = {"a", "b", "c"}
_RELEASE_WORDS = {"final", "ga", "release", "stable"}
_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_LEADING_V = re.compile(r"^v(?=[0-9])")


@lru_cache(maxsize=65536)
def version_key(version: str) -> VersionKey:
    """A sort key for ``version``: ``version_key(a) < version_key(b)`` iff a is older than b."""
    text = _LEADING_V.sub("", version.strip().lower())
    tokens = _TOKEN.findall(text)
    keys = (_token_key(token, tokens, index) for index, token in enumerate(tokens))
    return _drop_zero_runs([*(key for key in keys if key is not None), _END_TOKEN])


def compare_versions(a: str, b: str) -> int:
    """Return -1, 0 or 1 as version ``a`` is older than, the same as, or newer than ``b``."""
    key_a, key_b = version_key(a), version_key(b)
    return (key_a > key_b) - (key_a < key_b)


def _drop_zero_runs(key: list[tuple[int, int, str]]) -> VersionKey:
    """Drop zeros not followed by a number: ``2.4.0`` is ``2.4``, ``1.0rc1`` is ``1rc1``."""
    kept: list[tuple[int, int, str]] = []
    zeros: list[tuple[int, int, str]] = []
    for item in key:
        if item == _ZERO:
            zeros.append(item)
            continue
        if item[0] == _NUMBER:
            kept.extend(zeros)
        zeros = []
        kept.append(item)
    return tuple(kept)


def _token_key(token: str, tokens: list[str], index: int) -> tuple[int, int, str] | None:
    if token.isdigit():
        return (_NUMBER, int(token), "")
    if token in _RELEASE_WORDS:
        return None
    number_follows = index + 1 < len(tokens) and tokens[index + 1].isdigit()
    if token in _AMBIGUOUS_LETTERS and not number_follows:
        return (_POST_RELEASE, 0, token)
    if token in _PRE_RELEASE_WORDS:
        return (_PRE_RELEASE, _PRE_RELEASE_WORDS[token], token)
    return (_POST_RELEASE, 0, token)


def is_build_of(version: str, release: str) -> bool:
    """Whether ``version`` is ``release`` itself or a build of it (``13.0-47.24`` of ``13.0``).

    NVD names some products by release only (Citrix ADC ``13.0``) while devices report the build
    after a hyphen. A pre-release after the hyphen (``2.0-beta9``) is not a build of ``2.0``.
    """
    if compare_versions(version, release) == 0:
        return True
    head, _, build = version.strip().partition("-")
    if not build or compare_versions(head, release) != 0:
        return False
    first = version_key(build)[0]
    return first[0] != _PRE_RELEASE
