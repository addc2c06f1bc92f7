"""The nmap importer on real nmap output (scans of services on 127.0.0.1) and nmap-shaped scans.

The ``*_localhost.xml`` fixtures were written by nmap 7.93 here (``localhost_services.py`` says
how); the others follow nmap's XML for hosts that cannot exist on this machine.
"""

from __future__ import annotations

import re
import shutil
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.service import FindingLocus, record_finding, set_status
from panacea.findings.vocabulary import Confidence, FindingSource, FindingStatus
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.interface import ImportReport
from panacea.inventory.imports import import_bytes
from panacea.inventory.service import get_organisation, upsert_endpoint
from tests.conftest import TEST_DATA, require, table_snapshot
from tests.inventory.importers.localhost_services import (
    LOCALHOST,
    SERVICE_SCAN,
    ApacheLikeServer,
    BannerServer,
    free_port,
    run_nmap,
    serving,
)

ORG = "Test Hospital"
SCAN = TEST_DATA / "nmap_service_detection_localhost.xml"
RESCAN = TEST_DATA / "nmap_service_detection_localhost_rescan.xml"
OS_SCAN = TEST_DATA / "nmap_os_detection_localhost.xml"
RANGE_SCAN = TEST_DATA / "nmap_port_range_localhost.xml"
MS17_010 = TEST_DATA / "nmap_smb_vuln_ms17_010.xml"
SMB_FILTERED = TEST_DATA / "nmap_smb_filtered_after_firewall_change.xml"
SAMBA = TEST_DATA / "nmap_samba_likely_vulnerable.xml"
ROUTER = TEST_DATA / "nmap_router_and_vulners.xml"
PING_SWEEP = TEST_DATA / "nmap_ping_sweep_localhost.xml"
NO_VERSIONS = TEST_DATA / "nmap_without_version_detection_localhost.xml"


def _cpe(vendor_product_version: str) -> str:
    """An application's CPE 2.3 name: the given components, then seven times ANY."""
    return f"cpe:2.3:a:{vendor_product_version}" + ":*" * 7


def _import(factory: sessionmaker[Session], path: Path) -> ImportReport:
    return import_bytes(factory, "nmap", path.read_bytes(), organisation=ORG, source=path.name)


def _scan_time(path: Path) -> datetime:
    started = re.search(rb'<nmaprun [^>]*start="(\d+)"', path.read_bytes())
    assert started is not None
    return datetime.fromtimestamp(int(started[1]), UTC)


def _asset(session: Session, name: str) -> Asset:
    return session.scalars(select(Asset).where(Asset.name == name)).one()


def _endpoints(session: Session, asset: Asset) -> dict[int, Endpoint]:
    rows = session.scalars(select(Endpoint).where(Endpoint.asset_id == asset.id)).all()
    return {e.port: e for e in rows}


def _findings(session: Session, asset: Asset) -> dict[str, Finding]:
    rows = session.scalars(select(Finding).where(Finding.asset_id == asset.id)).all()
    return {f.cve_id: f for f in rows}


def _counters(report: ImportReport) -> dict[str, int]:
    names = ("records", "assets_added", "assets_updated", "endpoints_added", "endpoints_closed")
    names += ("findings_added", "findings_resolved")
    return {name: getattr(report, name) for name in names}


