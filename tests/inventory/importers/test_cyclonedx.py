"""CycloneDX JSON SBOMs: components of one asset, validated against the official schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import session_scope
from panacea.findings.models import Finding
from panacea.findings.service import FindingLocus, record_finding
from panacea.findings.vocabulary import Confidence, FindingSource
from panacea.inventory.assets import Asset, Component
from panacea.inventory.errors import ImportFileError, UnknownAssetError
from panacea.inventory.imports import import_bytes, import_file
from panacea.inventory.service import ensure_organisation
from tests.conftest import TEST_DATA, table_snapshot

ORG = "Ospedale San Matteo"
INFUSION = TEST_DATA / "cyclonedx_1_4_infusion_gateway_firmware.json"
MONITOR = TEST_DATA / "cyclonedx_1_5_patient_monitor_central.json"
PACS = TEST_DATA / "cyclonedx_1_6_pacs_server.json"
PYTHON_ENV = TEST_DATA / "cyclonedx_1_6_python_env_generated.json"

ComponentRow = tuple[str, str | None, str | None, str | None, str | None]


def _add_asset(factory: sessionmaker[Session], name: str, organisation: str = ORG) -> int:
    with session_scope(factory) as session:
        org = ensure_organisation(session, organisation)
        asset = Asset(organisation_id=org.id, name=name, kind="server")
        session.add(asset)
        session.flush()
        return asset.id


def _components(factory: sessionmaker[Session], asset_id: int) -> dict[str, Component]:
    with factory() as session:
        rows = session.scalars(select(Component).where(Component.asset_id == asset_id)).all()
        return {f"{c.name} {c.version}": c for c in rows}


def _sbom(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("path", "count", "expected"),
    [
        (
            INFUSION,
            10,
            [
                (
                    "InfuLink Gateway firmware",
                    "4.2.1",
                    "pkg:generic/example-medical/infulink-gateway-firmware@4.2.1",
                    None,
                    "Example Medical Devices GmbH",
                ),
                (
                    "VxWorks",
                    "6.9.4",
                    None,
                    "cpe:2.3:o:windriver:vxworks:6.9.4:*:*:*:*:*:*:*",
                    "Wind River Systems",
                ),
                (
                    "IPnet TCP/IP stack",
                    "6.9.4",
                    "pkg:generic/windriver/ipnet@6.9.4",
                    None,
                    "Wind River Systems",
                ),
                (
                    "openssl",
                    "1.0.2k",
                    "pkg:generic/openssl@1.0.2k",
                    "cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*",
                    "OpenSSL Software Foundation",
                ),
                # Written as a CPE 2.2 URI in the SBOM; stored as CPE 2.3.
                (
                    "linux_kernel",
                    "3.10.108",
                    None,
                    "cpe:2.3:o:linux:linux_kernel:3.10.108:*:*:*:*:*:*:*",
                    None,
                ),
            ],
        ),
        (
            MONITOR,
            4,
            [
                ("VitalView central station", "7.1", None, None, "Example Patient Monitoring AG"),
                (
                    "debian_linux",
                    "11",
                    None,
                    "cpe:2.3:o:debian:debian_linux:11.0:*:*:*:*:*:*:*",
                    None,
                ),
                (
                    "openssh",
                    "8.5p1",
                    "pkg:deb/debian/openssh-server@1:8.5p1-1?arch=amd64&distro=debian-11",
                    "cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*",
                    None,
                ),
            ],
        ),
        (
            PACS,
            9,
            [
                (
                    "pacs-archive",
                    "5.2.0",
                    "pkg:generic/example-imaging/pacs-archive@5.2.0",
                    None,
                    "Example Imaging Srl",
                ),
                (
                    "dcmtk",
                    "3.6.6",
                    "pkg:generic/dcmtk@3.6.6",
                    "cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*",
                    "OFFIS e.V.",
                ),
                (
                    "log4j-core",
                    "2.14.1",
                    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
                    "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*",
                    "The Apache Software Foundation",
                ),
                (
                    "jquery",
                    "3.4.1",
                    "pkg:npm/jquery@3.4.1",
                    "cpe:2.3:a:jquery:jquery:3.4.1:*:*:*:*:*:*:*",
                    None,
                ),
            ],
        ),
    ],
    ids=["1.4-infusion-gateway", "1.5-patient-monitor", "1.6-pacs"],
)
def test_sbom_components_nested_and_metadata(
    factory: sessionmaker[Session], path: Path, count: int, expected: list[ComponentRow]
) -> None:
    asset_id = _add_asset(factory, "device-under-test")

    report = import_file(factory, "sbom", path, organisation=ORG, asset_ref="device-under-test")

    assert (report.kind, report.records, report.components_added) == ("sbom", count, count)
    assert report.touched_asset_ids == {asset_id}
    stored = _components(factory, asset_id)
    assert len(stored) == count
    for name, version, purl, cpe, supplier in expected:
        row = stored[f"{name} {version}"]
        assert (row.purl, row.cpe, row.supplier, row.source) == (purl, cpe, supplier, "sbom")


def test_generated_python_environment_sbom(factory: sessionmaker[Session]) -> None:
    """An SBOM a real tool wrote: cyclonedx-py 7.5 run on this project's virtual environment."""
    asset_id = _add_asset(factory, "panacea-server")
    document = _sbom(PYTHON_ENV)

    report = import_file(factory, "sbom", PYTHON_ENV, organisation=ORG, asset_ref=str(asset_id))

    stored = _components(factory, asset_id)
    # The project itself is both metadata.component and, installed from its folder without a
    # purl, one of the components: the same (name, version, purl), so stored once.
    assert report.components_added == len(document["components"]) == len(stored)
    for component in document["components"]:
        row = stored[f"{component['name']} {component['version']}"]
        assert row.purl == component.get("purl")
        assert row.purl is None or row.purl.startswith("pkg:pypi/")
    library = stored["cyclonedx-python-lib " + _version_of(document, "cyclonedx-python-lib")]
    assert library.purl == "pkg:pypi/cyclonedx-python-lib@" + str(library.version)


