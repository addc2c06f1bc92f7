"""What software an asset runs, as CPE names, read in bulk from the inventory.

An asset's names come from its OS CPE, the CPEs of its *open* endpoints, and its components'
CPEs and package URLs (through ``purl_cpe``). Scanners often report a product's CPE without its
version and the version apart (nmap: ``cpe:/a:openbsd:openssh`` and version ``8.9p1 Ubuntu
3ubuntu0.10``): a CPE whose version is ANY takes the endpoint's or component's version, its first
word only (the rest is distribution detail). A version of NA (``-``) says the product has none
and is kept. The OS CPE is taken as it is: an asset's firmware field may be a BIOS revision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.inventory.assets import Asset, Component, Endpoint
from panacea.vulndb.cpe import ANY, NA, Cpe, CpeError, parse_cpe, unescape
from panacea.vulndb.purl_cpe import PurlCpeTable, PurlError

log = logging.getLogger(__name__)

OPEN_STATE = "open"


@dataclass(frozen=True)
class SoftwareFact:
    """One CPE name on an asset and where it was seen (neither id: the operating system)."""

    name: Cpe
    label: str
    endpoint_id: int | None = None
    component_id: int | None = None


@dataclass
class AssetSoftware:
    """The software facts and the inventory's own CVE list of one asset."""

    asset_id: int
    facts: list[SoftwareFact] = field(default_factory=list)
    known_cves: list[str] = field(default_factory=list)


class _EndpointRow(NamedTuple):
    id: int
    asset_id: int
    port: int
    protocol: str
    product: str | None
    version: str | None
    cpe: str | None


class _ComponentRow(NamedTuple):
    id: int
    asset_id: int
    name: str
    version: str | None
    purl: str | None
    cpe: str | None


def load_asset_software(
    session: Session, organisation_id: int, asset_ids: Sequence[int], purls: PurlCpeTable
) -> list[AssetSoftware]:
    """The software of the assets ``asset_ids`` of the organisation, in three queries.

    Unparseable CPEs and purls are logged and left out; they never stop the others.
    """
    rows = session.execute(
        select(Asset.id, Asset.os, Asset.os_cpe, Asset.known_cves)
        .where(Asset.organisation_id == organisation_id, Asset.id.in_(asset_ids))
        .order_by(Asset.id)
    )
    assets = {
        asset_id: _asset_software(asset_id, os, os_cpe, known_cves)
        for asset_id, os, os_cpe, known_cves in rows
    }
    endpoints = session.execute(
        select(
            Endpoint.id,
            Endpoint.asset_id,
            Endpoint.port,
            Endpoint.protocol,
            Endpoint.product,
            Endpoint.version,
            Endpoint.cpe,
        )
        .where(
            Endpoint.organisation_id == organisation_id,
            Endpoint.asset_id.in_(asset_ids),
            Endpoint.state == OPEN_STATE,
            Endpoint.cpe.is_not(None),
        )
        .order_by(Endpoint.id)
    )
    for endpoint in endpoints:
        assets[endpoint.asset_id].facts.extend(_endpoint_facts(_EndpointRow(*endpoint)))
    components = session.execute(
        select(
            Component.id,
            Component.asset_id,
            Component.name,
            Component.version,
            Component.purl,
            Component.cpe,
        )
        .where(
            Component.organisation_id == organisation_id,
            Component.asset_id.in_(asset_ids),
            Component.cpe.is_not(None) | Component.purl.is_not(None),
        )
        .order_by(Component.id)
    )
    for component in components:
        facts = _component_facts(_ComponentRow(*component), purls)
        assets[component.asset_id].facts.extend(facts)
    return list(assets.values())


def _asset_software(
    asset_id: int, os: str | None, os_cpe: str | None, known_cves: object
) -> AssetSoftware:
    software = AssetSoftware(asset_id, known_cves=_known_cves(known_cves))
    name = _parse(os_cpe, f"asset {asset_id} os_cpe") if os_cpe else None
    if name is not None:
        software.facts.append(SoftwareFact(name, os or f"operating system {name.product}"))
    return software


def _endpoint_facts(endpoint: _EndpointRow) -> list[SoftwareFact]:
    name = _parse(endpoint.cpe or "", f"endpoint {endpoint.id}")
    if name is None:
        return []
    name = _with_version(name, endpoint.version)
    label = f"{_labelled(endpoint.product or name.product, name)} on {endpoint.port}/"
    return [SoftwareFact(name, label + endpoint.protocol, endpoint_id=endpoint.id)]


def _component_facts(component: _ComponentRow, purls: PurlCpeTable) -> list[SoftwareFact]:
    names: list[Cpe] = []
    if component.cpe:
        name = _parse(component.cpe, f"component {component.id}")
        names += [_with_version(name, component.version)] if name is not None else []
    if component.purl:
        try:
            names += purls.cpes_for(component.purl, version=_first_word(component.version))
        except PurlError as error:
            log.warning("component %s: purl left out: %s", component.id, error)
    return [
        SoftwareFact(name, _labelled(component.name, name), component_id=component.id)
        for name in dict.fromkeys(names)
    ]


def _labelled(product: str, name: Cpe) -> str:
    """``product`` with the version the name carries, the one matching compares."""
    if name.version in (ANY, NA):
        return product
    return f"{product} {unescape(name.version)}"


def _parse(text: str, where: str) -> Cpe | None:
    try:
        return parse_cpe(text)
    except CpeError as error:
        log.warning("%s: CPE left out: %s", where, error)
        return None


def _with_version(name: Cpe, version: str | None) -> Cpe:
    word = _first_word(version)
    return name.with_version(word) if name.version == ANY and word else name


def _first_word(version: str | None) -> str | None:
    words = (version or "").split()
    return words[0] if words else None


def _known_cves(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(cve).strip().upper() for cve in value if str(cve).strip()]