def test_service_scan_creates_asset_endpoints_and_confirmed_finding(
    factory: sessionmaker[Session],
) -> None:
    report = _import(factory, SCAN)

    assert _counters(report) == {
        "records": 1,
        "assets_added": 1,
        "assets_updated": 0,
        "endpoints_added": 3,
        "endpoints_closed": 0,
        "findings_added": 1,
        "findings_resolved": 0,
    }
    seen = _scan_time(SCAN)
    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        assert report.touched_asset_ids == {asset.id}
        assert (asset.kind, asset.source, asset.os, asset.hostname) == ("other", "nmap", None, None)
        assert asset.first_seen == asset.last_seen == seen
        assert [(a.kind, a.value) for a in asset.addresses] == [("ipv4", "127.0.0.1")]
        endpoints = _endpoints(session, asset)
        assert {e.last_seen for e in endpoints.values()} == {seen}
        described = {p: (e.state, e.service, e.product, e.version) for p, e in endpoints.items()}
        assert described == {
            2121: ("open", "ftp", "pyftpdlib", "1.5.7"),
            2222: ("open", "ssh", "OpenSSH", "8.9p1 Ubuntu 3ubuntu0.1"),
            8080: ("open", "http", "Apache httpd", "2.4.49"),
        }
        assert {p: e.cpe for p, e in endpoints.items()} == {
            # nmap's CPE for pyftpdlib has no version: the detected one is filled in.
            2121: _cpe("giampaolo_rodola:pyftpdlib:1.5.7"),
            2222: _cpe("openbsd:openssh:8.9p1"),
            8080: _cpe("apache:http_server:2.4.49"),
        }
        (finding,) = _findings(session, asset).values()
        assert (finding.cve_id, finding.confidence, finding.source, finding.status) == (
            "CVE-2011-3192",
            "confirmed",
            "scanner",
            "open",
        )
        assert finding.locus == f"endpoint:{endpoints[8080].id}"
        assert finding.endpoint_id == endpoints[8080].id
        assert finding.evidence == (
            "nmap http-vuln-cve2011-3192: State: VULNERABLE (Apache byterange filter DoS)"
        )
        assert finding.first_seen == finding.last_seen == seen


@pytest.mark.parametrize("path", [SCAN, MS17_010, ROUTER, SAMBA], ids=lambda p: p.stem)
def test_reimporting_the_same_scan_changes_nothing(
    factory: sessionmaker[Session], path: Path
) -> None:
    _import(factory, path)
    before = table_snapshot(factory)

    report = _import(factory, path)

    assert table_snapshot(factory) == before
    assert {k: v for k, v in _counters(report).items() if k != "records"} == dict.fromkeys(
        ("assets_added", "assets_updated", "endpoints_added", "endpoints_closed"), 0
    ) | {"findings_added": 0, "findings_resolved": 0}


def test_rescan_closes_the_port_it_no_longer_sees_and_resolves_its_finding(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, SCAN)

    report = _import(factory, RESCAN)

    assert _counters(report) == {
        "records": 1,
        "assets_added": 0,
        "assets_updated": 1,
        "endpoints_added": 0,
        "endpoints_closed": 1,
        "findings_added": 0,
        "findings_resolved": 1,
    }
    first, second = _scan_time(SCAN), _scan_time(RESCAN)
    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        assert report.touched_asset_ids == {asset.id}
        assert asset.last_seen == second
        endpoints = _endpoints(session, asset)
        assert {p: (e.state, e.last_seen) for p, e in endpoints.items()} == {
            2121: ("open", second),
            2222: ("open", second),
            8080: ("closed", first),  # last seen open by the first scan
        }
        ssh = endpoints[2222]
        assert (ssh.version, ssh.cpe) == (
            "9.6p1 Ubuntu 3ubuntu13.5",
            _cpe("openbsd:openssh:9.6p1"),
        )
        finding = _findings(session, asset)["CVE-2011-3192"]
        reason = f"port 8080/tcp closed in scan {RESCAN.name} at {second.isoformat()}"
        assert (finding.status, finding.status_reason, finding.status_by_person) == (
            "resolved",
            reason,
            False,
        )
        change = session.scalars(
            select(FindingStatusChange).where(FindingStatusChange.finding_id == finding.id)
        ).one()
        assert (change.old_status, change.new_status, change.actor) == (
            "open",
            "resolved",
            "system",
        )


