"""Imports every table module so that ``Base.metadata`` is complete (Alembic, tests)."""

from panacea.db.base import Base
from panacea.findings.models import Finding, FindingStatusChange
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
from panacea.vulndb.models import FeedState, Vulnerability, VulnerableProduct

__all__ = [
    "Account",
    "AccountLogon",
    "Asset",
    "AssetAddress",
    "Base",
    "ClinicalService",
    "Component",
    "Endpoint",
    "FeedState",
    "Finding",
    "FindingStatusChange",
    "MitigationCost",
    "Organisation",
    "PurlCpeRule",
    "ReachabilityRule",
    "RedundancyGroup",
    "RiskSnapshot",
    "ServiceAssetDependency",
    "ServiceDependency",
    "StaffGroup",
    "StaffWorkstation",
    "Vulnerability",
    "VulnerableProduct",
    "Zone",
]
