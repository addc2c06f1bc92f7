"""Routes of the organisation's security policy: ``/orgs/{org_id}/security-policy``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from panacea.api.deps import Db, require
from panacea.identity.actors import Actor
from panacea.identity.policy_schemas import SecurityPolicyIn, SecurityPolicyOut
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission
from panacea.identity.security_policy import policy_of, set_policy

router = APIRouter(prefix="/orgs/{org_id}/security-policy", tags=["security policy"])


@router.get(
    "",
    summary="Who needs a second factor, and how break-glass works here",
    response_model=SecurityPolicyOut,
)
def get_security_policy(
    access: Annotated[OrgAccess, Depends(require(Permission.ORGANISATION_READ))], db: Db
) -> SecurityPolicyOut:
    return SecurityPolicyOut.of(policy_of(db, access.organisation_id))


@router.put("", summary="Replace the security policy (audited)", response_model=SecurityPolicyOut)
def put_security_policy(
    body: SecurityPolicyIn,
    access: Annotated[OrgAccess, Depends(require(Permission.ORGANISATION_MANAGE))],
    db: Db,
) -> SecurityPolicyOut:
    view = set_policy(
        db,
        access.organisation_id,
        mfa_roles=body.mfa_roles,
        break_glass_role=body.break_glass_role,
        break_glass_hours=body.break_glass_hours,
        alert_email=body.alert_email,
        actor=Actor.of(access),
    )
    return SecurityPolicyOut.of(view)