@pytest.mark.parametrize(
    "status", [FindingStatus.ACCEPTED, FindingStatus.FALSE_POSITIVE, FindingStatus.MITIGATED]
)
def test_a_status_set_by_a_person_is_never_reset(
    factory: sessionmaker[Session], status: FindingStatus
) -> None:
    _import(factory, SCAN)
    with factory.begin() as session:
        asset = _asset(session, "127.0.0.1")
        finding = _findings(session, asset)["CVE-2011-3192"]
        set_status(
            session,
            asset.organisation_id,
            finding.id,
            status,
            reason="compensating WAF rule",
            actor="ciso@hospital.example",
            approver="cmo@hospital.example" if status is FindingStatus.ACCEPTED else None,
            expires=utcnow() + timedelta(days=90) if status is FindingStatus.ACCEPTED else None,
        )

    _import(factory, SCAN)  # seen vulnerable again
    rescan = _import(factory, RESCAN)  # port closed

    assert (rescan.endpoints_closed, rescan.findings_resolved) == (1, 0)
    with factory() as session:
        finding = _findings(session, _asset(session, "127.0.0.1"))["CVE-2011-3192"]
        assert (finding.status, finding.status_by_person) == (status.value, True)
        assert finding.status_reason == "compensating WAF rule"


def test_an_older_scan_does_not_overwrite_a_newer_one(factory: sessionmaker[Session]) -> None:
    _import(factory, RESCAN)

    _import(factory, SCAN)  # taken before RESCAN, imported after it

    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        assert asset.last_seen == _scan_time(RESCAN)
        assert asset.first_seen == _scan_time(RESCAN)
        ssh = _endpoints(session, asset)[2222]
        assert (ssh.version, ssh.last_seen) == ("9.6p1 Ubuntu 3ubuntu13.5", _scan_time(RESCAN))


def test_endpoints_outside_the_scanned_ranges_stay_and_unlisted_scanned_ports_close(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, SCAN)
    with factory.begin() as session:
        # Something listened on 2200 (inside the range scan's 2100-2300) at the first scan.
        asset = _asset(session, "127.0.0.1")
        upsert_endpoint(session, asset, port=2200, protocol="tcp", seen_at=_scan_time(SCAN))
        upsert_endpoint(session, asset, port=2200, protocol="udp", seen_at=_scan_time(SCAN))

    report = _import(factory, RANGE_SCAN)

    assert (report.endpoints_closed, report.findings_resolved) == (1, 0)
    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        states = {(e.port, e.protocol): e.state for e in asset.endpoints}
        assert states == {
            (2121, "tcp"): "open",
            (2222, "tcp"): "open",
            (2200, "tcp"): "closed",  # scanned, summarised as closed by <extraports>
            (2200, "udp"): "open",  # UDP was not scanned
            (8080, "tcp"): "open",  # outside 2100-2300: the range scan says nothing about it
        }
        finding = _findings(session, asset)["CVE-2011-3192"]
        assert finding.status == "open"


def test_a_ping_sweep_updates_last_seen_and_closes_no_port(factory: sessionmaker[Session]) -> None:
    _import(factory, SCAN)

    report = _import(factory, PING_SWEEP)

    assert (report.assets_updated, report.endpoints_closed, report.findings_resolved) == (1, 0, 0)
    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        assert asset.last_seen == _scan_time(PING_SWEEP)
        assert {(e.state, e.last_seen) for e in asset.endpoints} == {("open", _scan_time(SCAN))}


def test_a_scan_without_version_detection_keeps_what_was_detected(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, SCAN)

    report = _import(factory, NO_VERSIONS)  # names services by port number only

    assert (report.endpoints_added, report.endpoints_closed) == (0, 0)
    with factory() as session:
        endpoints = _endpoints(session, _asset(session, "127.0.0.1"))
        assert {p: (e.service, e.product, e.last_seen) for p, e in endpoints.items()} == {
            2121: ("ftp", "pyftpdlib", _scan_time(NO_VERSIONS)),
            2222: ("ssh", "OpenSSH", _scan_time(NO_VERSIONS)),
            8080: ("http", "Apache httpd", _scan_time(NO_VERSIONS)),
        }


