"""Reading nmap's XML output (``-oX``) into plain values, safely.

The file is parsed with defusedxml only: a file that declares entities (a "billion laughs" bomb,
an external entity reaching for local files) is refused, never expanded. The shape follows
nmap's ``docs/nmap.dtd`` (xmloutputversion 1.05): ``nmaprun`` > ``scaninfo``, ``host`` >
``status``, ``address``, ``hostnames``, ``ports`` > ``port`` > ``state``, ``service`` > ``cpe``,
``script``; ``os`` > ``osmatch`` > ``osclass`` > ``cpe``; ``hostscript`` > ``script``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import ErrorString

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.nmap_scripts import (
    NseVulnerability,
    script_vulnerabilities,
    vulners_cves,
)
from panacea.inventory.service import address_kind
from panacea.inventory.vocabulary import AddressKind

# Port states that say nothing listens there. "open|filtered" and "unfiltered" say nothing either
# way, so an endpoint seen so is left as it was.
NOT_OPEN_STATES = frozenset({"closed", "filtered", "closed|filtered"})
MAX_PORT = 65535
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class ScannedService:
    """What nmap's service detection (-sV) said runs on a port."""

    name: str | None = None
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    cpes: tuple[str, ...] = ()
    # "probed": nmap talked to the service; "table": only guessed the name from the port number.
    method: str | None = None

    @property
    def probed(self) -> bool:
        return self.method == "probed"


@dataclass(frozen=True)
class ScannedPort:
    port: int
    protocol: str
    state: str
    service: ScannedService = field(default_factory=ScannedService)
    vulnerabilities: tuple[NseVulnerability, ...] = ()
    vulners_cves: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True)
class OsGuess:
    """nmap's best OS match (-O): its name, accuracy, device types and CPE 2.2 URIs."""

    name: str
    accuracy: int
    device_types: tuple[str, ...] = ()
    cpes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortCoverage:
    """Which ports the scan probed, per protocol, from ``scaninfo@services`` (``1-1024,3389``)."""

    ranges: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    def covers(self, protocol: str, port: int) -> bool:
        return any(low <= port <= high for low, high in self.ranges.get(protocol, ()))


@dataclass(frozen=True)
class ScannedHost:
    """A host nmap found up."""

    ips: tuple[str, ...]
    macs: tuple[tuple[str, str | None], ...]
    hostname: str | None
    os: OsGuess | None
    ports: tuple[ScannedPort, ...]
    host_vulnerabilities: tuple[NseVulnerability, ...] = ()
    # Protocols whose unlisted ports nmap summarised as "open|filtered" (extraports).
    unlisted_maybe_open: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.hostname or (self.ips[0] if self.ips else self.macs[0][0])

    def seen_not_open(self, protocol: str, port: int, coverage: PortCoverage) -> bool:
        """Whether this scan shows nothing listening on ``port/protocol`` of the host."""
        for scanned in self.ports:
            if scanned.port == port and scanned.protocol == protocol:
                return scanned.state in NOT_OPEN_STATES
        return coverage.covers(protocol, port) and protocol not in self.unlisted_maybe_open


@dataclass(frozen=True)
class NmapScan:
    started_at: datetime
    coverage: PortCoverage
    hosts: tuple[ScannedHost, ...]
    hosts_not_up: int = 0


def parse_nmap_xml(raw: bytes, source: str) -> NmapScan:
    """Parse nmap XML output; ``source`` names the file in errors.

    Raises ImportFileError for XML that declares entities or a DTD with external parts, for
    malformed XML (naming the line), for a root other than ``nmaprun`` and for bad values.
    """
    root = _parse_document(raw, source)
    if root.tag != "nmaprun":
        raise ImportFileError(
            source, "root element", f"expected <nmaprun> (nmap -oX output), found <{root.tag}>"
        )
    hosts: list[ScannedHost] = []
    not_up = 0
    for index, host in enumerate(root.findall("host"), start=1):
        status = host.find("status")
        if status is None or status.get("state") != "up":
            not_up += 1
            continue
        hosts.append(_host(host, source, f"host {index}"))
    return NmapScan(_scan_time(root, source), _coverage(root, source), tuple(hosts), not_up)


def _parse_document(raw: bytes, source: str) -> Element:
    try:
        root: Element = SafeET.fromstring(raw)
    except DefusedXmlException as e:
        raise ImportFileError(
            source, None, f"refused: the XML declares entities or external references ({e})"
        ) from e
    except LookupError as e:  # an XML declaration naming an encoding Python does not know
        raise ImportFileError(source, "line 1", f"unknown XML encoding: {e}") from e
    except ParseError as e:
        line, _ = e.position
        raise ImportFileError(
            source, f"line {line}", f"malformed XML: {ErrorString(e.code)}"
        ) from e
    return root


def _scan_time(root: Element, source: str) -> datetime:
    finished = root.find("runstats/finished")
    for where, value in (
        ("nmaprun@start", root.get("start")),
        ("runstats/finished@time", None if finished is None else finished.get("time")),
    ):
        if value:
            seconds = _integer(value, source, where)
            try:
                return datetime.fromtimestamp(seconds, UTC)
            except (OverflowError, OSError, ValueError):
                raise ImportFileError(source, where, f"not a time: {value!r}") from None
    raise ImportFileError(source, "nmaprun@start", "the scan has no start or finish time")


