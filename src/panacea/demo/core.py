"""The named systems of the demo hospital: perimeter, core clinical servers, devices."""

from __future__ import annotations

from panacea.demo.catalogue import (
    DEBIAN_12,
    OPENSSH_89,
    UBUNTU_2204,
    VXWORKS_694,
    WINDOWS_2008_R2,
    WINDOWS_2012,
    WINDOWS_2012_R2_SMB1,
    WINDOWS_2016_OLD,
    WINDOWS_2016_PATCHED,
    WINDOWS_2019,
    OsProfile,
    cpe,
    endpoint,
)
from panacea.inventory.importers.inventory_schema import AssetSpec, ComponentSpec, EndpointSpec


def _comp(
    name: str, version: str | None, cpe_: str | None = None, purl: str | None = None
) -> ComponentSpec:
    return ComponentSpec(name=name, version=version, cpe=cpe_, purl=purl)


def _server(
    name: str,
    zone: str,
    profile: OsProfile,
    department: str,
    criticality: str,
    *extra: EndpointSpec,
    components: tuple[ComponentSpec, ...] = (),
    **fields: object,
) -> dict[str, object]:
    return {
        "name": name,
        "kind": "server",
        "zone": zone,
        "hostname": f"{name}.hospital.local",
        "os": profile.name,
        "os_cpe": profile.os_cpe,
        "department": department,
        "criticality": criticality,
        "endpoints": [*profile.endpoints, *extra],
        "components": [*profile.components, *components],
        **fields,
    }


def core_assets() -> list[dict[str, object]]:
    """The named systems, as AssetSpec fields without addresses (added by the builder)."""
    return [*_perimeter(), *_clinical_servers(), *_infrastructure(), *_device_systems()]


def _perimeter() -> list[dict[str, object]]:
    fortios = cpe("o", "fortinet", "fortios", "6.0.4")
    return [
        {
            "name": "vpn-gw-01",
            "kind": "network_device",
            "zone": "dmz",
            "remote_access_zone": "vpn-pool",
            "os": "FortiOS 6.0.4",
            "os_cpe": fortios,
            "manufacturer": "Fortinet",
            "model": "FortiGate 100E",
            "firmware": "6.0.4",
            "department": "IT",
            "criticality": "critical",
            "patchable": "yes",
            "endpoints": [
                endpoint(443, "https", "Fortinet FortiGate SSL VPN", "6.0.4", fortios),
                endpoint(10443, "https", "Fortinet FortiGate SSL VPN", "6.0.4", fortios),
            ],
        },
        {
            "name": "citrix-adc-01",
            "kind": "network_device",
            "zone": "dmz",
            "os": "Citrix ADC 13.0-47.24",
            "manufacturer": "Citrix",
            "model": "ADC MPX 8905",
            "firmware": "13.0-47.24",
            "department": "IT",
            "criticality": "high",
            "os_cpe": cpe("o", "citrix", "application_delivery_controller_firmware", "13.0"),
            "endpoints": [endpoint(443, "https", "Citrix NetScaler Gateway", "13.0-47.24")],
            "components": [
                _comp(
                    "Citrix ADC MPX",
                    None,
                    cpe("h", "citrix", "application_delivery_controller", "-"),
                ),
                _comp(
                    "NetScaler ADC",
                    "13.0-47.24",
                    cpe("a", "citrix", "netscaler_application_delivery_controller", "13.0-47.24"),
                ),
            ],
        },
        _server(
            "mail-01",
            "dmz",
            WINDOWS_2016_PATCHED,
            "IT",
            "high",
            endpoint(443, "https", "Microsoft Exchange OWA", "15.1.2176"),
            endpoint(25, "smtp", "Microsoft ESMTP"),
            components=(
                _comp(
                    "Microsoft Exchange Server 2016 CU19",
                    "2016",
                    cpe("a", "microsoft", "exchange_server", "2016", "cumulative_update_19"),
                ),
            ),
            controls=["edr", "backups"],
        ),
        _server(
            "portal-web-01",
            "dmz",
            UBUNTU_2204,
            "IT",
            "medium",
            endpoint(
                443, "https", "Apache httpd", "2.4.49", cpe("a", "apache", "http_server", "2.4.49")
            ),
            endpoint(
                80, "http", "Apache httpd", "2.4.49", cpe("a", "apache", "http_server", "2.4.49")
            ),
        ),
        _server(
            "mft-01",
            "dmz",
            WINDOWS_2016_PATCHED,
            "Laboratory",
            "high",
            endpoint(443, "https", "MOVEit Transfer", "2021.0.6"),
            components=(
                _comp(
                    "MOVEit Transfer",
                    "2021.0.6",
                    cpe("a", "progress", "moveit_transfer", "2021.0.6"),
                ),
            ),
        ),
        {
            "name": "fw-edge-01",
            "kind": "network_device",
            "zone": "dmz",
            "os": "PAN-OS 10.2.9",
            "manufacturer": "Palo Alto Networks",
            "model": "PA-3220",
            "firmware": "10.2.9",
            "department": "IT",
            "criticality": "critical",
            "endpoints": [endpoint(443, "https", "GlobalProtect portal", "10.2.9")],
            # NVD had not yet analysed CVE-2024-3400 (no configurations): the hospital lists it.
            "known_cves": ["CVE-2024-3400"],
        },
        {
            "name": "bigip-01",
            "kind": "network_device",
            "zone": "dmz",
            "os": "F5 BIG-IP 15.1.5",
            "manufacturer": "F5",
            "model": "BIG-IP i4800",
            "firmware": "15.1.5",
            "department": "IT",
            "criticality": "high",
            "endpoints": [
                endpoint(
                    443,
                    "https",
                    "BIG-IP APM",
                    "15.1.5",
                    cpe("a", "f5", "big-ip_access_policy_manager", "15.1.5"),
                )
            ],
        },
        {
            "name": "vendor-vpn-01",
            "kind": "network_device",
            "zone": "vendor-access",
            "remote_access_zone": "device-vlan",
            "os": "Pulse Connect Secure 8.2R12",
            "manufacturer": "Pulse Secure",
            "model": "PSA3000",
            "firmware": "8.2R12",
            "department": "IT",
            "criticality": "high",
            "endpoints": [
                endpoint(
                    443,
                    "https",
                    "Pulse Connect Secure",
                    "8.2R12",
                    cpe("a", "ivanti", "connect_secure", "8.2", "r12.0"),
                )
            ],
        },
        _server(
            "remote-support-01",
            "vendor-access",
            WINDOWS_2019,
            "IT",
            "high",
            endpoint(
                8040,
                "http",
                "ConnectWise ScreenConnect",
                "23.9.7",
                cpe("a", "connectwise", "screenconnect", "23.9.7"),
            ),
        ),
    ]


