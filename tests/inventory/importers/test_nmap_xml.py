"""Reading nmap XML: what is taken from real output, and that bad input only ever raises ours."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.nmap_xml import PortCoverage, ScannedHost, parse_nmap_xml
from tests.conftest import TEST_DATA

FIXTURES = sorted(
    p for p in TEST_DATA.glob("nmap_*.xml") if "laughs" not in p.name and "entity" not in p.name
)
ROUTER = (TEST_DATA / "nmap_router_and_vulners.xml").read_bytes()
RANGE_SCAN = (TEST_DATA / "nmap_port_range_localhost.xml").read_bytes()


def test_router_scan_is_read_as_nmap_wrote_it() -> None:
    scan = parse_nmap_xml(ROUTER, "router.xml")

    assert scan.started_at == datetime(2024, 7, 10, 7, 30, tzinfo=UTC)
    assert scan.coverage.ranges == {"tcp": ((22, 23), (80, 80), (443, 443))}
    assert scan.hosts_not_up == 1
    router, web = scan.hosts
    assert (router.ips, router.macs) == (("10.20.0.1",), (("00:1B:54:3A:9F:01", "Cisco Systems"),))
    assert router.hostname == "core-rtr1.hospital.example"
    assert router.os is not None
    assert (router.os.name, router.os.accuracy, router.os.device_types) == (
        "Cisco 2811 router (IOS 15.1)",
        98,
        ("router",),
    )
    assert router.os.cpes == ("cpe:/h:cisco:2811_router", "cpe:/o:cisco:ios:15.1")
    assert [(p.port, p.state) for p in router.ports] == [
        (22, "open"),
        (23, "open"),
        (80, "filtered"),
        (443, "closed"),
    ]
    ssh = web.ports[0]
    assert (ssh.service.name, ssh.service.product, ssh.service.version) == ("ssh", "OpenSSH", "7.4")
    assert (ssh.service.extrainfo, ssh.service.cpes) == (
        "protocol 2.0",
        ("cpe:/a:openbsd:openssh:7.4",),
    )
    assert ssh.vulners_cves == ("CVE-2018-15473", "CVE-2020-15778", "CVE-2023-38408")
    assert ssh.vulnerabilities == ()


@pytest.mark.parametrize(
    ("protocol", "port", "not_open"),
    [
        ("tcp", 2121, False),  # listed open
        ("tcp", 2200, True),  # unlisted inside the scanned range: one of the 199 closed
        ("tcp", 2300, True),
        ("tcp", 2301, False),  # outside the range: the scan says nothing
        ("tcp", 8080, False),
        ("udp", 2200, False),  # UDP was not scanned
    ],
)
def test_what_a_range_scan_says_about_a_port(protocol: str, port: int, not_open: bool) -> None:
    scan = parse_nmap_xml(RANGE_SCAN, "range.xml")
    (host,) = scan.hosts

    assert host.seen_not_open(protocol, port, scan.coverage) is not_open


def test_unlisted_ports_summarised_as_open_filtered_are_not_taken_as_closed() -> None:
    coverage = PortCoverage({"udp": ((1, 1024),)})
    host = ScannedHost(("10.0.0.5",), (), None, None, (), unlisted_maybe_open=frozenset({"udp"}))

    assert host.seen_not_open("udp", 161, coverage) is False


def _compress(ports: set[int]) -> str:
    """Ports as nmap writes them in scaninfo@services: ``1-3,7,9-10``."""
    ranges: list[list[int]] = []
    for port in sorted(ports):
        if ranges and ranges[-1][1] == port - 1:
            ranges[-1][1] = port
        else:
            ranges.append([port, port])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


@given(st.sets(st.integers(0, 65535), max_size=60), st.integers(0, 65535))
def test_scanned_services_cover_exactly_the_listed_ports(ports: set[int], probe: int) -> None:
    services = _compress(ports)
    raw = RANGE_SCAN.replace(b'services="2100-2300"', f'services="{services}"'.encode())

    coverage = parse_nmap_xml(raw, "range.xml").coverage

    assert coverage.covers("tcp", probe) is (probe in ports)
    assert all(coverage.covers("tcp", p) for p in ports)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_truncated_scan_is_refused_naming_a_line_within_it(
    path: Path, data: st.DataObject
) -> None:
    raw = path.read_bytes()
    end = raw.rindex(b"</nmaprun>") + len(b"</nmaprun>") - 1
    cut = data.draw(st.integers(0, end - 1))

    with pytest.raises(ImportFileError) as refused:
        parse_nmap_xml(raw[:cut], "cut.xml")

    location = refused.value.location or ""
    line = int(location.removeprefix("line "))
    assert 1 <= line <= raw[:cut].count(b"\n") + 1
