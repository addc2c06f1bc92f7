"""nmap XML scans (``nmap -sV [-O] [--script vuln] -oX scan.xml``): hosts, open ports, proof.

Each host nmap found up becomes an asset, or updates the one it is: matched by MAC, then IP
(and hostname). Its addresses are attached, its open ports become endpoints with the service
nmap detected (CPE 2.2 URIs from nmap are stored as CPE 2.3). Its best OS match sets the OS of
an asset whose OS is unknown or that nmap itself created; an inventory's OS is kept. New assets
get a device kind only from a confident OS match (routers, switches ...); otherwise "other".

Everything is dated by the scan (``nmaprun@start``), not by the import, so importing the same
file twice changes nothing, and an older scan never overwrites what a newer one saw.

A port the scan probed (listed closed or filtered, or within ``scaninfo@services`` and not
listed) that an earlier scan saw open is marked closed and its findings are resolved. Ports
outside the scanned ranges, and hosts not in the scan, are left as they were.

NSE results that prove a vulnerability (``vulns`` library state VULNERABLE) become confirmed
findings of source ``scanner``; LIKELY VULNERABLE potential ones; an explicit NOT VULNERABLE
(``--script-args vulns.showall``) resolves an earlier scanner finding of that CVE there. What the
``vulners`` script lists is not proof and is only counted in the report's notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding
from panacea.findings.service import FindingLocus, record_finding, resolve_automatically
from panacea.findings.vocabulary import FindingSource, FindingStatus
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.importers.nmap_scripts import NseState, NseVulnerability, host_script_ports
from panacea.inventory.importers.nmap_xml import (
    NmapScan,
    OsGuess,
    ScannedHost,
    ScannedService,
    parse_nmap_xml,
)
from panacea.inventory.service import find_asset_by_addresses, set_address, upsert_endpoint
from panacea.inventory.vocabulary import AssetKind, EndpointState
from panacea.vulndb.cpe import ANY, CpeError, parse_cpe

SOURCE = "nmap"
# Below this accuracy an OS match is a guess too weak to classify the device by.
_CONFIDENT_OS_ACCURACY = 95
_DEVICE_KINDS = {
    "router": AssetKind.NETWORK_DEVICE,
    "switch": AssetKind.NETWORK_DEVICE,
    "firewall": AssetKind.NETWORK_DEVICE,
    "WAP": AssetKind.NETWORK_DEVICE,
    "broadband router": AssetKind.NETWORK_DEVICE,
    "load balancer": AssetKind.NETWORK_DEVICE,
    "printer": AssetKind.IOT,
    "webcam": AssetKind.IOT,
}
_MAX_OS_NAME = 200
_MAX_NAME = 200


@dataclass(frozen=True)
class _Scan:
    """The scan being applied and where it came from."""

    data: NmapScan
    context: ImportContext

    @property
    def seen_at(self) -> datetime:
        return self.data.started_at

    def describe(self) -> str:
        return f"scan {self.context.source} at {self.seen_at.isoformat()}"


class NmapImporter:
    """Apply an nmap XML scan to an organisation's inventory and findings."""

    kind: ClassVar[str] = "nmap"

    def run(self, session: Session, raw: bytes, context: ImportContext) -> ImportReport:
        """Apply the scan in ``raw``; return what changed.

        ``touched_asset_ids`` holds every asset the scan saw, for re-matching. Raises
        ImportFileError (file and line or field) for a file that is not safe, well-formed nmap
        XML.
        """
        scan = _Scan(parse_nmap_xml(raw, context.source), context)
        report = ImportReport(kind=self.kind, source=context.source, records=len(scan.data.hosts))
        for host in scan.data.hosts:
            _apply_host(session, scan, host, report)
        if scan.data.hosts_not_up:
            report.notes.append(f"{scan.data.hosts_not_up} host(s) not up in the scan: skipped")
        _note_vulners(scan.data, report)
        return report


def _note_vulners(scan: NmapScan, report: ImportReport) -> None:
    listed = [p for host in scan.hosts for p in host.ports if p.is_open and p.vulners_cves]
    if listed:
        cves = {cve for port in listed for cve in port.vulners_cves}
        report.notes.append(
            f"the vulners script listed {len(cves)} CVE(s) on {len(listed)} port(s): a lookup "
            "by version, not proof; left to version matching"
        )


def _apply_host(session: Session, scan: _Scan, host: ScannedHost, report: ImportReport) -> None:
    asset = find_asset_by_addresses(
        session,
        scan.context.organisation.id,
        macs=[mac for mac, _ in host.macs],
        ips=host.ips,
        hostname=host.hostname,
    )
    created = asset is None
    if asset is None:
        asset = _new_asset(session, scan, host)
        report.assets_added += 1
    changed = _update_asset(session, asset, host, scan.seen_at)
    changed |= _apply_open_ports(session, scan, asset, host, report)
    changed |= _close_missing_ports(session, scan, asset, host, report)
    _record_script_findings(session, scan, asset, host, report)
    if changed and not created:
        report.assets_updated += 1
    report.touched_asset_ids.add(asset.id)