def _clinical_servers() -> list[dict[str, object]]:
    mssql = endpoint(1433, "ms-sql-s", "Microsoft SQL Server 2012", "11.0.7001")
    return [
        _server(
            "ehr-db-01",
            "clinical-lan",
            WINDOWS_2012_R2_SMB1,
            "IT",
            "critical",
            mssql,
            patchable="vendor_approval",
            controls=["backups"],
        ),
        _server(
            "ehr-app-01",
            "clinical-lan",
            WINDOWS_2016_OLD,
            "IT",
            "critical",
            endpoint(443, "https", "Microsoft IIS httpd", "10.0"),
            controls=["edr", "backups"],
        ),
        _server(
            "ehr-app-02",
            "clinical-lan",
            WINDOWS_2016_OLD,
            "IT",
            "critical",
            endpoint(443, "https", "Microsoft IIS httpd", "10.0"),
            controls=["edr", "backups"],
        ),
        _server(
            "hl7-engine-01",
            "clinical-lan",
            UBUNTU_2204,
            "IT",
            "critical",
            endpoint(
                8443,
                "https",
                "Mirth Connect",
                "4.3.0",
                cpe("a", "nextgen", "mirth_connect", "4.3.0"),
            ),
            endpoint(6661, "hl7-mllp", "Mirth Connect MLLP listener"),
            components=(
                _comp(
                    "activemq-client",
                    "5.17.3",
                    purl="pkg:maven/org.apache.activemq/activemq-client@5.17.3",
                ),
            ),
            controls=["backups"],
        ),
        _server(
            "pacs-01",
            "clinical-lan",
            DEBIAN_12,
            "Radiology",
            "critical",
            endpoint(104, "dicom", "DCMTK storescp", "3.6.6"),
            endpoint(443, "https", "PACS web viewer"),
            components=(
                _comp("dcmtk", "3.6.6", purl="pkg:generic/dcmtk@3.6.6"),
                _comp(
                    "DICOM Part 10 file format",
                    "2019a",
                    cpe("a", "nema", "dicom_standard", "2019a"),
                ),
            ),
            controls=["backups"],
        ),
        _server(
            "pacs-viewer-01",
            "clinical-lan",
            DEBIAN_12,
            "Radiology",
            "high",
            endpoint(
                8042, "http", "Orthanc", "1.11.0", cpe("a", "orthanc-server", "orthanc", "1.11.0")
            ),
        ),
        _server(
            "lis-01",
            "clinical-lan",
            WINDOWS_2012,
            "Laboratory",
            "critical",
            endpoint(443, "https", "Laboratory information system"),
            controls=["backups"],
        ),
        _server(
            "pharmacy-01",
            "clinical-lan",
            WINDOWS_2016_PATCHED,
            "Pharmacy",
            "high",
            endpoint(443, "https", "Pharmacy dispensing"),
            controls=["edr", "backups"],
        ),
        _server(
            "integration-bus-01",
            "clinical-lan",
            UBUNTU_2204,
            "IT",
            "high",
            endpoint(
                61616,
                "openwire",
                "Apache ActiveMQ",
                "5.17.3",
                cpe("a", "apache", "activemq", "5.17.3"),
            ),
        ),
        _server(
            "print-01", "clinical-lan", WINDOWS_2012, "IT", "medium", endpoint(9100, "jetdirect")
        ),
    ]


