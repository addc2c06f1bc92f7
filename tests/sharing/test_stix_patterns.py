"""Indicators: checked per type, one canonical spelling, STIX patterns the OASIS grammar accepts,
and read back from the patterns they were written as."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls
from stix2patterns.validator import run_validator

from panacea.sharing.errors import IncidentError
from panacea.sharing.incident_vocabulary import IndicatorType
from panacea.sharing.indicators import escape_literal, from_pattern, indicator


@pytest.mark.parametrize(
    ("kind", "typed", "canonical", "pattern"),
    [
        ("ipv4", " 198.51.100.7 ", "198.51.100.7", "[ipv4-addr:value = '198.51.100.7']"),
        ("ipv4", "203.0.113.0/24", "203.0.113.0/24", "[ipv4-addr:value = '203.0.113.0/24']"),
        ("ipv6", "2001:DB8:0::1", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
        ("domain", "Evil.Example.", "evil.example", "[domain-name:value = 'evil.example']"),
        ("domain", "bücher.example", "xn--bcher-kva.example", None),
        ("url", "http://a.example/x'y\\z", "http://a.example/x'y\\z", None),
        ("sha256", "AB" * 32, "ab" * 32, f"[file:hashes.'SHA-256' = '{'ab' * 32}']"),
        ("md5", "0" * 32, "0" * 32, f"[file:hashes.MD5 = '{'0' * 32}']"),
        ("email", "Billing@Update.Example", "Billing@update.example", None),
    ],
)
def test_values_are_normalised_and_patterned(
    kind: str, typed: str, canonical: str, pattern: str | None
) -> None:
    checked = indicator(kind, typed)
    assert checked.value == canonical
    if pattern is not None:
        assert checked.pattern == pattern
    assert run_validator(checked.pattern) == []
    assert from_pattern(checked.pattern) == checked


def test_quotes_and_backslashes_are_escaped_in_patterns() -> None:
    checked = indicator("url", "http://a.example/x'y\\z")
    assert checked.pattern == "[url:value = 'http://a.example/x\\'y\\\\z']"
    assert escape_literal("a'b\\") == "a\\'b\\\\"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("ipv4", "300.1.1.1", "is not an IPv4 address"),
        ("ipv4", "2001:db8::1", "is an IPv6 address"),
        ("ipv4", "10.0.0.1/8", "is not an IPv4 address"),  # host bits set
        ("ipv6", "198.51.100.7", "is an IPv4 address"),
        ("domain", "localhost", "is not a domain name"),
        ("domain", "-bad-.example", "is not a domain name"),
        ("domain", "a" * 64 + ".example", "is not a domain name"),
        ("url", "evil.example/path", "is not an absolute URL"),
        ("url", "http://a.example/ x", "no spaces"),
        ("sha256", "ab" * 31, "is not a sha256 hash"),
        ("md5", "zz" * 16, "is not a md5 hash"),
        ("email", "no-at-sign.example", "is not an e-mail address"),
        ("email", '"quoted"@a.example', "is not an e-mail address"),
        ("ftp", "x", "unknown indicator type 'ftp'"),
        ("ipv4", "", "1 to 2048 characters"),
    ],
)
def test_bad_values_are_refused_naming_the_field(kind: str, value: str, message: str) -> None:
    with pytest.raises(IncidentError, match=message) as caught:
        indicator(kind, value, field="indicators[3]")
    assert str(caught.value).startswith("indicators[3]: ")


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.7'] AND [domain-name:value = 'evil.example']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        "[process:name = 'evil.exe']",
        "[ipv4-addr:value = 'not-an-address']",
        "not a pattern",
    ],
)
def test_other_patterns_read_as_nothing_simple(pattern: str) -> None:
    assert from_pattern(pattern) is None


VALUES = {
    IndicatorType.IPV4: st.ip_addresses(v=4).map(str),
    IndicatorType.IPV6: st.ip_addresses(v=6).map(str),
    IndicatorType.DOMAIN: domains(),
    IndicatorType.URL: urls(),
    IndicatorType.SHA256: st.binary(min_size=32, max_size=32).map(bytes.hex),
    IndicatorType.MD5: st.binary(min_size=16, max_size=16).map(bytes.hex),
    IndicatorType.EMAIL: st.emails(),
}


@given(data=st.data(), kind=st.sampled_from(IndicatorType))
@settings(max_examples=300, deadline=None)
def test_accepted_values_make_valid_patterns_that_read_back(
    data: st.DataObject, kind: IndicatorType
) -> None:
    value = data.draw(VALUES[kind])
    try:
        checked = indicator(kind, value)
    except IncidentError:
        return  # refused at input (say, a quoted local part): nothing is emitted
    assert run_validator(checked.pattern) == []
    assert from_pattern(checked.pattern) == checked
    assert indicator(kind, checked.value) == checked  # the canonical form is a fixed point