def _new_asset(session: Session, scan: _Scan, host: ScannedHost) -> Asset:
    organisation_id = scan.context.organisation.id
    asset = Asset(
        organisation_id=organisation_id,
        name=_free_name(session, scan, host),
        kind=_guess_kind(host.os).value,
        hostname=host.hostname,
        source=SOURCE,
        first_seen=scan.seen_at,
        last_seen=scan.seen_at,
    )
    session.add(asset)
    session.flush()
    return asset


def _free_name(session: Session, scan: _Scan, host: ScannedHost) -> str:
    """The host's name, or, if another asset bears it, the name with one of its addresses."""
    label = host.label[:_MAX_NAME]
    addresses = [*host.ips, *(mac for mac, _ in host.macs)]
    candidates = [label, *(f"{label} ({a})" for a in addresses if a != label)]
    taken = set(
        session.scalars(
            select(Asset.name).where(
                Asset.organisation_id == scan.context.organisation.id, Asset.name.in_(candidates)
            )
        )
    )
    for name in candidates:
        if name not in taken:
            return name
    raise ImportFileError(
        scan.context.source, None, f"host {label}: every name it could take is another asset's"
    )


def _guess_kind(os: OsGuess | None) -> AssetKind:
    """A device kind only when nmap is confident and every class of its best match agrees."""
    if os is None or os.accuracy < _CONFIDENT_OS_ACCURACY or not os.device_types:
        return AssetKind.OTHER
    kinds = {_DEVICE_KINDS.get(device_type, AssetKind.OTHER) for device_type in os.device_types}
    return kinds.pop() if len(kinds) == 1 else AssetKind.OTHER


def _update_asset(session: Session, asset: Asset, host: ScannedHost, seen_at: datetime) -> bool:
    """Addresses, hostname, OS and last_seen from the scan; return whether anything changed.

    Hostname and OS are filled in when unknown; the OS is replaced only on assets nmap created.
    """
    before = _asset_state(asset)
    for ip in host.ips:
        set_address(session, asset, ip)
    for mac, vendor in host.macs:
        set_address(session, asset, mac, vendor=vendor)
    if host.hostname and asset.hostname is None:
        asset.hostname = host.hostname
    # An OS a person wrote in the inventory outranks nmap's fingerprint guess.
    ours = asset.source == SOURCE and seen_at >= asset.last_seen
    if host.os is not None and (asset.os is None or ours):
        asset.os = host.os.name[:_MAX_OS_NAME]
        asset.os_cpe = _os_cpe(host.os)
    asset.last_seen = max(asset.last_seen, seen_at)
    session.flush()
    return _asset_state(asset) != before


def _asset_state(asset: Asset) -> tuple[object, ...]:
    addresses = sorted((a.kind, a.value, a.vendor or "") for a in asset.addresses)
    return (asset.hostname, asset.os, asset.os_cpe, asset.last_seen, tuple(addresses))


def _os_cpe(os: OsGuess) -> str | None:
    for uri in os.cpes:
        if uri.lower().startswith("cpe:/o:"):
            return _cpe23(uri, None)
    return None


def _apply_open_ports(
    session: Session, scan: _Scan, asset: Asset, host: ScannedHost, report: ImportReport
) -> bool:
    changed = False
    for port in host.ports:
        if not port.is_open:
            continue
        existing = _endpoint(session, asset, port.port, port.protocol)
        if existing is not None and existing.last_seen > scan.seen_at:
            continue  # a newer scan already described this port
        before = None if existing is None else _endpoint_state(existing)
        # A name nmap only guessed from the port number never replaces one it detected.
        guessed_only = existing is not None and not port.service.probed
        endpoint, created = upsert_endpoint(
            session,
            asset,
            port=port.port,
            protocol=port.protocol,
            seen_at=scan.seen_at,
            service=None if guessed_only else port.service.name,
            product=port.service.product,
            version=port.service.version,
            cpe=_service_cpe(port.service),
        )
        report.endpoints_added += int(created)
        changed |= created or _endpoint_state(endpoint) != before
    return changed


def _endpoint_state(endpoint: Endpoint) -> tuple[object, ...]:
    return (
        endpoint.state,
        endpoint.service,
        endpoint.product,
        endpoint.version,
        endpoint.cpe,
        endpoint.last_seen,
    )


def _service_cpe(service: ScannedService) -> str | None:
    """The service's application CPE as CPE 2.3, with nmap's version filled in if it lacks one."""
    applications = [c for c in service.cpes if c.lower().startswith("cpe:/a:")]
    candidates = applications or list(service.cpes)
    return _cpe23(candidates[0], service.version) if candidates else None


