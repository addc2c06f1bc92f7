"""Roles a user holds in an organisation and the permissions routes ask for."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role in one organisation (a user may hold different roles in several)."""

    ADMIN = "admin"
    SECURITY_LEAD = "security_lead"
    ANALYST = "analyst"
    IT_OPERATOR = "it_operator"
    BIOMED_ENGINEER = "biomed_engineer"
    AUDITOR = "auditor"
    VIEWER = "viewer"


class Permission(StrEnum):
    """What a route needs. API token scopes are sets of these."""

    ORGANISATION_READ = "organisation:read"
    ORGANISATION_MANAGE = "organisation:manage"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    INVENTORY_READ = "inventory:read"
    INVENTORY_WRITE = "inventory:write"
    IMPORTS_RUN = "imports:run"
    FINDINGS_READ = "findings:read"
    FINDINGS_TRIAGE = "findings:triage"
    RISK_ACCEPT = "risk:accept"
    FEEDS_READ = "feeds:read"
    FEEDS_UPDATE = "feeds:update"
    RISK_READ = "risk:read"
    RISK_ASSESS = "risk:assess"
    PLANS_READ = "plans:read"
    PLANS_CREATE = "plans:create"
    REPORTS_EXPORT = "reports:export"
    TOKENS_MANAGE = "tokens:manage"
    AUDIT_READ = "audit:read"
    BREAK_GLASS_REVIEW = "break_glass:review"
    SHARING_READ = "sharing:read"
    SHARING_PUBLISH = "sharing:publish"
