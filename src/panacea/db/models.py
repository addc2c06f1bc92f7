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
    "LoginThrottle",
    "Membership",
    "MitigationCost",
    "OidcIdentity",
    "Organisation",
    "PasskeyCredential",
    "PurlCpeRule",
    "ReachabilityRule",
    "RecoveryCode",
    "RedundancyGroup",
    "RiskPlan",
    "RiskSnapshot",
    "SecurityPolicy",
    "ServiceAssetDependency",
    "ServiceDependency",
    "StaffGroup",
    "StaffWorkstation",
    "TotpCredential",
    "User",
    "UserSession",
    "Vulnerability",
    "VulnerableProduct",
    "Zone",
]
