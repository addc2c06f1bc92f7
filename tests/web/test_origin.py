"""The websocket Origin check (RFC 6454 origins, compared as browsers serialise them)."""

from __future__ import annotations

import pytest

from panacea.web.context import origin_of
from panacea.web.origin import origin_allowed

ALLOWED = origin_of("https://Panacea.Hospital.example:443/some/path")


def test_origin_of_normalises_case_default_ports_and_paths() -> None:
    assert ALLOWED == "https://panacea.hospital.example"
    assert origin_of("http://localhost:8000/") == "http://localhost:8000"
    assert origin_of("http://[::1]:8000") == "http://[::1]:8000"


@pytest.mark.parametrize(
    ("origin", "required", "allowed"),
    [
        ("https://panacea.hospital.example", True, True),
        ("HTTPS://PANACEA.HOSPITAL.EXAMPLE", True, True),
        ("https://panacea.hospital.example:443", True, True),
        ("http://panacea.hospital.example", True, False),  # another scheme
        ("https://panacea.hospital.example:8443", True, False),
        ("https://panacea.hospital.example.evil.example", True, False),
        ("https://evil.example", False, False),
        ("null", False, False),
        ("", False, False),
        ("https://panacea.hospital.example:99999", True, False),  # not a port
        (None, True, False),
        (None, False, True),  # same-origin XHR polling may omit it
    ],
)
def test_only_the_public_origin_passes(origin: str | None, required: bool, allowed: bool) -> None:
    assert origin_allowed(origin, ALLOWED, required=required) is allowed
