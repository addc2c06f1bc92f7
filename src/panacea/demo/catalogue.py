"""Software and hardware profiles the demo hospital is built from.

Each profile carries the CPEs real scanners and SBOMs would report, chosen so that the real NVD
records shipped in ``panacea/data/feeds/nvd`` match (or, for patched variants, do not match).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panacea.inventory.importers.inventory_schema import ComponentSpec, EndpointSpec


def cpe(part: str, vendor: str, product: str, version: str = "*", update: str = "*") -> str:
    """A CPE 2.3 formatted string with the remaining components ANY."""
    return f"cpe:2.3:{part}:{vendor}:{product}:{version}:{update}:*:*:*:*:*:*"


@dataclass(frozen=True)
class OsProfile:
    name: str
    os_cpe: str
    endpoints: tuple[EndpointSpec, ...] = ()
    components: tuple[ComponentSpec, ...] = ()


def endpoint(
    port: int,
    service: str,
    product: str | None = None,
    version: str | None = None,
    cpe_: str | None = None,
) -> EndpointSpec:
    return EndpointSpec(port=port, service=service, product=product, version=version, cpe=cpe_)


SMB1 = endpoint(
    445,
    "microsoft-ds",
    "Microsoft Windows SMB",
    "1.0",
    cpe("a", "microsoft", "server_message_block", "1.0"),
)
SMB3 = endpoint(445, "microsoft-ds", "Microsoft Windows SMB", "3.1.1")
RDP = endpoint(3389, "ms-wbt-server", "Microsoft Terminal Services")
OFFICE_2016 = ComponentSpec(
    name="Microsoft Office 2016", version="2016", cpe=cpe("a", "microsoft", "office", "2016")
)
OUTLOOK_2016 = ComponentSpec(
    name="Microsoft Outlook 2016", version="2016", cpe=cpe("a", "microsoft", "outlook", "2016")
)
OPENSSH_89 = endpoint(22, "ssh", "OpenSSH", "8.9p1", cpe("a", "openbsd", "openssh", "8.9", "p1"))
OPENSSH_98 = endpoint(22, "ssh", "OpenSSH", "9.8p1", cpe("a", "openbsd", "openssh", "9.8", "p1"))

WINDOWS_7_SP1 = OsProfile(
    "Microsoft Windows 7 Professional SP1",
    cpe("o", "microsoft", "windows_7", "-", "sp1"),
    (SMB1, RDP),
)
WINDOWS_10_1809_OLD = OsProfile(
    "Microsoft Windows 10 Enterprise LTSC 1809 (build 17763.1879)",
    cpe("o", "microsoft", "windows_10_1809", "10.0.17763.1879"),
    (SMB3, RDP),
    (OFFICE_2016, OUTLOOK_2016),
)
WINDOWS_10_1909 = OsProfile(
    "Microsoft Windows 10 Enterprise 1909",
    cpe("o", "microsoft", "windows_10_1909", "-"),
    (SMB3,),
    (OFFICE_2016, OUTLOOK_2016),
)
WINDOWS_10_22H2_PATCHED = OsProfile(
    "Microsoft Windows 10 Enterprise 22H2 (build 19045.4291)",
    cpe("o", "microsoft", "windows_10_22h2", "10.0.19045.4291"),
    (SMB3,),
    (ComponentSpec(name="Microsoft 365 Apps", version="2403"),),
)
WINDOWS_2008_R2 = OsProfile(
    "Microsoft Windows Server 2008 R2 SP1",
    cpe("o", "microsoft", "windows_server_2008", "r2", "sp1"),
    (SMB1, RDP),
)
WINDOWS_2012_R2_SMB1 = OsProfile(
    "Microsoft Windows Server 2012 R2 (SMBv1 enabled for a legacy client)",
    cpe("o", "microsoft", "windows_server_2012", "r2"),
    (SMB1,),
)
WINDOWS_2012 = OsProfile(
    "Microsoft Windows Server 2012", cpe("o", "microsoft", "windows_server_2012", "-"), (SMB3, RDP)
)
WINDOWS_2016_OLD = OsProfile(
    "Microsoft Windows Server 2016 (build 14393.4046)",
    cpe("o", "microsoft", "windows_server_2016", "10.0.14393.4046"),
    (SMB3, RDP),
)
WINDOWS_2016_PATCHED = OsProfile(
    "Microsoft Windows Server 2016 (build 14393.6897)",
    cpe("o", "microsoft", "windows_server_2016", "10.0.14393.6897"),
    (SMB3, RDP),
)
WINDOWS_2019 = OsProfile(
    "Microsoft Windows Server 2019 (build 17763.5696)",
    cpe("o", "microsoft", "windows_server_2019", "10.0.17763.5696"),
    (SMB3, RDP),
)
UBUNTU_2204 = OsProfile(
    "Ubuntu 22.04 LTS", cpe("o", "canonical", "ubuntu_linux", "22.04"), (OPENSSH_89,)
)
DEBIAN_12 = OsProfile(
    "Debian GNU/Linux 12", cpe("o", "debian", "debian_linux", "12.0"), (OPENSSH_98,)
)


@dataclass(frozen=True)
class DeviceProfile:
    """A kind of connected medical device or IoT device."""

    label: str
    kind: str
    manufacturer: str
    model: str
    firmware: str
    os: str
    patchable: str
    department: str
    endpoints: tuple[EndpointSpec, ...] = ()
    components: tuple[ComponentSpec, ...] = ()
    os_cpe: str | None = None
    controls: tuple[str, ...] = field(default=())


TRECK_STACK = ComponentSpec(
    name="Treck TCP/IP",
    version="6.0.1.41",
    supplier="Treck Inc.",
    cpe=cpe("a", "treck", "tcp\\/ip", "6.0.1.41"),
)
VXWORKS_694 = ComponentSpec(
    name="VxWorks",
    version="6.9.4",
    supplier="Wind River",
    cpe=cpe("o", "windriver", "vxworks", "6.9.4"),
)

INFUSION_PUMP = DeviceProfile(
    "infusion pump",
    "medical_device",
    "BD",
    "Alaris 8015 PC Unit",
    "9.33.1",
    "Alaris firmware",
    "no",
    "Intensive Care",
    components=(
        ComponentSpec(
            name="Alaris PC Unit firmware",
            version="9.33.1",
            cpe=cpe("o", "bd", "alaris_8015_pcu_firmware", "9.33.1"),
        ),
        ComponentSpec(name="Alaris 8015 PC Unit", cpe=cpe("h", "bd", "alaris_8015_pcu", "-")),
    ),
)
SPACECOM = DeviceProfile(
    "infusion dock",
    "medical_device",
    "B. Braun",
    "SpaceStation 8713142U with SpaceCom2",
    "012U000061",
    "Embedded Linux",
    "vendor_approval",
    "Intensive Care",
    endpoints=(endpoint(443, "https", "SpaceCom2 web"),),
    components=(
        ComponentSpec(
            name="SpaceCom2",
            version="012u000061",
            cpe=cpe("o", "bbraun", "spacecom2", "012u000061"),
        ),
        ComponentSpec(
            name="SpaceStation 8713142U", cpe=cpe("h", "bbraun", "spacestation_8713142u", "-")
        ),
    ),
)
PATIENT_MONITOR = DeviceProfile(
    "patient monitor",
    "medical_device",
    "GE Healthcare",
    "CARESCAPE B650",
    "3.2",
    "Embedded RTOS",
    "no",
    "Intensive Care",
    endpoints=(endpoint(2000, "unknown"),),
    components=(TRECK_STACK,),
)
CT_SCANNER = DeviceProfile(
    "CT scanner",
    "medical_device",
    "Siemens Healthineers",
    "SOMATOM go.Up",
    "VA30",
    WINDOWS_7_SP1.name,
    "vendor_approval",
    "Radiology",
    endpoints=(*WINDOWS_7_SP1.endpoints, endpoint(104, "dicom")),
    os_cpe=WINDOWS_7_SP1.os_cpe,
)
XRAY = DeviceProfile(
    "X-ray room",
    "medical_device",
    "Siemens Healthineers",
    "AXIOM Multix M",
    "VB10",
    WINDOWS_7_SP1.name,
    "vendor_approval",
    "Radiology",
    endpoints=(*WINDOWS_7_SP1.endpoints, endpoint(104, "dicom")),
    components=(
        ComponentSpec(
            name="AXIOM Multix M firmware",
            version="VB10",
            cpe=cpe("o", "siemens", "axiom_multix_m_firmware", "vb10"),
        ),
        ComponentSpec(name="AXIOM Multix M", cpe=cpe("h", "siemens", "axiom_multix_m", "-")),
    ),
    os_cpe=WINDOWS_7_SP1.os_cpe,
)
ULTRASOUND = DeviceProfile(
    "ultrasound",
    "medical_device",
    "Philips",
    "EPIQ 7",
    "9.0.3",
    "Windows 10 IoT",
    "vendor_approval",
    "Radiology",
    endpoints=(endpoint(104, "dicom"),),
)
IP_CAMERA = DeviceProfile(
    "IP camera",
    "iot",
    "Axis",
    "M3106-L",
    "9.80.3",
    "AXIS OS",
    "yes",
    "Facilities",
    endpoints=(endpoint(80, "http"), endpoint(554, "rtsp")),
)
BADGE_READER = DeviceProfile(
    "badge reader",
    "iot",
    "HID",
    "iCLASS SE RK40",
    "2.1",
    "Embedded",
    "vendor_approval",
    "Facilities",
    endpoints=(endpoint(4070, "unknown"),),
)
PRINTER = DeviceProfile(
    "printer",
    "iot",
    "HP",
    "LaserJet M507",
    "2409",
    "HP FutureSmart",
    "yes",
    "Administration",
    endpoints=(endpoint(9100, "jetdirect"), endpoint(443, "https")),
)
DEVICE_MIX: tuple[tuple[DeviceProfile, float], ...] = (
    (INFUSION_PUMP, 0.35),
    (PATIENT_MONITOR, 0.30),
    (SPACECOM, 0.05),
    (CT_SCANNER, 0.03),
    (XRAY, 0.03),
    (ULTRASOUND, 0.04),
    (IP_CAMERA, 0.08),
    (BADGE_READER, 0.04),
    (PRINTER, 0.08),
)
WORKSTATION_MIX: tuple[tuple[OsProfile, float], ...] = (
    (WINDOWS_10_1809_OLD, 0.45),
    (WINDOWS_10_22H2_PATCHED, 0.35),
    (WINDOWS_10_1909, 0.12),
    (WINDOWS_7_SP1, 0.08),
)
SERVER_MIX: tuple[tuple[OsProfile, float], ...] = (
    (WINDOWS_2016_OLD, 0.30),
    (WINDOWS_2016_PATCHED, 0.25),
    (WINDOWS_2019, 0.20),
    (UBUNTU_2204, 0.15),
    (DEBIAN_12, 0.10),
)