def _cpe23(uri: str, version: str | None) -> str | None:
    try:
        cpe = parse_cpe(uri)
    except CpeError:
        return None
    token = (version or "").split(" ")[0]
    # Only a plain version token ("1.5.7", "8.9p1"), not "3.X - 4.X" or a free-text range.
    if cpe.version == ANY and token[:1].isdigit() and "X" not in token.upper():
        cpe = cpe.with_version(token)
    return str(cpe)


def _close_missing_ports(
    session: Session, scan: _Scan, asset: Asset, host: ScannedHost, report: ImportReport
) -> bool:
    """Close the asset's open endpoints this scan probed and did not find open."""
    open_endpoints = session.scalars(
        select(Endpoint).where(
            Endpoint.asset_id == asset.id, Endpoint.state == EndpointState.OPEN.value
        )
    ).all()
    closed = False
    for endpoint in open_endpoints:
        if endpoint.last_seen >= scan.seen_at:
            continue  # seen open by this scan or a newer one
        if not host.seen_not_open(endpoint.protocol, endpoint.port, scan.data.coverage):
            continue
        endpoint.state = EndpointState.CLOSED.value
        report.endpoints_closed += 1
        closed = True
        reason = f"port {endpoint.port}/{endpoint.protocol} closed in {scan.describe()}"
        report.findings_resolved += _resolve_endpoint_findings(session, endpoint, reason)
    session.flush()
    return closed


def _resolve_endpoint_findings(session: Session, endpoint: Endpoint, reason: str) -> int:
    findings = session.scalars(
        select(Finding).where(
            Finding.endpoint_id == endpoint.id, Finding.status != FindingStatus.RESOLVED.value
        )
    ).all()
    return sum(resolve_automatically(session, finding, reason) for finding in findings)


def _record_script_findings(
    session: Session, scan: _Scan, asset: Asset, host: ScannedHost, report: ImportReport
) -> None:
    for port in host.ports:
        if port.is_open and port.vulnerabilities:
            endpoint = _endpoint(session, asset, port.port, port.protocol)
            locus = FindingLocus(asset.id, endpoint_id=None if endpoint is None else endpoint.id)
            for vulnerability in port.vulnerabilities:
                _apply_vulnerability(session, scan, locus, vulnerability, report)
    for vulnerability in host.host_vulnerabilities:
        locus = _host_script_locus(session, asset, host, vulnerability.script_id)
        _apply_vulnerability(session, scan, locus, vulnerability, report)


def _host_script_locus(
    session: Session, asset: Asset, host: ScannedHost, script_id: str
) -> FindingLocus:
    """The open endpoint a host script ran over (SMB scripts: 445, else 139), else the asset."""
    open_ports = {(p.port, p.protocol) for p in host.ports if p.is_open}
    for port in host_script_ports(script_id):
        if (port, "tcp") in open_ports:
            endpoint = _endpoint(session, asset, port, "tcp")
            if endpoint is not None:
                return FindingLocus(asset.id, endpoint_id=endpoint.id)
    return FindingLocus(asset.id)


def _apply_vulnerability(
    session: Session,
    scan: _Scan,
    locus: FindingLocus,
    vulnerability: NseVulnerability,
    report: ImportReport,
) -> None:
    existing = _finding(session, locus, vulnerability.cve_id)
    seen_at = scan.seen_at
    if existing is not None and existing.last_seen > seen_at:
        if existing.source == FindingSource.SCANNER.value:
            return  # a newer scan already spoke about this vulnerability here
        seen_at = existing.last_seen  # keep last_seen from going back in time
    if vulnerability.state is NseState.NOT_VULNERABLE:
        if existing is not None and existing.source == FindingSource.SCANNER.value:
            reason = f"nmap {vulnerability.script_id} reports NOT VULNERABLE in {scan.describe()}"
            report.findings_resolved += resolve_automatically(session, existing, reason)
        return
    confidence = vulnerability.confidence
    if confidence is None:
        return
    _, created = record_finding(
        session,
        scan.context.organisation.id,
        locus,
        vulnerability.cve_id,
        confidence=confidence,
        source=FindingSource.SCANNER.value,
        evidence=vulnerability.evidence,
        seen_at=seen_at,
    )
    report.findings_added += int(created)


def _finding(session: Session, locus: FindingLocus, cve_id: str) -> Finding | None:
    return session.scalar(
        select(Finding).where(
            Finding.asset_id == locus.asset_id,
            Finding.cve_id == cve_id,
            Finding.locus == locus.key,
        )
    )


def _endpoint(session: Session, asset: Asset, port: int, protocol: str) -> Endpoint | None:
    return session.scalar(
        select(Endpoint).where(
            Endpoint.asset_id == asset.id, Endpoint.port == port, Endpoint.protocol == protocol
        )
    )