def test_hosts_not_in_the_scan_are_untouched(factory: sessionmaker[Session]) -> None:
    _import(factory, ROUTER)
    with factory() as session:
        others = sorted(
            (a.id, a.name, a.last_seen, a.os) for a in session.scalars(select(Asset)).all()
        )
        other_endpoints = sorted(
            (e.id, e.state, e.last_seen) for e in session.scalars(select(Endpoint)).all()
        )

    _import(factory, RESCAN)

    with factory() as session:
        not_scanned = [a for a in session.scalars(select(Asset)).all() if a.name != "127.0.0.1"]
        assert sorted((a.id, a.name, a.last_seen, a.os) for a in not_scanned) == others
        ids = {e[0] for e in other_endpoints}
        now = session.scalars(select(Endpoint).where(Endpoint.id.in_(ids))).all()
        assert sorted((e.id, e.state, e.last_seen) for e in now) == other_endpoints


def test_ms17_010_host_script_is_a_confirmed_finding_on_the_smb_endpoint(
    factory: sessionmaker[Session],
) -> None:
    report = _import(factory, MS17_010)

    assert (report.assets_added, report.endpoints_added, report.findings_added) == (1, 4, 1)
    with factory() as session:
        asset = _asset(session, "rad-ws07.hospital.example")
        assert (asset.hostname, asset.kind, asset.source) == (
            "rad-ws07.hospital.example",
            "other",
            "nmap",
        )
        assert (asset.os or "").startswith("Microsoft Windows 7 SP0 - SP1")
        assert asset.os_cpe == "cpe:2.3:o:microsoft:windows_7:*:-:*:*:*:*:*:*"
        addresses = sorted((a.kind, a.value, a.vendor) for a in asset.addresses)
        assert addresses == [("ipv4", "10.20.30.41", None), ("mac", "F8:BC:12:4A:7E:21", "Dell")]
        endpoints = _endpoints(session, asset)
        assert sorted(endpoints) == [135, 139, 445, 3389]
        smb = endpoints[445]
        assert (smb.service, smb.product, smb.version) == (
            "microsoft-ds",
            "Microsoft Windows 7 - 10 microsoft-ds",
            None,
        )
        assert smb.cpe == "cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*"
        finding = _findings(session, asset)["CVE-2017-0143"]
        assert (finding.confidence, finding.source, finding.locus) == (
            "confirmed",
            "scanner",
            f"endpoint:{smb.id}",
        )
        assert finding.evidence == (
            "nmap smb-vuln-ms17-010: State: VULNERABLE "
            "(Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010))"
        )


def test_firewalled_smb_closes_port_445_and_resolves_ms17_010_on_the_host_found_by_mac(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, MS17_010)

    report = _import(factory, SMB_FILTERED)  # DHCP gave the workstation another address

    assert _counters(report) == {
        "records": 1,
        "assets_added": 0,
        "assets_updated": 1,
        "endpoints_added": 0,
        "endpoints_closed": 2,
        "findings_added": 0,
        "findings_resolved": 1,
    }
    with factory() as session:
        (asset,) = session.scalars(select(Asset)).all()
        assert {a.value for a in asset.addresses} == {
            "10.20.30.41",
            "10.20.30.57",
            "F8:BC:12:4A:7E:21",
        }
        assert asset.os is not None  # no OS match this time: the earlier one stays
        states = {p: e.state for p, e in _endpoints(session, asset).items()}
        assert states == {135: "open", 139: "closed", 445: "closed", 3389: "open"}
        finding = _findings(session, asset)["CVE-2017-0143"]
        assert finding.status == "resolved"
        assert finding.status_reason == (
            f"port 445/tcp closed in scan {SMB_FILTERED.name} at 2024-06-21T09:00:00+00:00"
        )


def test_likely_vulnerable_is_a_potential_finding(factory: sessionmaker[Session]) -> None:
    report = _import(factory, SAMBA)

    assert report.findings_added == 1
    with factory() as session:
        asset = _asset(session, "pacs-archive-nas.hospital.example")
        smb = _endpoints(session, asset)[445]
        assert (smb.service, smb.product, smb.cpe) == ("microsoft-ds", None, None)
        finding = _findings(session, asset)["CVE-2017-7494"]
        assert (finding.confidence, finding.source, finding.locus) == (
            "potential",
            "scanner",
            f"endpoint:{smb.id}",
        )
        assert finding.evidence.startswith("nmap smb-vuln-cve-2017-7494: State: LIKELY VULNERABLE")


