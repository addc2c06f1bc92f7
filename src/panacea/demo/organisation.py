"""Zones, reachability, accounts, staff and clinical services of the demo hospital."""

from __future__ import annotations

from collections.abc import Sequence

from panacea.inventory.importers.inventory_schema import AssetSpec

ZONES = [
    {"name": "internet", "kind": "internet", "description": "Anyone on the Internet"},
    {"name": "dmz", "kind": "dmz", "description": "Perimeter: SSL-VPN, Citrix, mail, portal"},
    {"name": "vpn-pool", "kind": "other", "description": "Addresses given to SSL-VPN clients"},
    {"name": "vendor-access", "kind": "vendor", "description": "Vendor remote support"},
    {"name": "clinical-lan", "kind": "clinical", "description": "EHR, PACS, LIS, workstations"},
    {
        "name": "device-vlan",
        "kind": "medical_devices",
        "description": "Infusion pumps, monitors, modalities",
    },
    {"name": "admin-lan", "kind": "administration", "description": "Directory, finance, IT"},
    {"name": "management", "kind": "management", "description": "Hypervisors, switches, backup"},
    {"name": "guest-wifi", "kind": "guest", "isolated": True, "description": "Patients, visitors"},
]

RULES = [
    {"from": "internet", "to": "dmz", "ports": "25,443,10443", "description": "published services"},
    {
        "from": "internet",
        "to": "vendor-access",
        "ports": "443,8040",
        "description": "vendor support",
    },
    {
        "from": "vpn-pool",
        "to": "clinical-lan",
        "ports": "443,445,3389",
        "description": "remote clinicians and IT on call",
    },
    {
        "from": "dmz",
        "to": "clinical-lan",
        "ports": "443,1433",
        "description": "portal and file transfer to back ends",
    },
    {
        "from": "vendor-access",
        "to": "device-vlan",
        "ports": "22,443,5900",
        "description": "vendor remote maintenance of devices",
    },
    {
        "from": "clinical-lan",
        "to": "device-vlan",
        "ports": "104,443,2575,5000",
        "description": "DICOM, HL7 and device gateways",
    },
    {
        "from": "device-vlan",
        "to": "clinical-lan",
        "ports": "104,6661",
        "description": "images to PACS, results to the HL7 engine",
    },
    {
        "from": "clinical-lan",
        "to": "admin-lan",
        "ports": "88,389,445",
        "description": "directory and file shares",
    },
    {
        "from": "admin-lan",
        "to": "clinical-lan",
        "ports": "22,443,445,3389",
        "description": "administration",
    },
    {
        "from": "admin-lan",
        "to": "management",
        "ports": "22,443,9392",
        "description": "administration of infrastructure",
    },
    {"from": "clinical-lan", "to": "dmz", "ports": "25,443", "description": "mail and portal"},
    {"from": "clinical-lan", "to": "internet", "ports": "80,443", "description": "web browsing"},
    {"from": "guest-wifi", "to": "internet", "protocol": "any", "description": "guest Internet"},
]

DEPARTMENTS = [
    ("Emergency", "clinical-lan", "ed"),
    ("Intensive Care", "clinical-lan", "icu"),
    ("Radiology", "clinical-lan", "rad"),
    ("Laboratory", "clinical-lan", "lab"),
    ("Pharmacy", "clinical-lan", "pha"),
    ("Surgery", "clinical-lan", "sur"),
    ("Administration", "admin-lan", "adm"),
    ("IT", "admin-lan", "it"),
]

_VPN_USERS = ["vpn.radiology.oncall", "vpn.cardiology.oncall", "vpn.it.oncall", "vpn.ehr.support"]