def _infrastructure() -> list[dict[str, object]]:
    return [
        _server(
            "ad-dc-01",
            "admin-lan",
            WINDOWS_2019,
            "IT",
            "critical",
            endpoint(88, "kerberos-sec"),
            endpoint(389, "ldap"),
            controls=["edr", "backups"],
        ),
        _server(
            "ad-dc-02",
            "admin-lan",
            WINDOWS_2019,
            "IT",
            "critical",
            endpoint(88, "kerberos-sec"),
            endpoint(389, "ldap"),
            controls=["edr", "backups"],
        ),
        _server("file-01", "admin-lan", WINDOWS_2008_R2, "IT", "medium", controls=["backups"]),
        _server(
            "backup-01",
            "management",
            WINDOWS_2019,
            "IT",
            "critical",
            endpoint(9392, "http", "Veeam Backup"),
            controls=["edr"],
        ),
        {
            "name": "vcenter-01",
            "kind": "server",
            "zone": "management",
            "os": "VMware Photon OS",
            "department": "IT",
            "criticality": "critical",
            "endpoints": [
                endpoint(
                    443,
                    "https",
                    "VMware vCenter Server",
                    "6.5",
                    cpe("a", "vmware", "vcenter_server", "6.5", "update2b"),
                ),
                OPENSSH_89,
            ],
        },
        {
            "name": "core-sw-01",
            "kind": "network_device",
            "zone": "management",
            "os": "Cisco IOS XE 17.3.4",
            "os_cpe": cpe("o", "cisco", "ios_xe", "17.3.4"),
            "manufacturer": "Cisco",
            "model": "Catalyst 9300",
            "firmware": "17.3.4",
            "department": "IT",
            "criticality": "critical",
            "endpoints": [
                endpoint(443, "https", "Cisco IOS XE web UI", "17.3.4"),
                endpoint(22, "ssh"),
            ],
        },
    ]


def _device_systems() -> list[dict[str, object]]:
    return [
        {
            "name": "infusion-gw-01",
            "kind": "medical_device",
            "zone": "device-vlan",
            "os": "VxWorks 6.9.4",
            "manufacturer": "BD",
            "model": "Alaris Gateway Workstation",
            "firmware": "1.3.1 build 13",
            "department": "Intensive Care",
            "criticality": "critical",
            "patchable": "no",
            "endpoints": [endpoint(443, "https", "Alaris Gateway web"), endpoint(5000, "unknown")],
            "components": [
                _comp(
                    "Alaris Gateway Workstation firmware",
                    "1.3.1",
                    cpe("o", "bd", "alaris_gateway_workstation_firmware", "1.3.1", "13"),
                ),
                _comp(
                    "Alaris Gateway Workstation",
                    None,
                    cpe("h", "bd", "alaris_gateway_workstation", "-"),
                ),
                VXWORKS_694,
            ],
        },
        {
            "name": "icu-central-01",
            "kind": "medical_device",
            "zone": "device-vlan",
            "os": "CARESCAPE Central Station",
            "manufacturer": "GE Healthcare",
            "model": "CARESCAPE Central Station MAS700",
            "firmware": "1.0",
            "department": "Intensive Care",
            "criticality": "critical",
            "patchable": "vendor_approval",
            "endpoints": [endpoint(22, "ssh"), endpoint(5900, "vnc")],
            "components": [
                _comp(
                    "CARESCAPE Central Station firmware",
                    "1.0",
                    cpe("o", "gehealthcare", "carescape_central_station_mas700_firmware", "1.0"),
                ),
                _comp(
                    "CARESCAPE Central Station MAS700",
                    None,
                    cpe("h", "gehealthcare", "carescape_central_station_mas700", "-"),
                ),
            ],
        },
        {
            "name": "icu-telemetry-01",
            "kind": "medical_device",
            "zone": "device-vlan",
            "os": "ApexPro Telemetry Server 4.2",
            "manufacturer": "GE Healthcare",
            "model": "ApexPro Telemetry Server",
            "firmware": "4.2",
            "department": "Intensive Care",
            "criticality": "critical",
            "patchable": "no",
            "endpoints": [endpoint(5900, "vnc"), endpoint(445, "microsoft-ds")],
            "components": [
                _comp(
                    "ApexPro firmware",
                    "4.2",
                    cpe("o", "gehealthcare", "apexpro_telemetry_server_firmware", "4.2"),
                ),
                _comp(
                    "ApexPro Telemetry Server",
                    None,
                    cpe("h", "gehealthcare", "apexpro_telemetry_server", "-"),
                ),
            ],
        },
    ]


def validated(fields: dict[str, object], **extra: object) -> AssetSpec:
    """An AssetSpec from the dictionaries above plus ``extra`` (addresses)."""
    return AssetSpec.model_validate({**fields, **extra})
