"""The organisation's security policy: defaults, floors, audit, and its effect on access."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from panacea.identity.audit_records import AuditEntry
from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld

API = "/api/v1"
DEFAULTS = {
    "mfa_roles": ["admin", "security_lead", "auditor"],
    "break_glass_role": "security_lead",
    "break_glass_hours": 4.0,
    "alert_email": None,
    "stored": False,
}


def _policy(**changes: Any) -> dict[str, Any]:
    body = {k: v for k, v in DEFAULTS.items() if k != "stored"}
    body.update(changes)
    return body


def test_defaults_then_a_stored_policy_changes_who_needs_mfa(api_world: ApiWorld) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    analyst = api_world.user("analyst@a.example", {a: Role.ANALYST})
    viewer = api_world.user("viewer@a.example", {a: Role.VIEWER})
    url = f"{API}/orgs/{a}/security-policy"
    assert api_world.session_client(viewer).get(url).json() == DEFAULTS
    lead_password_only = api_world.session_client(lead, assurance="password")
    analyst_password_only = api_world.session_client(analyst, assurance="password")
    assert lead_password_only.get(f"{API}/orgs/{a}").status_code == 403
    assert analyst_password_only.get(f"{API}/orgs/{a}").status_code == 200

    wanted = _policy(
        mfa_roles=["analyst", "admin", "admin"],
        break_glass_hours=2,
        alert_email=" SOC@Hospital-A.example ",
    )
    client = api_world.session_client(admin)
    stored = client.put(url, json=wanted)
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "mfa_roles": ["admin", "analyst"],
        "break_glass_role": "security_lead",
        "break_glass_hours": 2.0,
        "alert_email": "soc@hospital-a.example",
        "stored": True,
    }
    assert lead_password_only.get(f"{API}/orgs/{a}").status_code == 200
    refused = analyst_password_only.get(f"{API}/orgs/{a}")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("mfa-required")
    with api_world.sessions() as s:
        (entry,) = s.execute(
            select(AuditEntry).where(AuditEntry.action == "security_policy.changed")
        ).scalars()
    assert entry.organisation_id == a
    assert entry.details["old"]["mfa_roles"] == ["admin", "security_lead", "auditor"]
    assert entry.details["new"]["mfa_roles"] == ["admin", "analyst"]
    # Another organisation keeps its defaults and its policy is not reachable from here.
    assert client.get(f"{API}/orgs/{b}/security-policy").status_code == 404


def test_the_policy_cannot_go_below_its_floors(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    client = api_world.session_client(admin)
    url = f"{API}/orgs/{a}/security-policy"
    for body, fragment in [
        (_policy(mfa_roles=["security_lead"]), "must include admin"),
        (_policy(mfa_roles=[]), "must include admin"),
        (_policy(break_glass_role="admin"), "cannot be admin"),
        (_policy(break_glass_hours=48), "break_glass_hours"),
        (_policy(break_glass_hours=0), "break_glass_hours"),
        (_policy(alert_email="not-an-address"), "alert_email"),
        (_policy(mfa_roles=["admin", "janitor"]), "mfa_roles"),
    ]:
        response = client.put(url, json=body)
        assert response.status_code == 422, body
        assert fragment in response.json()["detail"], response.json()
    assert client.get(url).json()["stored"] is False
    assert api_world.session_client(lead).put(url, json=_policy()).status_code == 403
