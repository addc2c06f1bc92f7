"""Which CPE names a CVE applies to: NVD ``configurations`` compiled and evaluated.

A CVE's configurations (NVD API 2.0) are a list; the CVE applies when any configuration holds.
A configuration joins its nodes with ``operator`` (AND/OR, default OR); a node joins its
``cpeMatch`` entries the same way; either may be negated. A cpeMatch entry names a CPE pattern
(``criteria``), whether that product is the vulnerable one (``vulnerable``) or only a platform it
must run on, and optionally a version range.

Everything here works on the CPE names of *one* asset: an AND configuration such as
"application X on operating system Y" holds only when the asset carries both names. The names
that satisfy ``vulnerable: true`` entries of holding configurations are the ones that get findings.

Attribute matching follows NISTIR 7696 with one deliberate widening: an attribute the inventory
leaves ANY (unknown, e.g. nmap's ``cpe:/o:microsoft:windows_7::sp1`` has no edition) does not rule
a match out, because the question is whether the asset *may* be vulnerable. The version is the
exception: an unknown version matches only criteria for all versions (``*`` without a range) or
for unversioned products (``-``), never a specific version or a range. A ``-`` criterion does not
match a specific version: NVD tells Windows Server 2008 (``-``) from 2008 R2 (``r2``) that way.

Versions compare by ``versions.compare_versions``. NVD splits some versions over version and
update (OpenSSH ``8.5`` + ``p1``) and names some products by release only (Citrix ADC ``13.0``
for every ``13.0-xx.yy`` build); scanners write ``8.5p1`` and the build. Both are matched.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from panacea.vulndb.cpe import ANY, NA, Cpe, CpeError, parse_cpe, unescape, value_matches
from panacea.vulndb.versions import compare_versions, is_build_of

log = logging.getLogger(__name__)

_RANGE_FIELDS = (
    "versionStartIncluding",
    "versionStartExcluding",
    "versionEndIncluding",
    "versionEndExcluding",
)
# The attributes besides part/vendor/product/version/update, where unknown never rules out.
_OPEN_ATTRIBUTES = ("edition", "language", "sw_edition", "target_sw", "target_hw", "other")


@dataclass(frozen=True)
class VersionRange:
    """NVD's version bounds; any of them may be absent."""

    start_including: str | None = None
    start_excluding: str | None = None
    end_including: str | None = None
    end_excluding: str | None = None

    @property
    def bounded(self) -> bool:
        return any(bound is not None for bound in self._bounds())

    def contains(self, version: str) -> bool:
        """Whether ``version`` lies within every bound that is present."""
        # The comparison results each bound accepts: start-including accepts equal or newer, ...
        accepted = ((0, 1), (1,), (-1, 0), (-1,))
        return all(
            bound is None or compare_versions(version, bound) in ok
            for bound, ok in zip(self._bounds(), accepted, strict=True)
        )

    def __str__(self) -> str:
        named = zip(_RANGE_FIELDS, self._bounds(), strict=True)
        return ", ".join(f"{name} {bound}" for name, bound in named if bound is not None)

    def _bounds(self) -> tuple[str | None, ...]:
        return (self.start_including, self.start_excluding, self.end_including, self.end_excluding)


@dataclass(frozen=True)
class CpeMatchRule:
    """One ``cpeMatch`` entry."""

    criteria: Cpe
    vulnerable: bool
    versions: VersionRange

    @cached_property
    def description(self) -> str:
        """The criteria and its range, for evidence: ``cpe:2.3:a:... versionEndExcluding 9.8``."""
        bounds = str(self.versions)
        return f"{self.criteria} {bounds}" if bounds else str(self.criteria)

    def matches(self, name: Cpe) -> bool:
        """Whether the asset's CPE ``name`` falls under this entry (see the module docstring)."""
        pattern = self.criteria
        if not all(
            value_matches(wanted, have)
            for wanted, have in (
                (pattern.part, name.part),
                (pattern.vendor, name.vendor),
                (pattern.product, name.product),
            )
        ):
            return False
        for attribute in _OPEN_ATTRIBUTES:
            if not _open_match(getattr(pattern, attribute), getattr(name, attribute)):
                return False
        return self._version_matches(name)

    def _version_matches(self, name: Cpe) -> bool:
        pattern = self.criteria
        if pattern.version == ANY and not self.versions.bounded:
            return _open_match(pattern.update, name.update)
        if pattern.version == NA:
            return name.version in (ANY, NA) and _open_match(pattern.update, name.update)
        full = _full_version(name)
        if full is None:
            return False
        if pattern.version == ANY:
            return self.versions.contains(full) and _open_match(pattern.update, name.update)
        return _specific_version_matches(pattern, name, full)


@dataclass(frozen=True)
class Node:
    operator: str
    negate: bool
    rules: tuple[CpeMatchRule, ...]


