"""Closed vocabularies of the inventory, shared by the models, importers and schemas."""

from __future__ import annotations

from enum import StrEnum


class AssetKind(StrEnum):
    SERVER = "server"
    WORKSTATION = "workstation"
    MEDICAL_DEVICE = "medical_device"
    IOT = "iot"
    NETWORK_DEVICE = "network_device"
    MOBILE = "mobile"
    OTHER = "other"


class Patchable(StrEnum):
    """Whether the owner may patch an asset: medical devices often need the vendor's approval."""

    YES = "yes"
    VENDOR_APPROVAL = "vendor_approval"
    NO = "no"


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Control(StrEnum):
    """Existing security controls on an asset."""

    EDR = "edr"
    BACKUPS = "backups"
    APPLICATION_ALLOWLISTING = "application_allowlisting"
    HOST_FIREWALL = "host_firewall"
    DISK_ENCRYPTION = "disk_encryption"


class ZoneKind(StrEnum):
    INTERNET = "internet"
    DMZ = "dmz"
    CLINICAL = "clinical"
    MEDICAL_DEVICES = "medical_devices"
    ADMINISTRATION = "administration"
    GUEST = "guest"
    VENDOR = "vendor"
    MANAGEMENT = "management"
    OTHER = "other"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ANY = "any"


class EndpointState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AddressKind(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    MAC = "mac"


class AccountKind(StrEnum):
    USER = "user"
    ADMIN = "admin"
    SERVICE = "service"
    VENDOR = "vendor"


class LogonLevel(StrEnum):
    USER = "user"
    ADMIN = "admin"


class PatientSafety(StrEnum):
    """Severity of harm to patients if a clinical service is disrupted (ISO 14971 style)."""

    NONE = "none"
    MINOR = "minor"
    SERIOUS = "serious"
    CRITICAL = "critical"


class MitigationKind(StrEnum):
    """Edits to the model that reduce risk (DESIGN.md, Mitigation)."""

    PATCH = "patch"
    BLOCK_RULE = "block_rule"
    NARROW_RULE = "narrow_rule"
    MOVE_ZONE = "move_zone"
    MFA = "mfa"
    EDR = "edr"
    TRAINING = "training"
    DISABLE_ENDPOINT = "disable_endpoint"
    ALLOWLISTING = "allowlisting"