ACCOUNTS = [
    *(
        {
            "name": name,
            "kind": "user",
            "mfa": False,
            "description": "SSL-VPN user",
            # directory accounts: the same credentials open the clinical workstations
            "logons": [
                {"asset": "vpn-gw-01", "level": "user"},
                {"zone": "clinical-lan", "level": "user"},
            ],
        }
        for name in _VPN_USERS
    ),
    {
        "name": "CORP\\it-admin",
        "kind": "admin",
        "mfa": False,
        "description": "domain administrator used for daily support",
        "logons": [
            {"zone": "clinical-lan", "level": "admin"},
            {"zone": "admin-lan", "level": "admin"},
            {"zone": "management", "level": "admin"},
        ],
    },
    {
        "name": "CORP\\svc-backup",
        "kind": "service",
        "mfa": False,
        "description": "backup agent service account",
        "logons": [
            {"zone": "clinical-lan", "level": "admin"},
            {"asset": "backup-01", "level": "admin"},
        ],
    },
    {
        "name": "CORP\\svc-ehr",
        "kind": "service",
        "mfa": False,
        "description": "EHR service account",
        "logons": [
            {"asset": "ehr-db-01", "level": "admin"},
            {"asset": "ehr-app-01", "level": "admin"},
            {"asset": "ehr-app-02", "level": "admin"},
        ],
    },
    {
        "name": "vendor.ge.support",
        "kind": "vendor",
        "mfa": False,
        "description": "GE Healthcare remote support",
        "logons": [
            {"asset": "vendor-vpn-01", "level": "user"},
            {"asset": "icu-central-01", "level": "admin"},
            {"asset": "icu-telemetry-01", "level": "admin"},
        ],
    },
    {
        "name": "vendor.bd.support",
        "kind": "vendor",
        "mfa": True,
        "description": "BD remote support",
        "logons": [
            {"asset": "remote-support-01", "level": "user"},
            {"asset": "infusion-gw-01", "level": "admin"},
        ],
    },
]

_SUSCEPTIBILITY = {
    "Emergency": (0.24, 140),
    "Intensive Care": (0.18, 90),
    "Radiology": (0.15, 45),
    "Laboratory": (0.14, 40),
    "Pharmacy": (0.12, 25),
    "Surgery": (0.16, 110),
    "Administration": (0.28, 160),
    "IT": (0.06, 30),
}


def staff_groups(assets: Sequence[AssetSpec]) -> list[dict[str, object]]:
    """One staff group per department, using that department's workstations."""
    groups = []
    for department, _zone, _code in DEPARTMENTS:
        susceptibility, size = _SUSCEPTIBILITY[department]
        workstations = [
            {"asset": a.name}
            for a in assets
            if a.kind == "workstation" and a.department == department
        ]
        groups.append(
            {
                "name": f"{department} staff",
                "size": size,
                "department": department,
                "phishing_susceptibility": susceptibility,
                "workstations": workstations,
            }
        )
    return groups


def _names(assets: Sequence[AssetSpec], prefix: str, limit: int) -> list[str]:
    return [a.name for a in assets if a.name.startswith(prefix)][:limit]


def _group(name: str, members: list[str], k: int, needs: str = "A") -> list[dict[str, object]]:
    if not members:
        return []
    return [{"name": name, "k": min(k, len(members)), "needs": needs, "assets": members}]