@dataclass(frozen=True)
class Configuration:
    operator: str
    negate: bool
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Applicability:
    """A CVE's compiled configurations and the ``(vendor, product)`` pairs they mention."""

    cve_id: str
    configurations: tuple[Configuration, ...]
    products: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Applies:
    """The CVE applies to the asset's ``name`` through ``rule``."""

    cve_id: str
    name: Cpe
    rule: CpeMatchRule


def compile_configurations(
    cve_id: str, configurations: Sequence[Mapping[str, Any]]
) -> Applicability:
    """Compile NVD ``configurations`` of ``cve_id``.

    A cpeMatch entry whose ``criteria`` is not a CPE name is left out and logged (the rest of the
    record still counts), so one damaged record cannot stop matching for everyone.
    """
    compiled = []
    for configuration in configurations:
        nodes = tuple(_compile_node(cve_id, node) for node in configuration.get("nodes", ()))
        operator = str(configuration.get("operator", "OR")).upper()
        compiled.append(Configuration(operator, bool(configuration.get("negate")), nodes))
    products = frozenset(
        rule.criteria.vendor_product for c in compiled for node in c.nodes for rule in node.rules
    )
    return Applicability(cve_id, tuple(compiled), products)


def evaluate(applicability: Applicability, names: Collection[Cpe]) -> list[Applies]:
    """The asset ``names`` that ``applicability`` makes vulnerable, one entry per name.

    ``names`` are all CPE names of one asset (its OS, endpoints, components). Returns an empty
    list when no configuration holds; a name matched by several entries is reported once, with
    the first entry that matched it.
    """
    by_product: dict[tuple[str, str], list[Cpe]] = {}
    for name in names:
        by_product.setdefault(name.vendor_product, []).append(name)
    applies: dict[Cpe, Applies] = {}
    for configuration in applicability.configurations:
        for name, rule in _configuration_matches(configuration, by_product):
            applies.setdefault(name, Applies(applicability.cve_id, name, rule))
    return list(applies.values())


def _configuration_matches(
    configuration: Configuration, by_product: Mapping[tuple[str, str], list[Cpe]]
) -> list[tuple[Cpe, CpeMatchRule]]:
    results = [_node_matches(node, by_product) for node in configuration.nodes]
    held = [matches for holds, matches in results if holds]
    combine = all if configuration.operator == "AND" else any
    holds = bool(results) and combine(holds for holds, _ in results)
    if configuration.negate or not holds:
        return []
    return [match for matches in held for match in matches]


def _node_matches(
    node: Node, by_product: Mapping[tuple[str, str], list[Cpe]]
) -> tuple[bool, list[tuple[Cpe, CpeMatchRule]]]:
    """Whether ``node`` holds, and the (name, rule) pairs of its vulnerable entries that matched."""
    per_rule = [
        [
            (name, rule)
            for name in by_product.get(rule.criteria.vendor_product, ())
            if rule.matches(name)
        ]
        for rule in node.rules
    ]
    combine = all if node.operator == "AND" else any
    holds = bool(per_rule) and combine(bool(matches) for matches in per_rule)
    if node.negate:
        return not holds, []
    vulnerable = [match for matches in per_rule for match in matches if match[1].vulnerable]
    return holds, vulnerable if holds else []


def _compile_node(cve_id: str, node: Mapping[str, Any]) -> Node:
    rules = []
    for entry in node.get("cpeMatch", ()):
        try:
            criteria = parse_cpe(str(entry["criteria"]))
        except (KeyError, CpeError) as error:
            log.warning("%s: cpeMatch entry left out: %s", cve_id, error)
            continue
        bounds = (entry.get(field) for field in _RANGE_FIELDS)
        versions = VersionRange(*(str(b) if b is not None else None for b in bounds))
        rules.append(CpeMatchRule(criteria, bool(entry.get("vulnerable", True)), versions))
    operator = str(node.get("operator", "OR")).upper()
    return Node(operator, bool(node.get("negate")), tuple(rules))


def _open_match(pattern: str, value: str) -> bool:
    return value == ANY or value_matches(pattern, value)


def _full_version(name: Cpe) -> str | None:
    """The asset's version with its update appended (``8.9`` + ``p1``), or None when unknown."""
    if name.version in (ANY, NA):
        return None
    if name.update in (ANY, NA):
        return unescape(name.version)
    return unescape(name.version) + unescape(name.update)


def _specific_version_matches(pattern: Cpe, name: Cpe, full: str) -> bool:
    """Criteria naming one version: equal versions, with NVD's ways of splitting them."""
    wanted = unescape(pattern.version)
    have = unescape(name.version)
    if "*" in pattern.version or "?" in pattern.version:
        return value_matches(pattern.version, name.version) and _open_match(
            pattern.update, name.update
        )
    if pattern.update == ANY:
        return is_build_of(have, wanted) or compare_versions(full, wanted) == 0
    if compare_versions(have, wanted) == 0 and _open_match(pattern.update, name.update):
        return True
    if pattern.update == NA:
        return False
    return name.update == ANY and compare_versions(have, wanted + unescape(pattern.update)) == 0
