"""Port sets of reachability rules: ``*`` or ``22,443,8000-8100``."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def port_ranges(ports: str) -> tuple[tuple[int, int], ...]:
    """``"22,8000-8100"`` -> ((22, 22), (8000, 8100)); ``"*"`` -> ((0, 65535),)."""
    out = []
    for part in ports.replace(" ", "").split(","):
        if part in {"*", ""}:
            out.append((0, 65535))
            continue
        low, _, high = part.partition("-")
        out.append((int(low), int(high or low)))
    return tuple(out)


def allows(rule_protocol: str, rule_ports: str, protocol: str, port: int) -> bool:
    """Whether a rule for ``rule_protocol``/``rule_ports`` lets ``protocol``/``port`` through."""
    if rule_protocol not in {"any", protocol}:
        return False
    return any(low <= port <= high for low, high in port_ranges(rule_ports))
