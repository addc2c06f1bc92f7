"""What a CVSS vector says about an exploit's preconditions and effects (docs/risk-model.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

# CVSS v3.x exploitability weights (FIRST CVSS v3.1 specification, section 7.4).
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62, "P": 0.62, "A": 0.5}
_AT = {"N": 1.0, "P": 0.6}
_MAX_EXPLOITABILITY = 8.22 * 0.85 * 0.77 * 0.85 * 0.85

# Path traversal reads (or writes) files; NVD often scores it C:H/I:H/A:H, but what attackers
# get from it is the files, e.g. the SSL-VPN session files of CVE-2018-13379, not a shell.
FILE_ACCESS_CWES = frozenset({"CWE-22", "CWE-23", "CWE-35", "CWE-36"})

# CWEs whose exploitation discloses stored secrets (credentials, session tokens).
CREDENTIAL_CWES = frozenset(
    {
        "CWE-22",
        "CWE-23",
        "CWE-200",
        "CWE-256",
        "CWE-312",
        "CWE-522",
        "CWE-532",
        "CWE-538",
        "CWE-798",
        "CWE-119",
        "CWE-125",
        "CWE-613",
        "CWE-287",
    }
)


class Effect(StrEnum):
    CODE_EXEC_ADMIN = "code_exec_admin"
    CODE_EXEC_USER = "code_exec_user"
    DISCLOSURE = "disclosure"
    TAMPERING = "tampering"
    DENIAL = "denial"


@dataclass(frozen=True)
class VectorSemantics:
    """Attack vector, privileges and interaction required, and what success gives."""

    attack_vector: str  # N, A, L, P
    privileges: str  # N, L, H
    user_interaction: bool
    exploitability: float  # 0..1
    effects: frozenset[Effect]


def _metrics(vector: str) -> dict[str, str]:
    parts = vector.split("/")
    return dict(p.split(":", 1) for p in parts[1:] if ":" in p)


@functools.lru_cache(maxsize=4096)  # a hospital has thousands of findings, few distinct vectors
def semantics(vector: str | None, cwes: frozenset[str] = frozenset()) -> VectorSemantics:
    """Read a CVSS v3.x or v4.0 vector; without one, assume a network code-execution flaw.

    Effects: a path-traversal CWE gives disclosure (and tampering if I:H), whatever the impact
    metrics say. Otherwise confidentiality, integrity and availability all High (v4: VC, VI,
    VA) is code execution, as admin when it needs no privileges over the network or raises
    local privileges; else High integrity is tampering, High confidentiality disclosure,
    availability alone denial of service.
    """
    if not vector:
        return VectorSemantics("N", "N", False, 0.5, frozenset({Effect.CODE_EXEC_USER}))
    m = _metrics(vector)
    v4 = vector.startswith("CVSS:4.0/")
    c, i, a = (
        (m.get("VC"), m.get("VI"), m.get("VA")) if v4 else (m.get("C"), m.get("I"), m.get("A"))
    )
    av, pr = m.get("AV", "N"), m.get("PR", "N")
    ui = m.get("UI", "N") != "N"
    pr_weights = _PR_CHANGED if m.get("S") == "C" else _PR_UNCHANGED
    e = 8.22 * _AV.get(av, 0.85) * _AC.get(m.get("AC", "L"), 0.77) * pr_weights.get(pr, 0.85)
    e *= _UI.get(m.get("UI", "N"), 0.85) * (_AT.get(m.get("AT", "N"), 1.0) if v4 else 1.0)
    effects = _effects(c, i, a, av, pr)
    if cwes & FILE_ACCESS_CWES:
        effects = frozenset({Effect.DISCLOSURE} | ({Effect.TAMPERING} if i == "H" else set()))
    return VectorSemantics(av, pr, ui, min(1.0, e / _MAX_EXPLOITABILITY), effects)


def _effects(c: str | None, i: str | None, a: str | None, av: str, pr: str) -> frozenset[Effect]:
    if c == "H" and i == "H" and a == "H":
        admin = (av in {"N", "A"} and pr == "N") or (av == "L" and pr in {"L", "H"})
        return frozenset({Effect.CODE_EXEC_ADMIN if admin else Effect.CODE_EXEC_USER})
    effects = set()
    if i == "H":
        effects.add(Effect.TAMPERING)
    if c in {"H", "L"}:
        effects.add(Effect.DISCLOSURE)
    if a == "H":
        effects.add(Effect.DENIAL)
    return frozenset(effects or {Effect.DISCLOSURE})