def _version_of(document: dict[str, Any], name: str) -> str:
    return str(next(c["version"] for c in document["components"] if c["name"] == name))


def test_reimport_keeps_unchanged_components_and_their_findings(
    factory: sessionmaker[Session],
) -> None:
    asset_id = _add_asset(factory, "infusion-gw")
    import_file(factory, "sbom", INFUSION, organisation=ORG, asset_ref="infusion-gw")
    before = _components(factory, asset_id)
    _finding_on(factory, before["VxWorks 6.9.4"], "CVE-2019-12256")
    _finding_on(factory, before["openssl 1.0.2k"], "CVE-2017-3735")
    with session_scope(factory) as session:
        inventory_component = Component(
            organisation_id=before["VxWorks 6.9.4"].organisation_id,
            asset_id=asset_id,
            name="drug-library",
            version="2024.1",
            source="inventory",
        )
        session.add(inventory_component)

    again = import_file(factory, "sbom", INFUSION, organisation=ORG, asset_ref="infusion-gw")
    assert (again.components_added, again.notes) == (0, [])
    assert {k: v.id for k, v in _components(factory, asset_id).items()} == {
        **{k: v.id for k, v in before.items()},
        "drug-library 2024.1": inventory_component.id,
    }

    patched = _sbom(INFUSION)
    openssl = patched["components"][0]["components"][1]
    openssl.update(version="1.0.2u", purl="pkg:generic/openssl@1.0.2u")
    openssl["cpe"] = "cpe:2.3:a:openssl:openssl:1.0.2u:*:*:*:*:*:*:*"
    report = import_bytes(
        factory, "sbom", _bytes(patched), organisation=ORG, source="v2", asset_ref="infusion-gw"
    )

    after = _components(factory, asset_id)
    assert report.components_added == 1
    assert report.notes == [
        "removed component 'openssl 1.0.2k', no longer in the SBOM (1 findings)"
    ]
    assert "openssl 1.0.2k" not in after
    assert after["openssl 1.0.2u"].id not in {c.id for c in before.values()}
    assert after["VxWorks 6.9.4"].id == before["VxWorks 6.9.4"].id
    assert "drug-library 2024.1" in after
    with factory() as session:
        cves = set(session.scalars(select(Finding.cve_id).where(Finding.asset_id == asset_id)))
    assert cves == {"CVE-2019-12256"}