def test_not_vulnerable_resolves_the_scanners_earlier_finding(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, SCAN)

    report = _import(factory, OS_SCAN)  # server patched; nmap run with vulns.showall

    assert (report.findings_added, report.findings_resolved, report.endpoints_closed) == (0, 1, 0)
    with factory() as session:
        asset = _asset(session, "127.0.0.1")
        assert (asset.os, asset.os_cpe) == (
            "Linux 5.0 - 5.2",
            "cpe:2.3:o:linux:linux_kernel:5:*:*:*:*:*:*:*",
        )
        assert asset.kind == "other"  # general purpose: server or workstation, nmap cannot say
        finding = _findings(session, asset)["CVE-2011-3192"]
        assert finding.status == "resolved"
        assert finding.status_reason.startswith(
            "nmap http-vuln-cve2011-3192 reports NOT VULNERABLE in scan"
        )


def test_not_vulnerable_alone_records_nothing_and_leaves_other_sources_alone(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, SCAN)
    with factory.begin() as session:
        asset = _asset(session, "127.0.0.1")
        http = _endpoints(session, asset)[8080]
        record_finding(
            session,
            asset.organisation_id,
            FindingLocus(asset.id, endpoint_id=http.id),
            "CVE-2021-41773",
            confidence=Confidence.POTENTIAL,
            source=FindingSource.USER.value,
            seen_at=_scan_time(SCAN),
        )

    _import(factory, OS_SCAN)

    with factory() as session:
        findings = _findings(session, _asset(session, "127.0.0.1"))
        assert findings["CVE-2021-41773"].status == "open"
        assert set(findings) == {"CVE-2011-3192", "CVE-2021-41773"}


def test_router_is_a_network_device_named_as_scanned_and_vulners_is_no_proof(
    factory: sessionmaker[Session],
) -> None:
    report = _import(factory, ROUTER)

    assert (report.records, report.assets_added, report.findings_added) == (2, 2, 0)
    assert report.notes == [
        "1 host(s) not up in the scan: skipped",
        "the vulners script listed 6 CVE(s) on 2 port(s): a lookup by version, not proof; "
        "left to version matching",
    ]
    with factory() as session:
        router = _asset(session, "core-rtr1.hospital.example")  # the name given, not the PTR
        assert (router.kind, router.os) == ("network_device", "Cisco 2811 router (IOS 15.1)")
        assert router.os_cpe == "cpe:2.3:o:cisco:ios:15.1:*:*:*:*:*:*:*"  # not the hardware CPE
        endpoints = _endpoints(session, router)
        assert sorted(endpoints) == [22, 23]  # filtered 80 and closed 443 are no endpoints
        assert endpoints[23].cpe == "cpe:2.3:o:cisco:ios:*:*:*:*:*:*:*:*"
        web = _asset(session, "ehr-web01.hospital.example")
        assert web.kind == "other"
        assert sorted(_endpoints(session, web)) == [22, 80, 443]
        assert session.scalars(select(Finding)).all() == []
        assert report.touched_asset_ids == {router.id, web.id}
        assert get_organisation(session, ORG).id == router.organisation_id


def test_a_scanned_name_taken_by_another_asset_gets_the_address_added(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, ROUTER)
    with factory.begin() as session:
        web = _asset(session, "ehr-web01.hospital.example")
        web.hostname = "ehr-web01-old.hospital.example"  # the name now belongs to another host
        for address in list(web.addresses):
            session.delete(address)

    _import(factory, ROUTER)

    with factory() as session:
        names = sorted(a.name for a in session.scalars(select(Asset)).all())
        assert names == [
            "core-rtr1.hospital.example",
            "ehr-web01.hospital.example",
            "ehr-web01.hospital.example (10.20.0.15)",
        ]


