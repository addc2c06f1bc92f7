"""CVSS base scores through the ``cvss`` package; vectors of the wrong version or malformed."""

from __future__ import annotations

import pytest

from panacea.vulndb.cvss_metrics import CvssMetric, base_score
from panacea.vulndb.errors import CvssVectorError


@pytest.mark.parametrize(
    ("version", "vector", "score"),
    [
        ("3.1", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
        ("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("4.0", "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.7),
        ("4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 6.9),
    ],
)
def test_base_score(version: str, vector: str, score: float) -> None:
    assert base_score(version, vector) == score


@pytest.mark.parametrize(
    ("version", "vector", "message"),
    [
        ("3.1", "CVSS:3.1/AV:N/AC:L", "invalid CVSS vector"),
        ("3.1", "CVSS:3.1/AV:Q/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "invalid CVSS vector"),
        ("3.1", "CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "must start with 'CVSS:3.1/'"),
        ("4.0", "CVSS:4.0/AV:N", "invalid CVSS vector"),
        ("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", "unsupported CVSS version"),
    ],
)
def test_bad_vector(version: str, vector: str, message: str) -> None:
    with pytest.raises(CvssVectorError, match=message):
        base_score(version, vector)


def test_published_score_agreement() -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"

    assert CvssMetric("3.1", vector, 8.8, 8.8, "nvd@nist.gov").score_agrees
    assert not CvssMetric("3.1", vector, 8.8, 9.8, "nvd@nist.gov").score_agrees