def _finding_on(factory: sessionmaker[Session], component: Component, cve: str) -> None:
    with session_scope(factory) as session:
        locus = FindingLocus(component.asset_id, component_id=component.id)
        record_finding(
            session,
            component.organisation_id,
            locus,
            cve,
            confidence=Confidence.CONFIRMED,
            source=FindingSource.SCANNER.value,
        )


def test_duplicate_components_are_stored_once(factory: sessionmaker[Session]) -> None:
    asset_id = _add_asset(factory, "pacs")
    document = _sbom(PACS)
    twin = dict(document["components"][1])
    twin.pop("cpe")
    twin["bom-ref"] = "openssl-again"
    twin["supplier"] = {"name": "OpenSSL Software Foundation"}
    document["components"][4]["components"].append(twin)

    report = import_bytes(
        factory, "sbom", _bytes(document), organisation=ORG, source="twin", asset_ref="pacs"
    )

    openssl = _components(factory, asset_id)["openssl 1.1.1k"]
    assert report.components_added == 9
    assert openssl.cpe == "cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*"
    assert openssl.supplier == "OpenSSL Software Foundation"


def test_version_taken_from_purl_when_missing(factory: sessionmaker[Session]) -> None:
    asset_id = _add_asset(factory, "viewer")
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [{"type": "library", "name": "jquery", "purl": "pkg:npm/jquery@1.12.4"}],
    }
    import_bytes(
        factory, "sbom", _bytes(document), organisation=ORG, source="s", asset_ref="viewer"
    )
    assert list(_components(factory, asset_id)) == ["jquery 1.12.4"]


def test_sbom_needs_an_asset(factory: sessionmaker[Session]) -> None:
    with pytest.raises(
        ImportFileError, match=r"cyclonedx_1_6_pacs_server.json: an SBOM needs --asset"
    ):
        import_file(factory, "sbom", PACS, organisation=ORG)


def test_sbom_for_unknown_asset(factory: sessionmaker[Session]) -> None:
    _add_asset(factory, "pacs")
    _add_asset(factory, "pacs-of-another-hospital", organisation="Ospedale Altrove")
    with pytest.raises(UnknownAssetError, match="pacs-of-another-hospital"):
        import_file(factory, "sbom", PACS, organisation=ORG, asset_ref="pacs-of-another-hospital")


def _pacs_with(change: str) -> bytes:
    """The PACS SBOM with one hostile edit, named by ``change``."""
    document = _sbom(PACS)
    log4j = document["components"][3]["components"][0]
    edits: dict[str, Any] = {
        "nested type not in the 1.6 enum": lambda: log4j.update(type="jar"),
        "version of the wrong type": lambda: document["components"][1].update(version=5),
        "unknown specVersion": lambda: document.update(specVersion="2.0"),
        "old specVersion": lambda: document.update(specVersion="1.3"),
        "not CycloneDX": lambda: document.pop("bomFormat"),
        "invalid purl": lambda: log4j.update(purl="maven/log4j-core@2.14.1"),
        "invalid cpe": lambda: document["components"][0].update(cpe="dcmtk 3.6.6"),
        "bad timestamp": lambda: document["metadata"].update(timestamp="yesterday"),
        "name longer than the column": lambda: log4j.update(name="x" * 301),
        "NUL in a supplier": lambda: log4j.update(publisher="Apache\u0000"),
        "unknown field in a license": lambda: document["components"][0].update(
            licenses=[{"license": {"idx": "MIT"}}]
        ),
        "URL with a space": lambda: document["components"][0].update(
            externalReferences=[{"type": "website", "url": "https://dicom.offis.de/dcmtk page"}]
        ),
    }
    edits[change]()
    return _bytes(document)


