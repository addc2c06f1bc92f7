"""User-administration routes: members of the organisation only, audited, last admin kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry
from panacea.identity.models import PasskeyCredential, TotpCredential, User
from panacea.identity.passwords import cheap_hashing_for_tests_only
from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld

API = "/api/v1"


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    with cheap_hashing_for_tests_only():
        yield


def _audit(world: ApiWorld, org_id: int, action: str) -> list[AuditEntry]:
    with world.sessions() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.organisation_id == org_id, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            ).scalars()
        )


def test_members_are_listed_with_role_and_mfa_and_only_for_their_organisation(
    api_world: ApiWorld,
) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    members = [api_world.user(f"m{i}@a.example", {a: Role.ANALYST}) for i in range(4)]
    api_world.user("outsider@b.example", {b: Role.ANALYST})
    with api_world.sessions.begin() as s:
        s.add(TotpCredential(user_id=members[0], secret_encrypted=b"x", confirmed_at=utcnow()))
        s.add(TotpCredential(user_id=members[1], secret_encrypted=b"x"))  # never confirmed
        s.add(PasskeyCredential(user_id=members[2], credential_id=b"c", public_key=b"k"))
    client = api_world.session_client(admin)
    seen: list[dict[str, object]] = []
    url: str | None = f"{API}/orgs/{a}/users?limit=2"
    for _ in range(10):
        assert url is not None
        page = client.get(url).json()
        seen += page["items"]
        url = f"{API}/orgs/{a}/users?limit=2&cursor={page['next']}" if page["next"] else None
        if url is None:
            break
    assert [m["user_id"] for m in seen] == [admin, *members]
    by_id = {m["user_id"]: m for m in seen}
    assert by_id[members[0]]["mfa_methods"] == ["totp"]
    assert by_id[members[1]]["mfa_methods"] == []
    assert by_id[members[2]]["mfa_methods"] == ["passkey"]
    assert by_id[admin]["mfa_required"] is True
    assert by_id[members[0]]["mfa_required"] is False
    assert all(m["disabled"] is False for m in seen)
    # A security lead reads the list but cannot change it; another organisation's list is 404.
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    lead_client = api_world.session_client(lead)
    assert lead_client.get(f"{API}/orgs/{a}/users").status_code == 200
    denied = lead_client.post(
        f"{API}/orgs/{a}/users", json={"email": "x@a.example", "role": "viewer"}
    )
    assert denied.status_code == 403
    assert client.get(f"{API}/orgs/{b}/users").status_code == 404


def test_a_new_member_signs_in_with_the_password_shown_once(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    client = api_world.session_client(admin)
    response = client.post(
        f"{API}/orgs/{a}/users",
        json={"email": "New.Nurse@A.example", "role": "analyst", "display_name": "New Nurse"},
    )
    assert response.status_code == 201
    created = response.json()
    password = created["initial_password"]
    assert isinstance(password, str)
    assert len(password) >= 24
    assert created["member"]["email"] == "new.nurse@a.example"
    assert created["member"]["password_change_required"] is True
    login = api_world.client.post(
        f"{API}/auth/login", json={"email": "new.nurse@a.example", "password": password}
    )
    assert login.status_code == 200, login.text
    # The password is in no audit entry.
    entries = _audit(api_world, a, "user.created")
    assert len(entries) == 1
    assert password not in repr(entries[0].details)
    assert entries[0].actor == "admin@a.example"
    again = client.post(
        f"{API}/orgs/{a}/users", json={"email": "new.nurse@a.example", "role": "viewer"}
    )
    assert again.status_code == 409
    malformed = client.post(f"{API}/orgs/{a}/users", json={"email": "nurse@", "role": "viewer"})
    assert malformed.status_code == 422


def test_an_existing_account_is_added_without_a_password(api_world: ApiWorld) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    api_world.user("shared@region.example", {b: Role.VIEWER})
    client = api_world.session_client(admin)
    response = client.post(
        f"{API}/orgs/{a}/users", json={"email": "shared@region.example", "role": "auditor"}
    )
    assert response.status_code == 201
    assert response.json()["initial_password"] is None
    assert response.json()["member"]["role"] == "auditor"


def test_role_changes_are_audited_and_the_last_admin_stays(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    nurse = api_world.user("nurse@a.example", {a: Role.ANALYST})
    client = api_world.session_client(admin)
    changed = client.patch(
        f"{API}/orgs/{a}/users/{nurse}", json={"role": "admin", "break_glass_eligible": True}
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "admin"
    assert changed.json()["break_glass_eligible"] is True
    (entry,) = _audit(api_world, a, "role.changed")
    assert entry.details == {"old": "analyst", "new": "admin"}
    assert entry.target == f"user:{nurse}"
    # Two admins: one may step down; then the other is the last and may not.
    assert client.patch(f"{API}/orgs/{a}/users/{admin}", json={"role": "viewer"}).status_code == 200
    nurse_client = api_world.session_client(nurse)
    last = nurse_client.patch(f"{API}/orgs/{a}/users/{nurse}", json={"role": "viewer"})
    assert last.status_code == 409
    assert "last administrator" in last.json()["detail"]
    assert nurse_client.delete(f"{API}/orgs/{a}/users/{nurse}").status_code == 409
    assert (
        nurse_client.patch(f"{API}/orgs/{a}/users/{nurse}", json={"role": "nope"}).status_code
        == 422
    )


def test_removal_and_other_organisations_users(api_world: ApiWorld) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    nurse = api_world.user("nurse@a.example", {a: Role.ANALYST})
    outsider = api_world.user("outsider@b.example", {b: Role.ANALYST})
    client = api_world.session_client(admin)
    for method, path, body in [
        ("PATCH", f"/users/{outsider}", {"role": "viewer"}),
        ("DELETE", f"/users/{outsider}", None),
        ("POST", f"/users/{outsider}/disable", {"reason": "left"}),
        ("POST", f"/users/{outsider}/reset-mfa", None),
    ]:
        response = client.request(method, f"{API}/orgs/{a}{path}", json=body)
        assert response.status_code == 404, (method, path)
    assert client.delete(f"{API}/orgs/{a}/users/{nurse}").status_code == 204
    listed = client.get(f"{API}/orgs/{a}/users").json()["items"]
    assert [m["user_id"] for m in listed] == [admin]
    assert _audit(api_world, a, "membership.removed")[0].target == f"user:{nurse}"
    assert api_world.session_client(nurse).get(f"{API}/orgs/{a}").status_code == 404


def test_disabling_ends_the_users_sessions_at_once(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    nurse = api_world.user("nurse@a.example", {a: Role.ANALYST})
    nurse_client = api_world.session_client(nurse)
    assert nurse_client.get(f"{API}/orgs/{a}").status_code == 200
    client = api_world.session_client(admin)
    response = client.post(f"{API}/orgs/{a}/users/{nurse}/disable", json={"reason": "left"})
    assert response.status_code == 200
    assert response.json()["disabled"] is True
    assert nurse_client.get(f"{API}/orgs/{a}").status_code == 401
    (entry,) = _audit(api_world, a, "user.disabled")
    assert entry.details["reason"] == "left"
    assert client.post(f"{API}/orgs/{a}/users/{admin}/disable").status_code == 403


def test_mfa_reset_removes_factors_and_sessions(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    with api_world.sessions.begin() as s:
        s.add(TotpCredential(user_id=lead, secret_encrypted=b"x", confirmed_at=utcnow()))
        s.add(PasskeyCredential(user_id=lead, credential_id=b"c1", public_key=b"k"))
        s.add(PasskeyCredential(user_id=lead, credential_id=b"c2", public_key=b"k"))
    lead_client = api_world.session_client(lead)
    response = api_world.session_client(admin).post(f"{API}/orgs/{a}/users/{lead}/reset-mfa")
    assert response.status_code == 200
    assert response.json() == {"totp": 1, "recovery_codes": 0, "passkeys": 2, "sessions_revoked": 1}
    assert lead_client.get(f"{API}/orgs/{a}").status_code == 401
    (entry,) = _audit(api_world, a, "user.mfa_reset")
    assert entry.details["passkeys"] == 2
    own = api_world.session_client(admin).post(f"{API}/orgs/{a}/users/{admin}/reset-mfa")
    assert own.status_code == 403
    with api_world.sessions() as s:
        user = s.get(User, lead)
        assert user is not None
        assert not user.disabled