def _coverage(root: Element, source: str) -> PortCoverage:
    ranges: dict[str, tuple[tuple[int, int], ...]] = {}
    for info in root.findall("scaninfo"):
        protocol = info.get("protocol", "tcp")
        where = f"scaninfo[{protocol}]@services"
        parsed = tuple(
            _port_range(item, source, where)
            for item in info.get("services", "").split(",")
            if item.strip()
        )
        ranges[protocol] = ranges.get(protocol, ()) + parsed
    return PortCoverage(ranges)


def _port_range(item: str, source: str, where: str) -> tuple[int, int]:
    low, _, high = item.strip().partition("-")
    return _port_number(low, source, where), _port_number(high or low, source, where)


def _host(host: Element, source: str, where: str) -> ScannedHost:
    ips: list[str] = []
    macs: list[tuple[str, str | None]] = []
    for address in host.findall("address"):
        value = address.get("addr", "")
        if _address_kind(value, source, f"{where} address") is AddressKind.MAC:
            macs.append((value, address.get("vendor") or None))
        else:
            ips.append(value)
    if not ips and not macs:
        raise ImportFileError(source, where, "host has no address")
    ports_element = host.find("ports")
    ports = () if ports_element is None else _ports(ports_element, source, where)
    return ScannedHost(
        ips=tuple(ips),
        macs=tuple(macs),
        hostname=_hostname(host),
        os=_os_guess(host, source, where),
        ports=ports,
        host_vulnerabilities=tuple(
            v
            for script in host.findall("hostscript/script")
            for v in script_vulnerabilities(script)
        ),
        unlisted_maybe_open=_unlisted_maybe_open(ports_element),
    )


def _hostname(host: Element) -> str | None:
    """The name the user scanned by, else the reverse-DNS name, else any other."""
    names = [(h.get("type"), h.get("name", "").rstrip(".")) for h in host.findall("hostnames/*")]
    for wanted in ("user", "PTR", None):
        for kind, name in names:
            if name and (wanted is None or kind == wanted):
                return name
    return None


def _ports(ports: Element, source: str, where: str) -> tuple[ScannedPort, ...]:
    found = []
    for port in ports.findall("port"):
        number = _port_number(port.get("portid", ""), source, f"{where} port")
        state = port.find("state")
        scripts = port.findall("script")
        found.append(
            ScannedPort(
                port=number,
                protocol=port.get("protocol", "tcp"),
                state="" if state is None else state.get("state", ""),
                service=_service(port.find("service")),
                vulnerabilities=tuple(v for s in scripts for v in script_vulnerabilities(s)),
                vulners_cves=tuple(c for s in scripts for c in vulners_cves(s)),
            )
        )
    return tuple(found)


def _service(service: Element | None) -> ScannedService:
    if service is None:
        return ScannedService()
    return ScannedService(
        name=service.get("name") or None,
        product=service.get("product") or None,
        version=service.get("version") or None,
        extrainfo=service.get("extrainfo") or None,
        cpes=tuple((c.text or "").strip() for c in service.findall("cpe") if c.text),
        method=service.get("method") or None,
    )


def _os_guess(host: Element, source: str, where: str) -> OsGuess | None:
    best: tuple[int, Element] | None = None
    for match in host.findall("os/osmatch"):
        accuracy = _integer(match.get("accuracy", "0"), source, f"{where} osmatch@accuracy")
        if best is None or accuracy > best[0]:
            best = (accuracy, match)
    if best is None:
        return None
    accuracy, match = best
    classes = sorted(
        match.findall("osclass"),
        key=lambda c: -_integer(c.get("accuracy", "0"), source, f"{where} osclass@accuracy"),
    )
    return OsGuess(
        name=match.get("name", ""),
        accuracy=accuracy,
        device_types=tuple(c.get("type", "") for c in classes if c.get("type")),
        cpes=tuple((cpe.text or "").strip() for c in classes for cpe in c.findall("cpe")),
    )


def _unlisted_maybe_open(ports: Element | None) -> frozenset[str]:
    if ports is None:
        return frozenset()
    protocols: set[str] = set()
    for extra in ports.findall("extraports"):
        if "open" in extra.get("state", ""):
            named = {r.get("proto", "") for r in extra.findall("extrareasons")} - {""}
            # Older nmap versions do not say which protocol a summary is about.
            protocols |= named or {"tcp", "udp", "sctp"}
    return frozenset(protocols)


def _address_kind(value: str, source: str, where: str) -> AddressKind:
    try:
        return address_kind(value)
    except ValueError:
        raise ImportFileError(source, where, f"not an IP or MAC address: {value!r}") from None


def _port_number(text: str, source: str, where: str) -> int:
    number = _integer(text, source, where)
    if not 0 <= number <= MAX_PORT:
        raise ImportFileError(source, where, f"port {number} is outside 0-{MAX_PORT}")
    return number


def _integer(text: str, source: str, where: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(text.strip()):
        raise ImportFileError(source, where, f"expected a whole number, got {text!r}")
    return int(text)
