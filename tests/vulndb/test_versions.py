"""Ordering of real-world version strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panacea.vulndb.versions import compare_versions, is_build_of, version_key


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("6.0.4", "6.0.10"),  # FortiOS: numbers, not text
        ("6.0.4", "6.0.5"),
        ("2.14.1", "2.15.0"),  # Log4j
        ("8.9p1", "9.8p1"),  # OpenSSH
        ("8.9p1", "9.8"),
        ("8.5p1", "8.6"),
        ("9.8", "9.8p1"),
        ("1.2.3rc1", "1.2.3"),
        ("1.2.3a1", "1.2.3b2"),
        ("1.2.3beta2", "1.2.3rc1"),
        ("1.2.3dev1", "1.2.3alpha1"),
        ("2.0-beta9", "2.0"),  # Log4j 2.0-beta9
        ("7.2.2", "7.2.2-build1234"),
        ("1.2.3", "1.2.3p1"),
        ("1.2.3p1", "1.2.3.1"),
        ("1.0.2", "1.0.2a"),  # OpenSSL letters come after the release
        ("1.1.1k", "1.1.1t"),
        ("1.0.2k", "1.0.2zd"),
        ("10.0.17763.1", "10.0.17763.2029"),  # Windows builds
        ("10.0.17763.2029", "10.0.19042.1"),
        ("13.0-47.24", "13.0-92.19"),  # Citrix release-build
        ("13.0-92.19", "13.1-37.164"),
        ("12.1-55.300", "13.0"),
        ("v1.2", "1.10"),
        ("5.4.12", "5.4.13"),
        ("16.12.09", "16.12.10a"),  # Cisco IOS XE
        ("14.0.5.44", "14.0.5.45"),
        ("2020.1.6", "2020.1.7"),
        ("012u000061", "012u000062"),
    ],
)
def test_order(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert version_key(older) < version_key(newer)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2.4.", "2.4"),  # NVD's trailing dots ("5.9.1.0." in CVE-2019-12256)
        ("5.9.1.0.", "5.9.1.0"),
        ("2.15", "2.15.0"),
        ("1.0", "1"),
        ("V1.2.3", "1.2.3"),
        ("8.9P1", "8.9p1"),
        ("8.9p1", "8.9_p1"),
        ("2.0.0-final", "2.0"),
        (" 3.6.6 ", "3.6.6"),
        ("1.0rc1", "1.0.0rc1"),
    ],
)
def test_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0
    assert version_key(a) == version_key(b)


@pytest.mark.parametrize(
    ("version", "release", "expected"),
    [
        ("13.0-47.24", "13.0", True),
        ("13.0", "13.0", True),
        ("7.2.2-build1234", "7.2.2", True),
        ("2.0-beta9", "2.0", False),
        ("13.1-47.24", "13.0", False),
        ("13.0.47", "13.0", False),
    ],
)
def test_is_build_of(version: str, release: str, expected: bool) -> None:
    assert is_build_of(version, release) is expected


_DOTTED = st.lists(st.integers(0, 40), min_size=1, max_size=5)
_SUFFIX = st.sampled_from(["", "rc1", "p1", "a", "-build7", "beta2", "-47.24", "zd"])
_VERSION = st.builds(lambda parts, suffix: ".".join(map(str, parts)) + suffix, _DOTTED, _SUFFIX)


@given(_VERSION, _VERSION)
def test_antisymmetric(a: str, b: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)


@given(_VERSION, _VERSION, _VERSION)
def test_transitive(a: str, b: str, c: str) -> None:
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0


@given(_VERSION, _VERSION)
def test_key_agrees_with_compare(a: str, b: str) -> None:
    ka, kb = version_key(a), version_key(b)
    assert compare_versions(a, b) == (ka > kb) - (ka < kb)


def _without_trailing_zeros(parts: list[int]) -> tuple[int, ...]:
    while parts and parts[-1] == 0:
        parts = parts[:-1]
    return tuple(parts)


@given(_DOTTED, _DOTTED)
def test_numeric_versions_order_as_tuples_without_trailing_zeros(
    a: list[int], b: list[int]
) -> None:
    ta, tb = _without_trailing_zeros(a), _without_trailing_zeros(b)
    expected = (ta > tb) - (ta < tb)
    assert compare_versions(".".join(map(str, a)), ".".join(map(str, b))) == expected


@given(_VERSION)
def test_trailing_separator_and_leading_v_change_nothing(version: str) -> None:
    assert compare_versions(version + ".", version) == 0
    assert compare_versions("v" + version, version) == 0
    assert compare_versions(version.upper(), version) == 0


@given(st.text(max_size=20), st.text(max_size=20))
def test_any_text_compares_without_error(a: str, b: str) -> None:
    assert compare_versions(a, b) in (-1, 0, 1)
