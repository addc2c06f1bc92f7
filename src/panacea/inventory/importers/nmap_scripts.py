"""What the results of nmap's NSE scripts say about vulnerabilities.

Scripts built on nmap's ``vulns`` library (``nselib/vulns.lua``: ``smb-vuln-*``, ``http-vuln-*``,
``ssl-heartbleed`` ...) write one ``<table>`` per vulnerability, keyed by its CVE (or another id),
holding ``<elem key="state">`` with one of ``vulns.STATE_MSG``: ``VULNERABLE``, ``VULNERABLE
(DoS)``, ``VULNERABLE (Exploitable)``, ``LIKELY VULNERABLE``, ``NOT VULNERABLE`` (shown only with
``--script-args vulns.showall``) or ``UNKNOWN (unable to test)``, and ``<table key="ids">`` with
``CVE:CVE-2017-0143``-style entries. Those scripts probe the service, so VULNERABLE is proof.

The ``vulners`` script only looks the detected version up in an online database; what it lists
is not proof and never becomes a confirmed finding (version matching covers that ground).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from xml.etree.ElementTree import Element

from panacea.findings.vocabulary import Confidence

VULNERS_SCRIPT = "vulners"
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
# Some scripts write the CVE id without its prefix (smb2-vuln-uptime: "CVE:2017-0147").
_BARE_CVE = re.compile(r"\d{4}-\d{4,}")

# Host scripts (hostrule) report for the host, not a port; these run over SMB, so a result
# belongs on the SMB endpoint nmap would have used (smb.get_port: 445, else 139).
_HOST_SCRIPT_PORTS: dict[str, tuple[int, ...]] = {
    "smb": (445, 139),
    "smb2": (445, 139),
    "samba": (445, 139),
}


class NseState(StrEnum):
    """What a ``vulns`` state text means for a finding."""

    VULNERABLE = "vulnerable"
    LIKELY_VULNERABLE = "likely_vulnerable"
    NOT_VULNERABLE = "not_vulnerable"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NseVulnerability:
    """One CVE a ``vulns``-library script reported, with the state it reported."""

    script_id: str
    cve_id: str
    state_text: str
    title: str

    @property
    def state(self) -> NseState:
        return nse_state(self.state_text)

    @property
    def confidence(self) -> Confidence | None:
        """CONFIRMED when the script proved it, POTENTIAL when likely, None otherwise."""
        if self.state is NseState.VULNERABLE:
            return Confidence.CONFIRMED
        if self.state is NseState.LIKELY_VULNERABLE:
            return Confidence.POTENTIAL
        return None

    @property
    def evidence(self) -> str:
        """The script and the state line it printed, e.g. for a finding's evidence."""
        title = f" ({self.title})" if self.title else ""
        return f"nmap {self.script_id}: State: {self.state_text}{title}"


def nse_state(text: str) -> NseState:
    """Classify a ``vulns`` state text (``VULNERABLE (Exploitable)`` -> VULNERABLE)."""
    normalised = " ".join(text.upper().split())
    if normalised.startswith("NOT VULNERABLE"):
        return NseState.NOT_VULNERABLE
    if normalised.startswith("LIKELY VULNERABLE"):
        return NseState.LIKELY_VULNERABLE
    if normalised.startswith("VULNERABLE"):
        return NseState.VULNERABLE
    return NseState.UNKNOWN


def script_vulnerabilities(script: Element) -> list[NseVulnerability]:
    """The CVEs a ``<script>`` element reports through the ``vulns`` library, one per CVE.

    Tables without a state, and vulnerabilities without a CVE id, are left out: a finding is
    keyed by CVE. Returns an empty list for scripts that do not use the library.
    """
    script_id = script.get("id", "")
    found: list[NseVulnerability] = []
    for table in script.findall("table"):
        state = _elem_text(table, "state")
        if state is None:
            continue
        title = _elem_text(table, "title") or ""
        for cve_id in _cve_ids(table):
            found.append(NseVulnerability(script_id, cve_id, state, title))
    return found


def vulners_cves(script: Element) -> list[str]:
    """The CVE ids the ``vulners`` script lists (not proof of anything); [] for other scripts."""
    if script.get("id") != VULNERS_SCRIPT:
        return []
    listed = (_elem_text(entry, "id") or "" for entry in script.iter("table"))
    return sorted({cve.upper() for cve in listed if _CVE.fullmatch(cve)})


def host_script_ports(script_id: str) -> tuple[int, ...]:
    """Ports (TCP, in order of preference) a host script's result belongs to; () if none."""
    family = script_id.split("-", 1)[0]
    return _HOST_SCRIPT_PORTS.get(family, ())


def _elem_text(table: Element, key: str) -> str | None:
    for elem in table.findall("elem"):
        if elem.get("key") == key:
            return (elem.text or "").strip()
    return None


def _cve_ids(table: Element) -> list[str]:
    ids: list[str] = []
    for ids_table in table.findall("table"):
        if ids_table.get("key") != "ids":
            continue
        for elem in ids_table.findall("elem"):
            kind, _, value = (elem.text or "").strip().partition(":")
            if kind.upper() == "CVE":
                ids.append(_as_cve(value))
    if not ids:
        ids.append(_as_cve(table.get("key", "")))
    return sorted({cve for cve in ids if cve})


def _as_cve(value: str) -> str:
    value = value.strip().upper()
    if _CVE.fullmatch(value):
        return value
    if _BARE_CVE.fullmatch(value):
        return f"CVE-{value}"
    return ""
