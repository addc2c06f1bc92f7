"""Matching an inventory against real NVD records: findings added, refreshed and resolved."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.service import set_status
from panacea.findings.vocabulary import FindingStatus
from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.overrides import PurlCpeRule
from panacea.inventory.service import ensure_organisation
from panacea.vulndb.matching import MatchReport, match_organisation
from panacea.vulndb.models import Vulnerability
from tests.conftest import table_snapshot
from tests.vulndb.nvd_records import store_nvd_files

HOSPITAL = "St Elsewhere"


def _asset(session: Session, org_id: int, name: str, **fields: object) -> Asset:
    asset = Asset(organisation_id=org_id, name=name, **fields)
    session.add(asset)
    session.flush()
    return asset


def _endpoint(session: Session, asset: Asset, port: int, **fields: object) -> Endpoint:
    endpoint = Endpoint(
        organisation_id=asset.organisation_id, asset_id=asset.id, port=port, **fields
    )
    session.add(endpoint)
    return endpoint


def _component(session: Session, asset: Asset, name: str, **fields: object) -> Component:
    component = Component(
        organisation_id=asset.organisation_id, asset_id=asset.id, name=name, **fields
    )
    session.add(component)
    return component


def _build_hospital(session: Session, org_id: int) -> None:
    """One asset per awkward case; names say what each one should show."""
    ws = _asset(
        session,
        org_id,
        "ws-radiology",
        os="Windows 7 Professional SP1",
        os_cpe="cpe:/o:microsoft:windows_7::sp1",
    )
    _endpoint(session, ws, 445, service="microsoft-ds", cpe="cpe:/o:microsoft:windows")
    _component(
        session,
        ws,
        "SMBv1 server",
        version="1.0",
        cpe="cpe:2.3:a:microsoft:server_message_block:1.0:*:*:*:*:*:*:*",
    )
    _asset(session, org_id, "fw-vulnerable", os_cpe="cpe:2.3:o:fortinet:fortios:6.0.4")
    _asset(session, org_id, "fw-patched", os_cpe="cpe:2.3:o:fortinet:fortios:6.0.5")
    ssh = _asset(session, org_id, "ssh-gateway")
    _endpoint(
        session,
        ssh,
        22,
        service="ssh",
        product="OpenSSH",
        version="8.9p1 Ubuntu 3ubuntu0.10",
        cpe="cpe:/a:openbsd:openssh",
    )
    closed = _asset(session, org_id, "ssh-closed")
    _endpoint(
        session,
        closed,
        22,
        state="closed",
        product="OpenSSH",
        version="8.9p1",
        cpe="cpe:/a:openbsd:openssh",
    )
    mirth = _asset(session, org_id, "mirth")
    _component(
        session,
        mirth,
        "Mirth Connect",
        version="4.3.0",
        purl="pkg:github/nextgenhealthcare/connect@4.3.0",
    )
    pacs = _asset(session, org_id, "pacs")
    _component(session, pacs, "dcmtk", version="3.6.6", purl="pkg:generic/dcmtk@3.6.6")
    _component(
        session,
        pacs,
        "activemq-client",
        version="5.17.3",
        purl="pkg:maven/org.apache.activemq/activemq-client@5.17.3",
    )
    pump = _asset(session, org_id, "infusion-gateway")
    _component(
        session,
        pump,
        "Treck TCP/IP",
        version="6.0.1.41",
        cpe="cpe:2.3:a:treck:tcp\\/ip:6.0.1.41:*:*:*:*:*:*:*",
    )
    _component(session, pump, "VxWorks", cpe="cpe:/o:windriver:vxworks", version="6.9.4")
    adc = _asset(
        session,
        org_id,
        "citrix-adc",
        os_cpe="cpe:2.3:o:citrix:application_delivery_controller_firmware:13.0-47.24",
    )
    _component(
        session,
        adc,
        "ADC appliance",
        cpe="cpe:2.3:h:citrix:application_delivery_controller:-:*:*:*:*:*:*:*",
    )
    _asset(
        session,
        org_id,
        "pan-firewall",
        os_cpe="cpe:2.3:o:paloaltonetworks:pan-os:11.1.0",
        known_cves=["CVE-2024-3400"],
    )
    session.flush()


@pytest.fixture
def hospital(factory: sessionmaker[Session], shared_data: Path) -> sessionmaker[Session]:
    with factory.begin() as session:
        store_nvd_files(session, sorted((shared_data / "nvd").glob("CVE-*.json")))
        _build_hospital(session, ensure_organisation(session, HOSPITAL).id)
        # A second organisation with a vulnerable asset of its own, never touched by ours.
        other = ensure_organisation(session, "Other Hospital")
        _asset(session, other.id, "fw-vulnerable", os_cpe="cpe:2.3:o:fortinet:fortios:6.0.4")
    return factory


def _match(factory: sessionmaker[Session], **kwargs: object) -> MatchReport:
    with factory.begin() as session:
        org = ensure_organisation(session, HOSPITAL)
        return match_organisation(session, org.id, **kwargs)  # type: ignore[arg-type]


def _findings(factory: sessionmaker[Session]) -> dict[tuple[str, str, str], Finding]:
    with factory() as session:
        rows = session.execute(
            select(Finding, Asset.name).join(Asset, Asset.id == Finding.asset_id)
        )
        return {(name, f.cve_id, f.locus.split(":")[0]): f for f, name in rows}


def _open(factory: sessionmaker[Session]) -> set[tuple[str, str, str]]:
    return {key for key, f in _findings(factory).items() if f.status == FindingStatus.OPEN.value}


EXPECTED = {
    ("ws-radiology", "CVE-2017-0144", "component"),  # EternalBlue: SMBv1 on Windows 7 SP1
    ("ws-radiology", "CVE-2019-0708", "asset"),  # BlueKeep on the OS
    ("ws-radiology", "CVE-2021-34527", "asset"),  # PrintNightmare, Follina, MSHTML: Windows 7 SP1
    ("ws-radiology", "CVE-2022-30190", "asset"),
    ("ws-radiology", "CVE-2021-40444", "asset"),
    ("fw-vulnerable", "CVE-2018-13379", "asset"),  # 6.0.0 <= 6.0.4 < 6.0.5
    ("fw-vulnerable", "CVE-2022-42475", "asset"),  # later FortiOS CVEs hit 6.0.4 and 6.0.5 alike
    ("fw-vulnerable", "CVE-2023-27997", "asset"),
    ("fw-vulnerable", "CVE-2024-21762", "asset"),
    ("fw-patched", "CVE-2022-42475", "asset"),
    ("fw-patched", "CVE-2023-27997", "asset"),
    ("fw-patched", "CVE-2024-21762", "asset"),
    ("ssh-gateway", "CVE-2024-6387", "endpoint"),  # the version came from the endpoint
    ("mirth", "CVE-2023-43208", "component"),  # through the purl table
    ("pacs", "CVE-2022-2119", "component"),
    ("pacs", "CVE-2022-2120", "component"),
    ("pacs", "CVE-2023-46604", "component"),
    ("infusion-gateway", "CVE-2020-11896", "component"),  # tcp\/ip
    ("infusion-gateway", "CVE-2019-12256", "component"),
    ("citrix-adc", "CVE-2019-19781", "asset"),  # firmware 13.0 build, on the ADC hardware
    ("pan-firewall", "CVE-2024-3400", "asset"),  # no NVD configurations: only the inventory's list
}


def test_hospital_cases(hospital: sessionmaker[Session]) -> None:
    report = _match(hospital)
    found = _findings(hospital)
    assert found.keys() == EXPECTED  # ssh-closed: the endpoint is closed; nothing else slips in
    assert report == MatchReport(
        assets=10, findings_added=len(EXPECTED), findings_refreshed=0, findings_resolved=0
    )
    # The other organisation's identical firewall was not matched.
    with hospital() as session:
        assert (
            session.scalar(select(Finding.organisation_id).distinct())
            == ensure_organisation(session, HOSPITAL).id
        )


def test_evidence_and_confidence(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    found = _findings(hospital)
    ssh = found[("ssh-gateway", "CVE-2024-6387", "endpoint")]
    assert (ssh.confidence, ssh.source) == ("potential", "nvd_match")
    assert ssh.evidence == (
        "OpenSSH 8.9p1 on 22/tcp matches cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:* "
        "versionStartIncluding 8.6, versionEndExcluding 9.8"
    )
    assert ssh.matched_cpe == "cpe:2.3:a:openbsd:openssh:8.9p1:*:*:*:*:*:*:*"
    pan = found[("pan-firewall", "CVE-2024-3400", "asset")]
    assert (pan.confidence, pan.source) == ("confirmed", "inventory")
    bluekeep = found[("ws-radiology", "CVE-2019-0708", "asset")]
    assert bluekeep.evidence.startswith(
        "Windows 7 Professional SP1 matches cpe:2.3:o:microsoft:windows_7:-:sp1"
    )


def test_second_run_changes_nothing(hospital: sessionmaker[Session]) -> None:
    first = _match(hospital)
    before = table_snapshot(hospital, ignore=frozenset({"last_seen"}))
    second = _match(hospital)
    assert second == MatchReport(
        assets=10, findings_added=0, findings_refreshed=first.findings_added, findings_resolved=0
    )
    assert table_snapshot(hospital, ignore=frozenset({"last_seen"})) == before


def test_upgrade_resolves_and_downgrade_reopens(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    with hospital.begin() as session:
        endpoint = session.scalars(
            select(Endpoint).where(Endpoint.port == 22, Endpoint.state == "open")
        ).one()
        endpoint.version = "9.8p1"
    report = _match(hospital)
    assert report.findings_resolved == 1
    assert report.findings_added == 0
    finding = _findings(hospital)[("ssh-gateway", "CVE-2024-6387", "endpoint")]
    assert finding.status == "resolved"
    assert "no longer matched" in finding.status_reason
    with hospital.begin() as session:
        session.scalars(
            select(Endpoint).where(Endpoint.id == finding.endpoint_id)
        ).one().version = "9.3p1"
    assert _match(hospital).findings_resolved == 0
    assert _findings(hospital)[("ssh-gateway", "CVE-2024-6387", "endpoint")].status == "open"
    with hospital() as session:
        changes = session.scalars(
            select(FindingStatusChange.new_status)
            .where(FindingStatusChange.finding_id == finding.id)
            .order_by(FindingStatusChange.id)
        ).all()
    assert changes == ["resolved", "open"]


def test_closed_endpoint_and_removed_component(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    with hospital.begin() as session:
        for endpoint in session.scalars(select(Endpoint).where(Endpoint.port == 22)):
            endpoint.state = "closed"
        session.delete(
            session.scalars(select(Component).where(Component.name == "Mirth Connect")).one()
        )
    report = _match(hospital)
    assert report.findings_resolved == 1  # the endpoint; the component's finding went with it
    open_now = _open(hospital)
    assert ("ssh-gateway", "CVE-2024-6387", "endpoint") not in open_now
    assert ("mirth", "CVE-2023-43208", "component") not in open_now
    assert ("pacs", "CVE-2022-2119", "component") in open_now


def test_person_set_status_survives(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    finding = _findings(hospital)[("fw-vulnerable", "CVE-2018-13379", "asset")]
    with hospital.begin() as session:
        org = ensure_organisation(session, HOSPITAL)
        set_status(
            session,
            org.id,
            finding.id,
            FindingStatus.ACCEPTED,
            reason="replacement ordered",
            actor="ciso",
            approver="board",
            expires=utcnow() + timedelta(days=30),
        )
        session.scalars(
            select(Asset).where(Asset.organisation_id == org.id, Asset.name == "fw-vulnerable")
        ).one().os_cpe = "cpe:2.3:o:fortinet:fortios:6.0.5"
    assert _match(hospital).findings_resolved == 0
    assert _findings(hospital)[("fw-vulnerable", "CVE-2018-13379", "asset")].status == "accepted"


def test_known_cves_confirm_and_resolve(hospital: sessionmaker[Session]) -> None:
    with hospital.begin() as session:
        ws = session.scalars(select(Asset).where(Asset.name == "ws-radiology")).first()
        assert ws is not None
        ws.known_cves = ["cve-2019-0708 "]  # the inventory says it too: one confirmed finding
    _match(hospital)
    bluekeep = _findings(hospital)[("ws-radiology", "CVE-2019-0708", "asset")]
    assert (bluekeep.confidence, bluekeep.source) == ("confirmed", "inventory")
    with hospital.begin() as session:
        pan = session.scalars(select(Asset).where(Asset.name == "pan-firewall")).one()
        pan.known_cves = []
    report = _match(hospital)
    assert report.findings_resolved == 1
    pan_finding = _findings(hospital)[("pan-firewall", "CVE-2024-3400", "asset")]
    assert pan_finding.status == "resolved"
    assert "inventory" in pan_finding.status_reason


def test_scope_and_progress(hospital: sessionmaker[Session]) -> None:
    with hospital() as session:
        ids = dict(
            session.execute(
                select(Asset.name, Asset.id).where(Asset.name.in_(["mirth", "fw-vulnerable"]))
            ).all()
        )
        other_org_asset = session.scalars(
            select(Asset.id).where(Asset.name == "fw-vulnerable")
        ).all()
    calls: list[tuple[int, int]] = []
    report = _match(
        hospital,
        asset_ids=[ids["mirth"], *other_org_asset],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert report.assets == 2  # mirth and our firewall; the other organisation's is ignored
    assert {asset for asset, _, _ in _findings(hospital)} == {"mirth", "fw-vulnerable"}
    assert calls == [(2, 2)]
    assert _match(hospital, asset_ids=[]) == MatchReport(0, 0, 0, 0)


def test_scoped_run_does_not_resolve_out_of_scope(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    with hospital() as session:
        mirth_id = session.scalars(select(Asset.id).where(Asset.name == "mirth")).one()
    report = _match(hospital, asset_ids=[mirth_id])
    assert report == MatchReport(
        assets=1, findings_added=0, findings_refreshed=1, findings_resolved=0
    )
    assert _open(hospital) >= EXPECTED


def test_organisation_purl_rule(hospital: sessionmaker[Session]) -> None:
    with hospital.begin() as session:
        org = ensure_organisation(session, HOSPITAL)
        session.add(
            PurlCpeRule(
                organisation_id=org.id,
                purl_type="generic",
                name="acme-dicom-toolkit",
                cpe_vendor="offis",
                cpe_product="dcmtk",
            )
        )
        lab = _asset(session, org.id, "lab-gateway")
        _component(session, lab, "ACME DICOM toolkit", purl="pkg:generic/acme-dicom-toolkit@3.6.5")
    _match(hospital)
    assert ("lab-gateway", "CVE-2022-2119", "component") in _findings(hospital)


def test_unparseable_inventory_entries_are_skipped(
    hospital: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with hospital.begin() as session:
        org = ensure_organisation(session, HOSPITAL)
        odd = _asset(session, org.id, "odd", os_cpe="windows 7")
        _component(session, odd, "dcmtk", purl="dcmtk@3.6.6")
        _component(session, odd, "dcmtk", cpe="cpe:2.3:a:offis:dcmtk:3.6.6")
    _match(hospital)
    assert {cve for asset, cve, _ in _findings(hospital) if asset == "odd"} == {
        "CVE-2022-2119",
        "CVE-2022-2120",
    }
    assert "'windows 7'" in caplog.text
    assert "'dcmtk@3.6.6'" in caplog.text


def test_rejected_cves_are_not_matched(hospital: sessionmaker[Session]) -> None:
    _match(hospital)
    with hospital.begin() as session:
        session.get_one(Vulnerability, "CVE-2022-2120").status = "Rejected"
    report = _match(hospital)
    assert report.findings_resolved == 1
    assert ("pacs", "CVE-2022-2120", "component") not in _open(hospital)
    assert ("pacs", "CVE-2022-2119", "component") in _open(hospital)
