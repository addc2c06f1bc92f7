"""The demo hospital carries the real CVEs its software has, and none outside the ranges."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy.orm import Session, sessionmaker

from panacea.demo.hospital import build_demo
from panacea.demo.install import install_demo
from panacea.findings.views import list_findings
from panacea.inventory.service import get_organisation

ORG = "Demo General Hospital"


@pytest.fixture(scope="module")
def demo_findings(
    sqlite_template: object, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, set[str]]:
    """CVE -> names of assets with an open finding of it, in a freshly installed demo."""
    import shutil

    from panacea.db.engine import create_db_engine

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copy(str(sqlite_template), path)
    engine = create_db_engine(f"sqlite:///{path}")
    factory = sessionmaker(engine, expire_on_commit=False)
    install_demo(factory, organisation=ORG, seed=7)
    by_cve: dict[str, set[str]] = defaultdict(set)
    with factory() as session:
        org = get_organisation(session, ORG)
        for f in list_findings(session, org.id, statuses=frozenset({"open"})):
            by_cve[f.cve].add(f.asset)
    engine.dispose()
    return dict(by_cve)


@pytest.mark.parametrize(
    ("cve", "asset"),
    [
        ("CVE-2017-0144", "ehr-db-01"),  # EternalBlue: SMBv1 on Windows Server 2012 R2
        ("CVE-2017-0144", "file-01"),  # and on Windows Server 2008 R2 SP1
        ("CVE-2019-0708", "file-01"),  # BlueKeep
        ("CVE-2018-13379", "vpn-gw-01"),  # FortiOS SSL-VPN credential disclosure
        ("CVE-2022-42475", "vpn-gw-01"),
        ("CVE-2019-19781", "citrix-adc-01"),
        ("CVE-2023-4966", "citrix-adc-01"),  # Citrix Bleed: 13.0-47.24 < 13.0-92.19
        ("CVE-2021-26855", "mail-01"),
        ("CVE-2021-41773", "portal-web-01"),
        ("CVE-2024-6387", "portal-web-01"),  # regreSSHion: OpenSSH 8.9p1
        ("CVE-2023-34362", "mft-01"),
        ("CVE-2024-3400", "fw-edge-01"),  # no NVD configurations: listed in the inventory
        ("CVE-2022-1388", "bigip-01"),
        ("CVE-2019-11510", "vendor-vpn-01"),
        ("CVE-2024-1709", "remote-support-01"),
        ("CVE-2023-43208", "hl7-engine-01"),  # Mirth Connect 4.3.0
        ("CVE-2023-46604", "integration-bus-01"),
        ("CVE-2022-2119", "pacs-01"),  # DCMTK 3.6.6 known only by its purl
        ("CVE-2022-2120", "pacs-01"),
        ("CVE-2023-33466", "pacs-viewer-01"),
        ("CVE-2021-34527", "print-01"),
        ("CVE-2021-21972", "vcenter-01"),
        ("CVE-2023-20198", "core-sw-01"),
        ("CVE-2019-12256", "infusion-gw-01"),  # VxWorks 6.9.4 in the gateway firmware
        ("CVE-2019-10959", "infusion-gw-01"),  # platform CPE of the Alaris gateway
        ("CVE-2020-6961", "icu-central-01"),
        ("CVE-2020-6961", "icu-telemetry-01"),
    ],
)
def test_demo_software_has_its_real_cves(
    demo_findings: dict[str, set[str]], cve: str, asset: str
) -> None:
    assert asset in demo_findings.get(cve, set())


@pytest.mark.parametrize(
    ("cve", "asset"),
    [
        ("CVE-2017-0144", "pharmacy-01"),  # Windows Server 2016 with SMBv3 only
        ("CVE-2022-30190", "pharmacy-01"),  # build 14393.6897 is past the fix (14393.5192)
        ("CVE-2019-0708", "ad-dc-01"),  # Windows Server 2019 is not affected
        ("CVE-2019-0708", "ehr-db-01"),  # nor is Windows Server 2012 R2
        ("CVE-2018-13379", "fw-edge-01"),
        ("CVE-2022-2119", "hl7-engine-01"),
    ],
)
def test_demo_has_no_finding_outside_the_ranges(
    demo_findings: dict[str, set[str]], cve: str, asset: str
) -> None:
    assert asset not in demo_findings.get(cve, set())


def test_patched_workstations_have_no_printnightmare(demo_findings: dict[str, set[str]]) -> None:
    document = build_demo(seed=7)
    patched = {a.name for a in document.assets if a.os_cpe and "windows_10_22h2" in a.os_cpe}
    old = {a.name for a in document.assets if a.os_cpe and "windows_10_1809" in a.os_cpe}
    assert patched
    assert old
    assert not patched & demo_findings["CVE-2021-34527"]
    assert old <= demo_findings["CVE-2021-34527"]


def test_windows_7_hosts_have_eternalblue_and_bluekeep(demo_findings: dict[str, set[str]]) -> None:
    document = build_demo(seed=7)
    windows_7 = {a.name for a in document.assets if a.os_cpe and ":windows_7:" in a.os_cpe}
    assert len(windows_7) >= 5
    assert windows_7 <= demo_findings["CVE-2017-0144"]
    assert windows_7 <= demo_findings["CVE-2019-0708"]


def test_same_seed_same_hospital() -> None:
    assert build_demo(seed=3, assets=120) == build_demo(seed=3, assets=120)
    assert build_demo(seed=3, assets=120) != build_demo(seed=4, assets=120)


@pytest.mark.parametrize("size", [60, 300, 2000])
def test_demo_has_the_size_asked(size: int) -> None:
    document = build_demo(assets=size)
    assert len(document.assets) == size
    assert len({a.name for a in document.assets}) == size


def test_reinstall_is_idempotent(sqlite_factory: sessionmaker[Session]) -> None:
    from tests.conftest import table_snapshot

    install_demo(sqlite_factory, organisation=ORG, assets=80, seed=1)
    before = table_snapshot(sqlite_factory, ignore=frozenset({"last_seen", "loaded_at"}))
    install_demo(sqlite_factory, organisation=ORG, assets=80, seed=1)
    assert table_snapshot(sqlite_factory, ignore=frozenset({"last_seen", "loaded_at"})) == before
