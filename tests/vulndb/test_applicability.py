"""NVD configurations evaluated against the CPE names of one asset, on real NVD records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from panacea.vulndb.applicability import (
    Applicability,
    VersionRange,
    compile_configurations,
    evaluate,
)
from panacea.vulndb.cpe import parse_cpe


@pytest.fixture(scope="module")
def nvd(shared_data: Path) -> dict[str, Applicability]:
    compiled = {}
    for path in sorted((shared_data / "nvd").glob("CVE-*.json")):
        record = json.loads(path.read_text())
        compiled[record["id"]] = compile_configurations(
            record["id"], record.get("configurations", [])
        )
    return compiled


def _vulnerable(applicability: Applicability, *names: str) -> set[str]:
    return {str(a.name) for a in evaluate(applicability, [parse_cpe(n) for n in names])}


def _matched(applicability: Applicability, *names: str) -> bool:
    return bool(_vulnerable(applicability, *names))


@pytest.mark.parametrize(
    ("cve", "names", "expected"),
    [
        # FortiOS SSL-VPN path traversal: 6.0.0 <= v < 6.0.5.
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios:6.0.4"], True),
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios:6.0.0"], True),
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios:6.0.5"], False),
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios:6.0.10"], False),
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios:5.4.12"], True),
        ("CVE-2018-13379", ["cpe:2.3:o:fortinet:fortios"], False),  # version unknown
        ("CVE-2018-13379", ["cpe:2.3:a:fortinet:fortiproxy:2.0.0"], True),
        # Mirth Connect before 4.4.1 (CVE-2023-43208).
        ("CVE-2023-43208", ["cpe:2.3:a:nextgen:mirth_connect:4.4.0"], True),
        ("CVE-2023-43208", ["cpe:2.3:a:nextgen:mirth_connect:4.4.1"], False),
        # DCMTK before 3.6.7.
        ("CVE-2022-2119", ["cpe:2.3:a:offis:dcmtk:3.6.6"], True),
        ("CVE-2022-2119", ["cpe:2.3:a:offis:dcmtk:3.6.7"], False),
        # URGENT/11 in VxWorks 6.5 <= v < 6.9.4.12.
        ("CVE-2019-12256", ["cpe:2.3:o:windriver:vxworks:6.9.4"], True),
        ("CVE-2019-12256", ["cpe:2.3:o:windriver:vxworks:6.9.4.12"], False),
        ("CVE-2019-12256", ["cpe:2.3:o:windriver:vxworks:6.4"], False),
        # The same record's SonicOS bound written with a trailing dot: "5.9.1.0.".
        ("CVE-2019-12256", ["cpe:2.3:o:sonicwall:sonicos:5.9.1.0"], True),
        ("CVE-2019-12256", ["cpe:2.3:o:sonicwall:sonicos:5.9.0.8"], False),
        # Ripple20: the product is "tcp\/ip", escaped; nmap-style URI with %2f matches too.
        ("CVE-2020-11896", ["cpe:2.3:a:treck:tcp\\/ip:6.0.1.41"], True),
        ("CVE-2020-11896", ["cpe:/a:treck:tcp%2fip:6.0.1.41"], True),
        ("CVE-2020-11896", ["cpe:2.3:a:treck:tcp\\/ip:6.0.1.66"], False),
        # OpenSSH regreSSHion: 8.6 <= v < 9.8, with NVD's "8.5:p1" split of version and update.
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:8.9p1"], True),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:8.9:p1"], True),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:9.8p1"], False),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:9.8:p1"], False),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:8.5p1"], True),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:8.5:p1"], True),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:8.5p2"], False),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:4.4"], True),
        ("CVE-2024-6387", ["cpe:2.3:a:openbsd:openssh:4.4p1"], False),
        # Ubuntu 22.04 entry has sw_edition "lts": an inventory without it still matches.
        ("CVE-2024-6387", ["cpe:2.3:o:canonical:ubuntu_linux:22.04"], True),
        ("CVE-2024-6387", ["cpe:2.3:o:canonical:ubuntu_linux:22.04:*:*:*:-"], False),
        # BlueKeep on Windows 7 SP1: NVD's version "-", nmap's empty version, the service pack.
        ("CVE-2019-0708", ["cpe:2.3:o:microsoft:windows_7:-:sp1"], True),
        ("CVE-2019-0708", ["cpe:/o:microsoft:windows_7::sp1"], True),
        ("CVE-2019-0708", ["cpe:/o:microsoft:windows_7"], True),  # service pack unknown
        ("CVE-2019-0708", ["cpe:/o:microsoft:windows_7::-"], False),  # NVD lists SP1 only
        ("CVE-2019-0708", ["cpe:2.3:o:microsoft:windows_server_2008:r2:sp1"], True),
        ("CVE-2019-0708", ["cpe:2.3:o:microsoft:windows_server_2008:-:sp1"], False),
        ("CVE-2019-0708", ["cpe:2.3:o:microsoft:windows_10_1809:10.0.17763.1"], False),
        # Citrix ADC 13.0: NVD names the release, devices report release-build.
        (
            "CVE-2019-19781",
            [
                "cpe:2.3:o:citrix:application_delivery_controller_firmware:13.0-47.24",
                "cpe:2.3:h:citrix:application_delivery_controller:-",
            ],
            True,
        ),
        (
            "CVE-2019-19781",
            ["cpe:2.3:o:citrix:application_delivery_controller_firmware:13.0"],
            False,
        ),
        (
            "CVE-2019-19781",
            [
                "cpe:2.3:o:citrix:application_delivery_controller_firmware:13.1-12.50",
                "cpe:2.3:h:citrix:application_delivery_controller:-",
            ],
            False,
        ),
        # Citrix Bleed: ranges with release-build bounds, edition "-" vs "fips".
        (
            "CVE-2023-4966",
            ["cpe:2.3:a:citrix:netscaler_application_delivery_controller:13.0-91.13"],
            True,
        ),
        (
            "CVE-2023-4966",
            ["cpe:2.3:a:citrix:netscaler_application_delivery_controller:13.0-92.19"],
            False,
        ),
        # Windows 10 1809 print spooler (CVE-2021-34527): builds below 10.0.17763.2029.
        ("CVE-2021-34527", ["cpe:2.3:o:microsoft:windows_10_1809:10.0.17763.1879"], True),
        ("CVE-2021-34527", ["cpe:2.3:o:microsoft:windows_10_1809:10.0.17763.5696"], False),
    ],
)
def test_real_records(
    nvd: dict[str, Applicability], cve: str, names: list[str], expected: bool
) -> None:
    assert _matched(nvd[cve], *names) is expected


SMB1 = "cpe:2.3:a:microsoft:server_message_block:1.0"
WINDOWS_7_SP1 = "cpe:2.3:o:microsoft:windows_7:-:sp1"


def test_eternalblue_needs_smb1_on_a_listed_windows(nvd: dict[str, Applicability]) -> None:
    """CVE-2017-0144: SMBv1 (vulnerable) AND a listed Windows (platform, not vulnerable)."""
    eternalblue = nvd["CVE-2017-0144"]
    assert _vulnerable(eternalblue, SMB1, WINDOWS_7_SP1) == {str(parse_cpe(SMB1))}
    assert _vulnerable(eternalblue, SMB1, "cpe:/o:microsoft:windows_7::sp1") == {
        str(parse_cpe(SMB1))
    }
    assert not _matched(eternalblue, WINDOWS_7_SP1)
    assert not _matched(eternalblue, SMB1)
    assert not _matched(eternalblue, SMB1, "cpe:2.3:o:microsoft:windows_10_22h2:10.0.19045.4291")


def test_platform_only_names_never_become_findings(nvd: dict[str, Applicability]) -> None:
    """BD Alaris (CVE-2019-10959): the pump hardware is the platform, the firmware vulnerable."""
    alaris = nvd["CVE-2019-10959"]
    firmware = "cpe:2.3:o:bd:alaris_gs_syringe_pump_firmware:2.3.6"
    hardware = "cpe:2.3:h:bd:alaris_gs_syringe_pump:-"
    assert _vulnerable(alaris, firmware, hardware) == {str(parse_cpe(firmware))}
    assert not _matched(alaris, firmware)  # the hardware must be on the same asset
    assert not _matched(alaris, hardware)
    assert not _matched(alaris, "cpe:2.3:o:bd:alaris_gs_syringe_pump_firmware:2.3.7", hardware)
    # Exact versions with an update: "1.1.3:10".
    gateway = "cpe:2.3:h:bd:alaris_gateway_workstation:-"
    assert _matched(alaris, "cpe:2.3:o:bd:alaris_gateway_workstation_firmware:1.1.3:10", gateway)
    assert not _matched(
        alaris, "cpe:2.3:o:bd:alaris_gateway_workstation_firmware:1.1.3:12", gateway
    )


def test_records_without_configurations_apply_to_nothing(nvd: dict[str, Applicability]) -> None:
    pan_os = nvd["CVE-2024-3400"]
    assert pan_os.configurations == ()
    assert pan_os.products == frozenset()
    assert not _matched(pan_os, "cpe:2.3:o:paloaltonetworks:pan-os:11.1.0")


def test_products_list_every_pair_including_platforms(nvd: dict[str, Applicability]) -> None:
    products = nvd["CVE-2017-0144"].products
    assert ("microsoft", "server_message_block") in products
    assert ("microsoft", "windows_7") in products
    assert ("treck", "tcp\\/ip") in nvd["CVE-2020-11896"].products


def _config(
    *nodes: dict[str, Any], operator: str = "AND", negate: bool = False
) -> list[dict[str, Any]]:
    return [{"operator": operator, "negate": negate, "nodes": list(nodes)}]


def _node(*entries: tuple[str, bool], operator: str = "OR", negate: bool = False) -> dict[str, Any]:
    cpe_match = [{"criteria": c, "vulnerable": v} for c, v in entries]
    return {"operator": operator, "negate": negate, "cpeMatch": cpe_match}


APP = "cpe:2.3:a:acme:viewer:*:*:*:*:*:*:*:*"
LINUX = "cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*"
WINDOWS = "cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([APP, WINDOWS], True),
        ([APP, LINUX], False),  # negated node: not when running on Linux
        ([APP], True),
        ([LINUX], False),
    ],
)
def test_negated_node(names: list[str], expected: bool) -> None:
    config = _config(_node((APP, True)), _node((LINUX, False), negate=True))
    assert _matched(compile_configurations("CVE-0000-0001", config), *names) is expected


def test_and_node_needs_every_entry() -> None:
    library = "cpe:2.3:a:acme:library:1.0:*:*:*:*:*:*:*"
    config = _config(_node((APP, True), (library, False), operator="AND"), operator="OR")
    applicability = compile_configurations("CVE-0000-0002", config)
    assert _vulnerable(applicability, APP, library) == {str(parse_cpe(APP))}
    assert not _matched(applicability, APP)


def test_negated_configuration_reports_nothing() -> None:
    config = _config(_node((APP, True)), negate=True)
    assert not _matched(compile_configurations("CVE-0000-0003", config), APP)


def test_damaged_entries_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    config = _config(_node(("not a cpe", True), (APP, True)))
    applicability = compile_configurations("CVE-0000-0004", config)
    assert _matched(applicability, APP)
    assert "CVE-0000-0004" in caplog.text
    assert "not a cpe" in caplog.text


@pytest.mark.parametrize(
    ("versions", "inside", "outside"),
    [
        (
            VersionRange(start_including="1.0", end_excluding="2.0"),
            ["1.0", "1.9.9", "1.10"],
            ["2.0", "0.9"],
        ),
        (
            VersionRange(start_excluding="1.0", end_including="2.0"),
            ["1.0.1", "2.0"],
            ["1.0", "2.0.1"],
        ),
        (VersionRange(end_excluding="9.8"), ["8.9p1", "9.7"], ["9.8", "9.8p1"]),
    ],
)
def test_version_range(versions: VersionRange, inside: list[str], outside: list[str]) -> None:
    assert all(versions.contains(v) for v in inside)
    assert not any(versions.contains(v) for v in outside)


def test_evidence_names_criteria_and_range(nvd: dict[str, Applicability]) -> None:
    (applies,) = evaluate(nvd["CVE-2024-6387"], [parse_cpe("cpe:2.3:a:openbsd:openssh:8.9p1")])
    assert applies.rule.description == (
        "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:* "
        "versionStartIncluding 8.6, versionEndExcluding 9.8"
    )
