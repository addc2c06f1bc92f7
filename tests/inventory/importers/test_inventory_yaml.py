"""The inventory file importer: the documented example, re-imports, and every kind of bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.inventory.clinical import ClinicalService, ServiceAssetDependency, ServiceDependency
from panacea.inventory.errors import ImportFileError
from panacea.inventory.imports import import_bytes
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.people import AccountLogon, StaffWorkstation
from tests.conftest import REPO, table_snapshot

ORG = "St. Example Hospital"


def documented_example() -> bytes:
    text = (REPO / "docs" / "inventory.md").read_text()
    block = text.split("## A complete example", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", block, re.S)
    assert match is not None
    return match.group(1).encode()


def _import(factory: sessionmaker[Session], raw: bytes, source: str = "hospital.yaml") -> object:
    return import_bytes(factory, "inventory", raw, organisation=ORG, source=source)


def _count(session: Session, entity: type) -> int:
    return int(session.scalar(select(func.count()).select_from(entity)) or 0)


def test_documented_example_imports(factory: sessionmaker[Session]) -> None:
    report = _import(factory, documented_example())
    assert report.assets_added == 5  # type: ignore[attr-defined]
    with factory() as session:
        assert _count(session, Zone) == 6
        assert _count(session, ReachabilityRule) == 4
        rule = session.scalars(
            select(ReachabilityRule).where(ReachabilityRule.ports == "443,1433")
        ).one()
        assert rule.protocol == "tcp"
        db = session.scalars(select(Asset).where(Asset.name == "ehr-db-01")).one()
        assert db.patchable == "vendor_approval"
        assert {a.value for a in db.addresses} == {"10.16.0.20", "00:50:56:12:34:56"}
        gateway = session.scalars(select(Asset).where(Asset.name == "infusion-gw-01")).one()
        assert gateway.patchable == "no"  # unquoted YAML 'no' is not a boolean here
        assert gateway.known_cves == ["CVE-2019-10959"]
        assert _count(session, ClinicalService) == 4
        assert _count(session, ServiceDependency) == 1
        triage = session.scalars(
            select(ServiceAssetDependency).where(
                ServiceAssetDependency.redundancy_group_id.is_not(None)
            )
        ).one()
        assert triage.needs == "A"
        assert _count(session, StaffWorkstation) == 1
        assert _count(session, AccountLogon) == 2


def test_reimport_changes_nothing(factory: sessionmaker[Session]) -> None:
    raw = documented_example()
    _import(factory, raw)
    before = table_snapshot(factory, ignore=frozenset({"last_seen"}))
    report = _import(factory, raw)
    assert report.assets_added == 0  # type: ignore[attr-defined]
    assert report.assets_updated == 5  # type: ignore[attr-defined]
    assert table_snapshot(factory, ignore=frozenset({"last_seen"})) == before


def test_reimport_replaces_nested_lists_and_keeps_rules_without_section(
    factory: sessionmaker[Session],
) -> None:
    _import(factory, documented_example())
    update = b"""
assets:
  - name: pacs-01
    kind: server
    zone: clinical-lan
    endpoints:
      - {port: 104, service: dicom, product: DCMTK storescp, version: 3.6.7}
    components:
      - {name: dcmtk, version: 3.6.7, purl: pkg:generic/dcmtk@3.6.7}
"""
    _import(factory, update, "update.yaml")
    with factory() as session:
        assert _count(session, ReachabilityRule) == 4
        pacs = session.scalars(select(Asset).where(Asset.name == "pacs-01")).one()
        versions = session.scalars(
            select(Component.version).where(Component.asset_id == pacs.id)
        ).all()
        assert versions == ["3.6.7"]
        endpoint = session.scalars(select(Endpoint).where(Endpoint.asset_id == pacs.id)).one()
        assert endpoint.version == "3.6.7"
        assert _count(session, Asset) == 5


BAD_FILES = [
    pytest.param(
        b"zones: [{name: dmz}]\nassets:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n"
        b"  - {name: d, zone: icu}\n",
        "assets[3].zone (line 6): unknown zone 'icu'",
        id="unknown-zone",
    ),
    pytest.param(
        b"staff_groups:\n  - {name: nurses, size: many}\n",
        "staff_groups[0].size (line 2)",
        id="wrong-type",
    ),
    pytest.param(b"assets:\n  - {name: a, colour: red}\n", "assets[0].colour", id="unknown-key"),
    pytest.param(b"assets:\n  - {name: a\n", "line 3", id="truncated"),
    pytest.param(
        b"assets:\n  - {name: a, known_cves: [CVE-17-1]}\n", "assets[0].known_cves", id="bad-cve"
    ),
    pytest.param(
        b"zones: [{name: a}]\nrules: [{from: a, to: a, ports: '90-80'}]\n",
        "rules[0].ports",
        id="reversed-range",
    ),
    pytest.param(
        b"assets: [{name: a}]\nservices:\n  - key: s\n    name: S\n    redundancy_groups:"
        b" [{name: g, k: 2, assets: [a]}]\n",
        "k=2 is more than",
        id="k-of-n",
    ),
    pytest.param(
        b"assets: [{name: a}, {name: a}]\n",
        "assets[1].name (line 1): duplicate name",
        id="duplicate",
    ),
    pytest.param(b"assets: [{name: a, os_cpe: 'cpe:2.3:x'}]\n", "assets[0].os_cpe", id="bad-cpe"),
    pytest.param(b"assets: [{name: a, ip: 10.0.0.999}]\n", "assets[0].ip[0]", id="bad-ip"),
    pytest.param(
        b"services: [{key: s, name: S, depends_on: [t]}]\n",
        "unknown service 't'",
        id="unknown-service",
    ),
    pytest.param(b"- just\n- a list\n", "must be a mapping", id="not-a-mapping"),
    pytest.param(
        b"a: !!python/object/apply:os.system ['true']\n", "not valid YAML", id="unsafe-tag"
    ),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_FILES)
def test_bad_file_names_the_field_and_changes_nothing(
    factory: sessionmaker[Session], raw: bytes, expected: str
) -> None:
    _import(factory, documented_example(), "first.yaml")
    before = table_snapshot(factory)
    with pytest.raises(ImportFileError) as excinfo:
        _import(factory, raw, "bad.yaml")
    message = str(excinfo.value)
    assert message.startswith("bad.yaml: ")
    assert expected in message
    assert "\n" not in message
    assert table_snapshot(factory) == before


def test_file_path_is_named(tmp_path: Path, sqlite_factory: sessionmaker[Session]) -> None:
    from panacea.inventory.imports import import_file

    with pytest.raises(ImportFileError, match=r"missing\.yaml: cannot read"):
        import_file(sqlite_factory, "inventory", tmp_path / "missing.yaml", organisation=ORG)