def services(assets: Sequence[AssetSpec]) -> list[dict[str, object]]:
    """The clinical services and what they depend on."""
    return [
        {
            "key": "ehr",
            "name": "Electronic health record",
            "patient_safety": "serious",
            "cost_per_hour": 40000,
            "recovery_hours": 72,
            "records_at_stake": 250000,
            "cost_per_record": 150,
            "depends_on": [],
            "assets": [{"asset": "ehr-db-01", "needs": "CIA"}],
            "redundancy_groups": [
                {
                    "name": "ehr-application",
                    "k": 1,
                    "needs": "IA",
                    "assets": ["ehr-app-01", "ehr-app-02"],
                },
                {"name": "directory", "k": 1, "needs": "A", "assets": ["ad-dc-01", "ad-dc-02"]},
            ],
        },
        {
            "key": "emergency_triage",
            "name": "Emergency department triage",
            "patient_safety": "critical",
            "cost_per_hour": 25000,
            "recovery_hours": 48,
            "depends_on": ["ehr", "laboratory"],
            "redundancy_groups": _group("ed-workstations", _names(assets, "ws-ed-", 8), 3),
        },
        {
            "key": "hl7_integration",
            "name": "HL7 integration (orders and results)",
            "patient_safety": "serious",
            "cost_per_hour": 8000,
            "recovery_hours": 24,
            "assets": [
                {"asset": "hl7-engine-01", "needs": "IA"},
                {"asset": "integration-bus-01", "needs": "IA"},
            ],
        },
        {
            "key": "imaging",
            "name": "Imaging and PACS",
            "patient_safety": "serious",
            "cost_per_hour": 15000,
            "recovery_hours": 48,
            "records_at_stake": 90000,
            "cost_per_record": 120,
            "depends_on": ["hl7_integration"],
            "assets": [
                {"asset": "pacs-01", "needs": "CIA"},
                {"asset": "pacs-viewer-01", "needs": "A"},
            ],
            "redundancy_groups": _group(
                "modalities", _names(assets, "ct-scanner-", 4) + _names(assets, "x-ray-room-", 4), 1
            ),
        },
        {
            "key": "laboratory",
            "name": "Laboratory results",
            "patient_safety": "serious",
            "cost_per_hour": 6000,
            "recovery_hours": 36,
            "records_at_stake": 120000,
            "cost_per_record": 100,
            "depends_on": ["hl7_integration"],
            "assets": [{"asset": "lis-01", "needs": "IA"}, {"asset": "mft-01", "needs": "A"}],
        },
        {
            "key": "pharmacy",
            "name": "Pharmacy dispensing",
            "patient_safety": "serious",
            "cost_per_hour": 5000,
            "recovery_hours": 24,
            "depends_on": ["ehr"],
            "assets": [{"asset": "pharmacy-01", "needs": "IA"}],
        },
        {
            "key": "icu_monitoring",
            "name": "ICU patient monitoring",
            "patient_safety": "critical",
            "cost_per_hour": 20000,
            "recovery_hours": 24,
            "assets": [
                {"asset": "icu-central-01", "needs": "IA"},
                {"asset": "icu-telemetry-01", "needs": "IA"},
            ],
            "redundancy_groups": _group(
                "bedside-monitors", _names(assets, "patient-monitor-", 12), 8
            ),
        },
        {
            "key": "infusion_therapy",
            "name": "Infusion therapy",
            "patient_safety": "critical",
            "cost_per_hour": 12000,
            "recovery_hours": 24,
            "depends_on": ["pharmacy"],
            "assets": [{"asset": "infusion-gw-01", "needs": "IA"}],
            "redundancy_groups": _group(
                "infusion-pumps", _names(assets, "infusion-pump-", 10), 6, "IA"
            ),
        },
        {
            "key": "email",
            "name": "E-mail and messaging",
            "patient_safety": "minor",
            "cost_per_hour": 2000,
            "recovery_hours": 24,
            "records_at_stake": 20000,
            "cost_per_record": 20,
            "assets": [{"asset": "mail-01", "needs": "CA"}],
        },
        {
            "key": "remote_access",
            "name": "Remote access for clinicians on call",
            "patient_safety": "minor",
            "cost_per_hour": 1500,
            "recovery_hours": 12,
            "assets": [{"asset": "vpn-gw-01", "needs": "A"}],
        },
        {
            "key": "patient_portal",
            "name": "Patient portal and results exchange",
            "patient_safety": "none",
            "cost_per_hour": 800,
            "recovery_hours": 24,
            "records_at_stake": 60000,
            "cost_per_record": 150,
            "assets": [
                {"asset": "portal-web-01", "needs": "CA"},
                {"asset": "mft-01", "needs": "C"},
            ],
        },
    ]
