"""An asset's software as CPE names: OS, open endpoints, components and their purls."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.service import ensure_organisation
from panacea.vulndb.purl_cpe import CURATED, PurlCpeTable
from panacea.vulndb.software_facts import load_asset_software


def test_names_labels_and_versions(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory.begin() as session:
        org = ensure_organisation(session, "St Elsewhere")
        asset = Asset(
            organisation_id=org.id,
            name="gw",
            os_cpe="cpe:/o:canonical:ubuntu_linux:22.04",
            known_cves=[" cve-2024-3400", ""],
        )
        session.add(asset)
        session.flush()
        session.add_all(
            [
                # nmap: CPE without version, version apart with distribution detail.
                Endpoint(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    port=22,
                    product="OpenSSH",
                    version="8.9p1 Ubuntu 3ubuntu0.10",
                    cpe="cpe:/a:openbsd:openssh",
                ),
                # A version already in the CPE wins over the endpoint's.
                Endpoint(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    port=80,
                    version="2.4.49 (Unix)",
                    cpe="cpe:/a:apache:http_server:2.4.41",
                ),
                # NA stays NA: the product has no version.
                Endpoint(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    port=443,
                    version="1.0",
                    cpe="cpe:2.3:a:netapp:cloud_backup:-",
                ),
                Endpoint(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    port=23,
                    state="closed",
                    cpe="cpe:/a:busybox:busybox:1.24.1",
                ),
                Endpoint(organisation_id=org.id, asset_id=asset.id, port=8080, product="no cpe"),
                # The same product by CPE and by purl is one name.
                Component(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    name="dcmtk",
                    version="3.6.6",
                    purl="pkg:generic/dcmtk@3.6.6",
                    cpe="cpe:2.3:a:offis:dcmtk",
                ),
                Component(
                    organisation_id=org.id,
                    asset_id=asset.id,
                    name="nginx",
                    purl="pkg:generic/nginx@1.18.0",
                ),
                Component(organisation_id=org.id, asset_id=asset.id, name="unknown thing"),
            ]
        )
        session.flush()
        (software,) = load_asset_software(session, org.id, [asset.id], PurlCpeTable(CURATED))
    assert software.known_cves == ["CVE-2024-3400"]
    facts = [
        (str(f.name), f.label, f.endpoint_id is not None, f.component_id is not None)
        for f in software.facts
    ]
    assert facts == [
        (
            "cpe:2.3:o:canonical:ubuntu_linux:22.04:*:*:*:*:*:*:*",
            "operating system ubuntu_linux",
            False,
            False,
        ),
        ("cpe:2.3:a:openbsd:openssh:8.9p1:*:*:*:*:*:*:*", "OpenSSH 8.9p1 on 22/tcp", True, False),
        (
            "cpe:2.3:a:apache:http_server:2.4.41:*:*:*:*:*:*:*",
            "http_server 2.4.41 on 80/tcp",
            True,
            False,
        ),
        (
            "cpe:2.3:a:netapp:cloud_backup:-:*:*:*:*:*:*:*",
            "cloud_backup on 443/tcp",
            True,
            False,
        ),
        ("cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*", "dcmtk 3.6.6", False, True),
        ("cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*", "nginx 1.18.0", False, True),
        ("cpe:2.3:a:nginx:nginx:1.18.0:*:*:*:*:*:*:*", "nginx 1.18.0", False, True),
    ]


def test_assets_of_other_organisations_are_not_read(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory.begin() as session:
        ours = ensure_organisation(session, "ours")
        theirs = ensure_organisation(session, "theirs")
        asset = Asset(organisation_id=theirs.id, name="x", os_cpe="cpe:/o:microsoft:windows_7")
        session.add(asset)
        session.flush()
        assert load_asset_software(session, ours.id, [asset.id], PurlCpeTable(CURATED)) == []
