"""CPE names: CPE 2.3 formatted strings, CPE 2.2 URIs (nmap), escaping and attribute matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panacea.vulndb.cpe import (
    ANY,
    NA,
    CpeError,
    parse_cpe,
    unescape,
    uri_to_formatted,
    value_matches,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Ripple20 as NVD writes it (CVE-2020-11896): the slash is escaped.
        ("cpe:2.3:a:treck:tcp\\/ip:*:*:*:*:*:*:*:*", "cpe:2.3:a:treck:tcp\\/ip:*:*:*:*:*:*:*:*"),
        # A careless writer's bare slash is quoted the same way.
        ("cpe:2.3:a:treck:tcp/ip:6.0.1.41", "cpe:2.3:a:treck:tcp\\/ip:6.0.1.41:*:*:*:*:*:*:*"),
        # Case folds; a needlessly escaped hyphen is unescaped (NISTIR 7695 6.2.2).
        ("CPE:2.3:A:Apache:Log4j:2.0\\-beta9", "cpe:2.3:a:apache:log4j:2.0-beta9:*:*:*:*:*:*:*"),
        (
            "cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:*:*",
            "cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:*:*",
        ),
        # An escaped colon does not separate components.
        ("cpe:2.3:a:vendor:a\\:b:1.0", "cpe:2.3:a:vendor:a\\:b:1.0:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:vendor:prod::1", "cpe:2.3:a:vendor:prod:*:1:*:*:*:*:*:*"),
    ],
)
def test_formatted_strings_parse_to_canonical_form(text: str, expected: str) -> None:
    assert str(parse_cpe(text)) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("cpe:/a:apache:http_server:2.4.49", "cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*"),
        ("cpe:/o:microsoft:windows_7::sp1", "cpe:2.3:o:microsoft:windows_7:*:sp1:*:*:*:*:*:*"),
        ("cpe:/a:openbsd:openssh", "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*"),
        (
            "cpe:/o:microsoft:windows_server_2008:r2:-",
            "cpe:2.3:o:microsoft:windows_server_2008:r2:-:*:*:*:*:*:*",
        ),
        # Percent-encoding decodes, then quotes: %2f is "/", %20 a blank.
        ("cpe:/a:treck:tcp%2fip:6.0.1.66", "cpe:2.3:a:treck:tcp\\/ip:6.0.1.66:*:*:*:*:*:*:*"),
        ("cpe:/a:treck:tcp/ip", "cpe:2.3:a:treck:tcp\\/ip:*:*:*:*:*:*:*:*"),
        ("cpe:/a:vendor:prod:1.0%2b", "cpe:2.3:a:vendor:prod:1.0\\+:*:*:*:*:*:*:*"),
        # %01 and %02 are the "?" and "*" wildcards (NISTIR 7695 6.1.3).
        ("cpe:/a:vendor:prod:1.%02", "cpe:2.3:a:vendor:prod:1.*:*:*:*:*:*:*:*"),
        # A packed edition unpacks into edition, sw_edition, target_sw, target_hw, other.
        (
            "cpe:/a:vendor:prod:1.0::~~~wordpress~x64~",
            "cpe:2.3:a:vendor:prod:1.0:*:*:*:*:wordpress:x64:*",
        ),
        ("cpe:/a:vendor:prod:1.0::pro:en", "cpe:2.3:a:vendor:prod:1.0:*:pro:en:*:*:*:*"),
    ],
)
def test_uris_bind_to_formatted_strings(uri: str, expected: str) -> None:
    assert uri_to_formatted(uri) == expected
    assert str(parse_cpe(uri)) == expected


def test_components_keep_formatted_string_escaping() -> None:
    name = parse_cpe("cpe:2.3:a:treck:tcp\\/ip:6.0.1.41:*:*:*:*:*:*:*")
    assert (name.part, name.vendor, name.product, name.version) == (
        "a",
        "treck",
        "tcp\\/ip",
        "6.0.1.41",
    )
    assert name.vendor_product == ("treck", "tcp\\/ip")
    assert unescape(name.product) == "tcp/ip"


def test_missing_trailing_components_are_any() -> None:
    name = parse_cpe("cpe:2.3:a:apache:log4j")
    assert name.version == ANY
    assert name.other == ANY
    assert parse_cpe("cpe:2.3:a:netapp:cloud_backup:-").version == NA
    assert parse_cpe("cpe:2.3:a:vendor:product:\\-").version == "\\-"  # a literal hyphen


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("apache:log4j:2.0", "not a CPE name"),
        ("cpe:2.3:x:apache:log4j", "part must be a, o or h"),
        ("cpe:2.3:a:b:c:d:e:f:g:h:i:j:k:l", "at most 11"),
        ("cpe:/a:b:c:d:e:f:g:h", "at most 7"),
        ("cpe:/a:b:c:d::~only~three~", "packed edition"),
    ],
)
def test_bad_names_raise_naming_the_string(text: str, fragment: str) -> None:
    with pytest.raises(CpeError, match=fragment) as caught:
        parse_cpe(text)
    assert repr(text) in str(caught.value)


def test_uri_to_formatted_rejects_formatted_strings() -> None:
    with pytest.raises(CpeError, match=r"not a CPE 2\.2 URI"):
        uri_to_formatted("cpe:2.3:a:apache:log4j")


def test_with_version_escapes_the_raw_version() -> None:
    name = parse_cpe("cpe:/a:openbsd:openssh").with_version("8.9P1")
    assert str(name) == "cpe:2.3:a:openbsd:openssh:8.9p1:*:*:*:*:*:*:*"
    assert parse_cpe("cpe:2.3:a:v:p").with_version("1.0+b1").version == "1.0\\+b1"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (ANY, "anything", True),
        (ANY, NA, True),
        (NA, NA, True),
        (NA, "1.0", False),
        ("1.0", ANY, False),
        ("sp1", "sp1", True),
        ("sp1", "sp2", False),
        ("1.*", "1.2.3", True),
        ("*beta", "2.0beta", True),
        ("1.?", "1.2", True),
        ("1.?", "1.23", False),
        ("1.\\*", "1.2", False),
    ],
)
def test_value_matching(pattern: str, value: str, expected: bool) -> None:
    assert value_matches(pattern, value) is expected


_VALUE = st.from_regex(r"[a-z0-9_.]{1,6}(\\[/:+!~])?[a-z0-9]{0,3}", fullmatch=True)


@given(st.sampled_from("aoh"), st.lists(_VALUE, min_size=10, max_size=10))
def test_canonical_formatted_strings_round_trip(part: str, values: list[str]) -> None:
    text = "cpe:2.3:" + ":".join([part, *values])
    name = parse_cpe(text)
    assert str(name) == text
    assert parse_cpe(str(name)) == name


@given(st.from_regex(r"[a-z0-9][a-z0-9_.\-/+]{0,10}", fullmatch=True))
def test_uri_value_survives_binding(literal: str) -> None:
    name = parse_cpe(f"cpe:/a:vendor:{literal}")
    assert unescape(name.product) == literal or literal == "-"