@pytest.mark.nmap
def test_live_nmap_scan_of_local_services_imports(
    sqlite_factory: sessionmaker[Session],
) -> None:
    require(shutil.which("nmap") is not None, "nmap is not installed")
    ssh_banner = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"
    apache = ApacheLikeServer(0, "Apache/2.4.49 (Unix)", byterange_vulnerable=True)
    options = (*SERVICE_SCAN, "--script", "http-vuln-cve2011-3192")
    with serving(BannerServer(0, ssh_banner)) as ssh:
        with serving(apache) as http:
            ports = [ssh, http, free_port()]
            first = run_nmap(ports, *options)
        second = run_nmap(ports, *options)  # the web server is gone now

    import_bytes(sqlite_factory, "nmap", first, organisation=ORG, source="live-1.xml")
    report = import_bytes(sqlite_factory, "nmap", second, organisation=ORG, source="live-2.xml")

    assert (report.endpoints_closed, report.findings_resolved) == (1, 1)
    with sqlite_factory() as session:
        asset = _asset(session, LOCALHOST)
        endpoints = _endpoints(session, asset)
        assert (endpoints[ssh].product, endpoints[ssh].version, endpoints[ssh].state) == (
            "OpenSSH",
            "8.9p1 Ubuntu 3ubuntu0.1",
            "open",
        )
        assert (endpoints[http].product, endpoints[http].version, endpoints[http].state) == (
            "Apache httpd",
            "2.4.49",
            "closed",
        )
        finding = _findings(session, asset)["CVE-2011-3192"]
        assert (finding.confidence, finding.status) == ("confirmed", "resolved")


def _with_bad_port(raw: bytes) -> bytes:
    return raw.replace(b'portid="2222"', b'portid="ssh"', 1)


HOSTILE = {
    "billion laughs": (
        (TEST_DATA / "nmap_billion_laughs.xml").read_bytes(),
        r"^scan\.xml: refused: the XML declares entities",
    ),
    "external entity": (
        (TEST_DATA / "nmap_external_entity.xml").read_bytes(),
        r"^scan\.xml: refused: the XML declares entities",
    ),
    "truncated": (SCAN.read_bytes()[:1500], r"^scan\.xml: line 1[0-9]: malformed XML"),
    "empty": (b"", r"^scan\.xml: line 1: malformed XML: no element found"),
    "unknown encoding": (
        SCAN.read_bytes().replace(b'encoding="UTF-8"', b'encoding="X-KLINGON"', 1),
        r"^scan\.xml: line 1: unknown XML encoding",
    ),
    "not nmap": (
        b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>',
        r"^scan\.xml: root element: expected <nmaprun> \(nmap -oX output\), found <\{http",
    ),
    "port not a number": (
        _with_bad_port(SCAN.read_bytes()),
        r"^scan\.xml: host 1 port: expected a whole number, got 'ssh'",
    ),
}


@pytest.mark.parametrize(("raw", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_file_is_refused_naming_it_and_changes_nothing(
    factory: sessionmaker[Session], raw: bytes, message: str
) -> None:
    _import(factory, ROUTER)
    before = table_snapshot(factory)

    with pytest.raises(ImportFileError, match=message):
        import_bytes(factory, "nmap", raw, organisation=ORG, source="scan.xml")

    assert table_snapshot(factory) == before


_ATTRIBUTE = re.compile(rb'(\w+)="[^"]*"')
_NMAP_FIXTURES = sorted(
    p for p in TEST_DATA.glob("nmap_*.xml") if "laughs" not in p.name and "entity" not in p.name
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(_NMAP_FIXTURES),
    st.integers(0, 10_000),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30),
)
def test_any_attribute_value_imports_or_raises_our_error(
    sqlite_factory: sessionmaker[Session], path: Path, pick: int, value: str
) -> None:
    raw = path.read_bytes()
    attributes = list(_ATTRIBUTE.finditer(raw))
    chosen = attributes[pick % len(attributes)]
    mutated = raw[: chosen.start()] + chosen[1] + b"=" + quoteattr(value).encode()
    mutated += raw[chosen.end() :]

    with suppress(ImportFileError):  # our error is a fine answer; any other fails the test
        import_bytes(sqlite_factory, "nmap", mutated, organisation=ORG, source="mutated.xml")
