"""CPE names: parsing CPE 2.3 formatted strings and CPE 2.2 URIs, and matching their components.

Components are kept in the CPE 2.3 *formatted string* escaping (NISTIR 7695 section 6.2): every
character other than an alphanumeric, ``_``, ``-`` or ``.`` carries a backslash (``tcp\\/ip``), an
unescaped ``*`` / ``?`` at either end of a value is a wildcard, ``*`` alone is ANY and ``-`` alone
is NA. Everything is lower-cased, as the matching rules of NISTIR 7696 compare case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import unquote

from panacea.errors import PanaceaError

ANY = "*"
NA = "-"
_FS_PREFIX = "cpe:2.3:"
_URI_PREFIX = "cpe:/"
_PARTS = {"a", "o", "h", ANY}
_COMPONENTS = 11
# NISTIR 7695 6.2.2: ".", "-" and "_" need no quoting in a formatted string.
_UNQUOTED = re.compile(r"[a-z0-9_.\-]")
# A colon that separates components: not preceded by an odd number of backslashes.
_FS_SEPARATOR = re.compile(r"(?<!\\)((?:\\\\)*):")
# CPE 2.2 "packed" edition (NISTIR 7695 6.1.3): ~edition~sw_edition~target_sw~target_hw~other.
_PACKED_FIELDS = 5


class CpeError(PanaceaError, ValueError):
    """A string that is not a CPE name; the message names it."""


@dataclass(frozen=True)
class Cpe:
    """The eleven attributes of a CPE name (a WFN), each in formatted-string escaping."""

    part: str
    vendor: str
    product: str
    version: str
    update: str
    edition: str
    language: str
    sw_edition: str
    target_sw: str
    target_hw: str
    other: str

    def __str__(self) -> str:
        return _FS_PREFIX + ":".join(self.values())

    def values(self) -> tuple[str, ...]:
        """The eleven attributes in CPE order (``dataclasses.astuple`` is too slow for matching)."""
        return (
            self.part,
            self.vendor,
            self.product,
            self.version,
            self.update,
            self.edition,
            self.language,
            self.sw_edition,
            self.target_sw,
            self.target_hw,
            self.other,
        )

    @property
    def vendor_product(self) -> tuple[str, str]:
        """(vendor, product), the key of the VulnerableProduct index."""
        return self.vendor, self.product

    def with_version(self, version: str) -> Cpe:
        """This name with ``version`` (raw text, escaped here) in place of its version."""
        return _versioned(self, version)


@lru_cache(maxsize=65536)
def parse_cpe(text: str) -> Cpe:
    """Parse a CPE 2.3 formatted string or a CPE 2.2 URI.

    Missing trailing components are ANY. Raises CpeError naming ``text`` when it is neither form,
    has too many components or an unknown part.
    """
    stripped = text.strip().lower()
    if stripped.startswith(_URI_PREFIX):
        stripped = uri_to_formatted(stripped)
    if not stripped.startswith(_FS_PREFIX):
        raise CpeError(f"not a CPE name (expected 'cpe:2.3:' or 'cpe:/'): {text!r}")
    values = _split_formatted(stripped[len(_FS_PREFIX) :])
    if len(values) > _COMPONENTS:
        raise CpeError(f"CPE name has {len(values)} components, at most 11 allowed: {text!r}")
    values += [ANY] * (_COMPONENTS - len(values))
    values = [_normalise_formatted(value) for value in values]
    if values[0] not in _PARTS:
        raise CpeError(f"CPE part must be a, o or h, not {values[0]!r}: {text!r}")
    return Cpe(*values)


def uri_to_formatted(uri: str) -> str:
    """Bind a CPE 2.2 URI (as nmap reports them) to a CPE 2.3 formatted string.

    Follows NISTIR 7695 6.1.3 (unbinding a URI): percent-encoded characters are decoded, empty
    components become ANY, ``-`` NA, and a packed edition (``~a~b~c~d~e``) is unpacked. Characters
    that 2.2 should have percent-encoded but tools leave raw (``/``, ``+``) are taken literally.
    Raises CpeError when ``uri`` does not start with ``cpe:/`` or has too many components.
    """
    text = uri.strip().lower()
    if not text.startswith(_URI_PREFIX):
        raise CpeError(f"not a CPE 2.2 URI (expected 'cpe:/'): {uri!r}")
    raw = text[len(_URI_PREFIX) :].split(":")
    if len(raw) > 7:
        raise CpeError(f"CPE URI has {len(raw)} components, at most 7 allowed: {uri!r}")
    raw += [""] * (7 - len(raw))
    edition = _unpack_edition(raw[5], uri)
    # Formatted-string order: ... update, edition, language, sw_edition, target_sw, ...
    values = [_uri_value(v) for v in raw[:5]] + edition[:1] + [_uri_value(raw[6])] + edition[1:]
    return _FS_PREFIX + ":".join(values)


def unescape(value: str) -> str:
    """The literal text of a formatted-string value: ``tcp\\/ip`` -> ``tcp/ip``."""
    return re.sub(r"\\(.)", r"\1", value)


def value_matches(pattern: str, value: str) -> bool:
    """Whether the CPE attribute ``value`` falls within ``pattern`` (NISTIR 7696 name matching).

    ANY in the pattern matches everything; NA only NA (or ANY); unescaped ``*`` / ``?`` at either
    end of the pattern match any run of characters / one character. A value that is ANY is matched
    only by ANY (its meaning is wider than the pattern's).
    """
    if pattern == ANY:
        return True
    if pattern == NA or value in (ANY, NA):
        return pattern == value
    if not _has_wildcard(pattern):
        return pattern == value
    return re.fullmatch(_wildcard_regex(pattern), value) is not None


@lru_cache(maxsize=65536)
def _versioned(name: Cpe, version: str) -> Cpe:
    return replace(name, version=_escape_value(version.strip().lower()))


def _split_formatted(body: str) -> list[str]:
    values: list[str] = []
    start = 0
    for separator in _FS_SEPARATOR.finditer(body):
        end = separator.end() - 1
        values.append(body[start:end])
        start = separator.end()
    values.append(body[start:])
    return values


def _normalise_formatted(value: str) -> str:
    """Quote what a careless writer left bare (``tcp/ip``) and unquote ``\\.`` ``\\-`` ``\\_``."""
    if value in ("", ANY):
        return ANY
    if value == "\\-":  # quoted, a hyphen is a literal, not NA
        return value
    tokens = re.findall(r"\\.|.", value)
    out = []
    for index, token in enumerate(tokens):
        literal = token[-1]
        wildcard = len(token) == 1 and literal in "*?" and index in (0, len(tokens) - 1)
        out.append(literal if wildcard or _UNQUOTED.fullmatch(literal) else "\\" + literal)
    return "".join(out)


def _uri_value(raw: str) -> str:
    if raw in ("", ANY):  # "*" is not 2.2, but hand-written inventories use it
        return ANY
    if raw == NA:
        return NA
    # NISTIR 7695 6.1.3: %01 and %02 are the ? and * wildcards, everything else percent-decodes.
    pieces = re.split(r"(%01|%02)", raw)
    wildcards = {"%01": "?", "%02": "*"}
    return "".join(wildcards.get(p) or _escape_value(unquote(p), empty="") for p in pieces)


def _escape_value(literal: str, *, empty: str = ANY) -> str:
    """Quote ``literal`` for a formatted string; empty text is ``empty``."""
    if literal == "":
        return empty
    return "".join(c if _UNQUOTED.fullmatch(c) else "\\" + c for c in literal)


def _unpack_edition(raw: str, uri: str) -> list[str]:
    if not raw.startswith("~"):
        return [_uri_value(raw), ANY, ANY, ANY, ANY]
    packed = raw[1:].split("~")
    if len(packed) != _PACKED_FIELDS:
        raise CpeError(f"CPE URI packed edition needs 5 '~' fields, got {raw!r}: {uri!r}")
    return [_uri_value(v) for v in packed]


def _has_wildcard(pattern: str) -> bool:
    chars = re.findall(r"\\.|.", pattern)
    return chars[0] in ("*", "?") or chars[-1] in ("*", "?")


def _wildcard_regex(pattern: str) -> str:
    chars = re.findall(r"\\.|.", pattern)
    wildcards = {"*": ".*", "?": "."}
    out = []
    for index, char in enumerate(chars):
        at_edge = index in (0, len(chars) - 1)
        out.append(wildcards[char] if at_edge and char in wildcards else re.escape(char))
    return "".join(out)
