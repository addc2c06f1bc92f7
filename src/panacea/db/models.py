"""Imports every table module so that ``Base.metadata`` is complete (Alembic, tests)."""

from panacea.db.base import Base
from panacea.findings.models import Finding, FindingStatusChange
from panacea.identity.audit_records import AuditCheckpoint, AuditEntry, AuditHead
from panacea.identity.key_records import DataKey
from panacea.identity.models import (
    AddressFailure,
    ApiToken,
    BreakGlassGrant,
    GroupRoleMapping,
    LoginThrottle,
    Membership,
    OidcIdentity,
    PasskeyCredential,
    RecoveryCode,
    SecurityPolicy,
    TotpCredential,
    User,
    UserSession,
)
from panacea.inventory.assets import Asset, AssetAddress, Component, Endpoint
from panacea.inventory.clinical import (
    ClinicalService,
    RedundancyGroup,
    ServiceAssetDependency,
    ServiceDependency,
)
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.organisation import Organisation
from panacea.inventory.overrides import MitigationCost, PurlCpeRule
from panacea.inventory.people import Account, AccountLogon, StaffGroup, StaffWorkstation
from panacea.risk.snapshot import RiskSnapshot
from panacea.risk.stored_plans import RiskPlan
from panacea.sharing.group_models import (
    SharingGroup,
    SharingGroupInvitation,
    SharingGroupMember,
)
from panacea.sharing.incident_models import Incident
from panacea.sharing.intel_records import IntelEvidenceRecord, IntelSightingRecord
from panacea.sharing.key_records import PeerKeyRecord, SigningKeyRecord
from panacea.sharing.pseudonym_keys import PseudonymKey
from panacea.sharing.quarantine import QuarantinedObject
from panacea.sharing.sync_records import (
    IntakeCursor,
    SharingDelivery,
    SharingPeer,
    SharingReceipt,
)
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject, TaxiiStatus
from panacea.vulndb.models import FeedState, Vulnerability, VulnerableProduct

__all__ = [
    "Account",
    "AccountLogon",
    "AddressFailure",
    "ApiToken",
    "Asset",
    "AssetAddress",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "BreakGlassGrant",
    "ClinicalService",
    "Component",
    "DataKey",
    "Endpoint",
    "FeedState",
    "Finding",
    "FindingStatusChange",
    "GroupRoleMapping",
    "Incident",
    "IntakeCursor",
    "IntelEvidenceRecord",
    "IntelSightingRecord",
    "LoginThrottle",
    "Membership",
    "MitigationCost",
    "OidcIdentity",
    "Organisation",
    "PasskeyCredential",
    "PeerKeyRecord",
    "PseudonymKey",
    "PurlCpeRule",
    "QuarantinedObject",
    "ReachabilityRule",
    "RecoveryCode",
    "RedundancyGroup",
    "RiskPlan",
    "RiskSnapshot",
    "SecurityPolicy",
    "ServiceAssetDependency",
    "ServiceDependency",
    "SharingDelivery",
    "SharingGroup",
    "SharingGroupInvitation",
    "SharingGroupMember",
    "SharingPeer",
    "SharingReceipt",
    "SigningKeyRecord",
    "StaffGroup",
    "StaffWorkstation",
    "TaxiiCollection",
    "TaxiiObject",
    "TaxiiStatus",
    "TotpCredential",
    "User",
    "UserSession",
    "Vulnerability",
    "VulnerableProduct",
    "Zone",
]
