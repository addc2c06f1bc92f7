"""Indicators of compromise: checked, normalised, and written as STIX 2.1 patterns.

An incident records indicators as ``(type, value)`` pairs. Each value is checked for its type
(an address that parses, a hash of the right length...), put in one canonical spelling (so that
one indicator is one STIX object whatever the analyst typed), then written as a STIX pattern
(STIX 2.1 section 9) that the OASIS pattern grammar (``stix2-patterns``) must accept.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stix2patterns.validator import run_validator

from panacea.sharing.errors import IncidentError
from panacea.sharing.incident_vocabulary import IndicatorType

MAX_VALUE = 2048
_HEX = {IndicatorType.SHA256: 64, IndicatorType.MD5: 32}
# RFC 1035 section 2.3.1 labels (letters, digits, hyphens; no hyphen at either end), at most 63
# octets each and 253 in all (RFC 1034 section 3.1, without the final dot).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 5322 section 3.2.3 atext, with dots between atoms (dot-atom); quoted local parts refused.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# The object path each type is matched on (STIX 2.1 sections 6.x, hashes per 10.7).
_PATH = {
    IndicatorType.IPV4: "ipv4-addr:value",
    IndicatorType.IPV6: "ipv6-addr:value",
    IndicatorType.DOMAIN: "domain-name:value",
    IndicatorType.URL: "url:value",
    IndicatorType.EMAIL: "email-addr:value",
    IndicatorType.SHA256: "file:hashes.'SHA-256'",
    IndicatorType.MD5: "file:hashes.MD5",
}
_TYPE_OF_PATH = {path: kind for kind, path in _PATH.items()}
_SIMPLE_PATTERN = re.compile(
    r"^\[(?P<path>[a-z0-9-]+:[A-Za-z0-9_.'-]+) = '(?P<value>(?:[^'\\]|\\.)*)'\]$"
)


@dataclass(frozen=True, order=True)
class IndicatorValue:
    """A checked indicator in its canonical spelling."""

    type: IndicatorType
    value: str

    @property
    def pattern(self) -> str:
        """The STIX pattern that matches exactly this indicator."""
        return f"[{_PATH[self.type]} = '{escape_literal(self.value)}']"

    def as_json(self) -> dict[str, str]:
        return {"type": self.type.value, "value": self.value}


def escape_literal(value: str) -> str:
    """A STIX pattern string literal's content: backslash and quote escaped (STIX 2.1, 9.2)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _unescape_literal(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _domain(value: str, field: str) -> str:
    name = value.strip().rstrip(".").lower()
    try:
        # Internationalised names travel in their ASCII form (RFC 5890 A-labels).
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise IncidentError(f"{field}: {value!r} is not a domain name") from e
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise IncidentError(f"{field}: {value!r} is not a domain name")
    return ascii_name


def _address(kind: IndicatorType, value: str, field: str) -> str:
    version = 4 if kind is IndicatorType.IPV4 else 6
    try:
        # A network (CIDR) is allowed: STIX ipv4-addr/ipv6-addr values may be CIDR blocks.
        parsed = (
            ipaddress.ip_network(value, strict=True)
            if "/" in value
            else ipaddress.ip_address(value)
        )
    except ValueError as e:
        raise IncidentError(f"{field}: {value!r} is not an IPv{version} address: {e}") from e
    if parsed.version != version:
        raise IncidentError(f"{field}: {value!r} is an IPv{parsed.version} address")
    return str(parsed)


def _url(value: str, field: str) -> str:
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise IncidentError(f"{field}: a URL has no spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError as e:
        raise IncidentError(f"{field}: {value!r} is not a URL: {e}") from e
    if not _SCHEME.match(parts.scheme) or not parts.netloc:
        raise IncidentError(f"{field}: {value!r} is not an absolute URL (scheme://host/...)")
    return value


def _email(value: str, field: str) -> str:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_PART.match(local):
        raise IncidentError(f"{field}: {value!r} is not an e-mail address")
    return f"{local}@{_domain(domain, field)}"


def indicator(kind: IndicatorType | str, value: str, *, field: str = "indicator") -> IndicatorValue:
    """The checked, canonical indicator; raises IncidentError naming ``field`` and the value."""
    try:
        kind = IndicatorType(kind)
    except ValueError as e:
        known = ", ".join(t.value for t in IndicatorType)
        raise IncidentError(f"{field}: unknown indicator type {kind!r} (one of {known})") from e
    value = value.strip()
    if not value or len(value) > MAX_VALUE:
        raise IncidentError(f"{field}: a {kind.value} value has 1 to {MAX_VALUE} characters")
    if kind in _HEX:
        if not re.fullmatch(rf"[0-9A-Fa-f]{{{_HEX[kind]}}}", value):
            raise IncidentError(f"{field}: {value!r} is not a {kind.value} hash")
        canonical = value.lower()
    elif kind in (IndicatorType.IPV4, IndicatorType.IPV6):
        canonical = _address(kind, value, field)
    elif kind is IndicatorType.DOMAIN:
        canonical = _domain(value, field)
    elif kind is IndicatorType.URL:
        canonical = _url(value, field)
    else:
        canonical = _email(value, field)
    checked = IndicatorValue(kind, canonical)
    errors = run_validator(checked.pattern)
    if errors:
        raise IncidentError(f"{field}: {value!r} gives an invalid STIX pattern: {errors[0]}")
    return checked


def from_pattern(pattern: str) -> IndicatorValue | None:
    """The indicator a simple equality pattern matches (as :meth:`IndicatorValue.pattern`
    writes them), or None for any other pattern."""
    match = _SIMPLE_PATTERN.match(pattern.strip())
    if match is None:
        return None
    kind = _TYPE_OF_PATH.get(match["path"])
    if kind is None:
        return None
    try:
        return indicator(kind, _unescape_literal(match["value"]))
    except IncidentError:
        return None