def _deeply_nested(depth: int) -> bytes:
    component: dict[str, Any] = {"type": "library", "name": "leaf"}
    for level in range(depth):
        component = {"type": "library", "name": f"level-{level}", "components": [component]}
    text = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]})
    return text.encode()


HOSTILE = {
    "nested type not in the 1.6 enum": (
        _pacs_with("nested type not in the 1.6 enum"),
        r"^hostile.json: \$\.components\[3\]\.components\[0\]\.type: not valid CycloneDX 1\.6: "
        r"'jar' is not one of",
    ),
    "version of the wrong type": (
        _pacs_with("version of the wrong type"),
        r"^hostile.json: \$\.components\[1\]\.version: .*5 is not of type 'string'",
    ),
    "unknown specVersion": (
        _pacs_with("unknown specVersion"),
        r"\$\.specVersion: unsupported version '2\.0' \(supported: 1\.4, 1\.5, 1\.6\)",
    ),
    "old specVersion": (
        _pacs_with("old specVersion"),
        r"\$\.specVersion: unsupported version '1\.3'",
    ),
    "not CycloneDX": (
        _pacs_with("not CycloneDX"),
        r"\$\.bomFormat: expected 'CycloneDX', found None",
    ),
    "invalid purl": (
        _pacs_with("invalid purl"),
        r"\$\.components\[3\]\.components\[0\]\.purl: not a package URL: "
        r".*'maven/log4j-core@2\.14\.1'",
    ),
    "invalid cpe": (
        _pacs_with("invalid cpe"),
        r"\$\.components\[0\]\.cpe: not a CPE name .*'dcmtk 3\.6\.6'",
    ),
    "bad timestamp": (_pacs_with("bad timestamp"), r"\$\.metadata\.timestamp: .*'yesterday'"),
    "name longer than the column": (
        _pacs_with("name longer than the column"),
        r"\$\.components\[3\]\.components\[0\]\.name: longer than 300 characters",
    ),
    "NUL in a supplier": (
        _pacs_with("NUL in a supplier"),
        r"\$\.components\[3\]\.components\[0\]\.supplier: contains a NUL character",
    ),
    "unknown field in a license": (
        _pacs_with("unknown field in a license"),
        r"\$\.components\[0\]\.licenses: .*not valid under any of the given schemas",
    ),
    "URL with a space": (
        _pacs_with("URL with a space"),
        r"\$\.components\[0\]\.externalReferences\[0\]\.url: "
        r".*'https://dicom\.offis\.de/dcmtk page'",
    ),
    "truncated JSON": (
        PACS.read_bytes()[:1500],
        r"^hostile.json: line \d+, column \d+: not valid JSON",
    ),
    "empty file": (b"", r"line 1, column 1: not valid JSON"),
    "a JSON array": (b"[]", r"\$: a CycloneDX document is a JSON object"),
    "XML": (b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>', r"XML"),
    "not UTF-8": (b'{"bomFormat": "Cyclone\xff"}', r"line 1: not UTF-8"),
    "nested too deeply": (_deeply_nested(400), r"nested too deeply"),
}


@pytest.mark.parametrize(("raw", "message"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_sbom_changes_nothing(
    factory: sessionmaker[Session], raw: bytes, message: str
) -> None:
    _add_asset(factory, "pacs")
    import_file(factory, "sbom", INFUSION, organisation=ORG, asset_ref="pacs")
    before = table_snapshot(factory)

    with pytest.raises(ImportFileError, match=message):
        import_bytes(
            factory, "sbom", raw, organisation=ORG, source="hostile.json", asset_ref="pacs"
        )

    assert table_snapshot(factory) == before
