"""NSE results: the ``vulns`` library's states and ids, the vulners script, host scripts' ports.

The XML snippets are the ``@xmloutput`` nmap 7.93 documents for each script (``/usr/share/nmap/
scripts/*.nse``); ``vulns.STATE_MSG`` in ``nselib/vulns.lua`` lists every state text.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

from panacea.findings.vocabulary import Confidence
from panacea.inventory.importers.nmap_scripts import (
    NseState,
    NseVulnerability,
    host_script_ports,
    nse_state,
    script_vulnerabilities,
    vulners_cves,
)

# smb2-vuln-uptime writes the CVE without its prefix, keyed by the bare number (description cut).
SMB2_VULN_UPTIME = """<script id="smb2-vuln-uptime" output="...">
<table key="2017-0147">
<elem key="title">MS17-010: Security update for Windows SMB Server</elem>
<elem key="state">LIKELY VULNERABLE</elem>
<table key="ids">
<elem>CVE:2017-0147</elem>
<elem>ms:ms17-010</elem>
</table>
<table key="refs">
<elem>https://cve.mitre.org/cgi-bin/cvename.cgi?name=2017-0147</elem>
<elem>https://technet.microsoft.com/en-us/library/security/ms17-010.aspx</elem>
</table>
</table>
</script>"""

# A vulnerability with no CVE (keyed by its other id) cannot become a finding.
NO_CVE = """<script id="http-vuln-misfortune-cookie" output="...">
<table key="NMAP-1">
<elem key="title">RomPager 4.07 Misfortune Cookie</elem>
<elem key="state">VULNERABLE</elem>
</table>
</script>"""

VULNERS = """<script id="vulners" output="...">
<table key="cpe:/a:isc:bind:9.8.2rc1">
<table>
<elem key="is_exploit">false</elem>
<elem key="cvss">8.5</elem>
<elem key="id">CVE-2012-1667</elem>
<elem key="type">cve</elem>
</table>
<table>
<elem key="is_exploit">true</elem>
<elem key="cvss">0.0</elem>
<elem key="id">EDB-ID:45233</elem>
<elem key="type">exploitdb</elem>
</table>
</table>
</script>"""

HTTP_TITLE = """<script id="http-title" output="PACS viewer"><elem key="title">PACS viewer</elem>
</script>"""


def _script(xml: str) -> Element:
    element: Element = SafeET.fromstring(xml)
    return element


@pytest.mark.parametrize(
    ("text", "state", "confidence"),
    [
        ("VULNERABLE", NseState.VULNERABLE, Confidence.CONFIRMED),
        ("VULNERABLE (DoS)", NseState.VULNERABLE, Confidence.CONFIRMED),
        ("VULNERABLE (Exploitable)", NseState.VULNERABLE, Confidence.CONFIRMED),
        ("LIKELY VULNERABLE", NseState.LIKELY_VULNERABLE, Confidence.POTENTIAL),
        ("NOT VULNERABLE", NseState.NOT_VULNERABLE, None),
        ("UNKNOWN (unable to test)", NseState.UNKNOWN, None),
        ("", NseState.UNKNOWN, None),
    ],
)
def test_state_texts_of_the_vulns_library(
    text: str, state: NseState, confidence: Confidence | None
) -> None:
    found = NseVulnerability("smb-vuln-ms08-067", "CVE-2008-4250", text, "")

    assert nse_state(text) is state
    assert found.confidence is confidence


def test_cve_written_without_prefix_is_normalised() -> None:
    (found,) = script_vulnerabilities(_script(SMB2_VULN_UPTIME))

    assert found == NseVulnerability(
        "smb2-vuln-uptime",
        "CVE-2017-0147",
        "LIKELY VULNERABLE",
        "MS17-010: Security update for Windows SMB Server",
    )
    assert found.evidence == (
        "nmap smb2-vuln-uptime: State: LIKELY VULNERABLE "
        "(MS17-010: Security update for Windows SMB Server)"
    )


@pytest.mark.parametrize("xml", [NO_CVE, HTTP_TITLE, VULNERS], ids=["no-cve", "title", "vulners"])
def test_scripts_without_a_cve_in_a_vulns_table_report_nothing(xml: str) -> None:
    assert script_vulnerabilities(_script(xml)) == []


def test_vulners_lists_only_cve_ids_and_other_scripts_none() -> None:
    assert vulners_cves(_script(VULNERS)) == ["CVE-2012-1667"]
    assert vulners_cves(_script(SMB2_VULN_UPTIME)) == []


@pytest.mark.parametrize(
    ("script_id", "ports"),
    [
        ("smb-vuln-ms17-010", (445, 139)),
        ("smb2-vuln-uptime", (445, 139)),
        ("samba-vuln-cve-2012-1182", (445, 139)),
        ("firewalk", ()),
    ],
)
def test_host_scripts_belong_to_the_port_they_ran_over(
    script_id: str, ports: tuple[int, ...]
) -> None:
    assert host_script_ports(script_id) == ports
