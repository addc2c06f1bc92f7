"""Second factor over HTTP: TOTP enrolment, login with password + TOTP, recovery codes."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from panacea.identity.audit_records import PLATFORM_CHAIN, AuditEntry
from panacea.identity.models import TotpCredential
from panacea.identity.roles import Role
from panacea.identity.sessions import SESSION_COOKIE
from tests.api.conftest import ApiWorld

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
ENROL = "/api/v1/auth/mfa/totp/enrol"
CONFIRM = "/api/v1/auth/mfa/totp/confirm"
TOTP = "/api/v1/auth/mfa/totp"
RECOVERY = "/api/v1/auth/mfa/recovery"
PASSWORD = "grey heron over the river"
EMAIL = "lead@stmary.example"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def session_token(response: httpx2.Response) -> str:
    [header] = [
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")
    ]
    return header.split(";", 1)[0].partition("=")[2]


def lead(world: ApiWorld) -> int:
    org = world.organisation("St Mary's")
    user = world.user(EMAIL, {org: Role.SECURITY_LEAD})
    world.give_password(user, PASSWORD)
    return org


def sign_in(world: ApiWorld) -> tuple[TestClient, httpx2.Response]:
    client = world.anonymous_client()
    response = client.post(LOGIN, json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client, response


def fresh_code(secret: str, used: set[int]) -> str:
    """A code of a step after every used one, within the accepted window (now +- 1 step).

    The step after the current one is accepted too, so two codes never need a wait; a third
    waits for the clock (at most one step, bounded).
    """
    totp = pyotp.TOTP(secret)
    deadline = time.monotonic() + 31
    while time.monotonic() < deadline:
        current = totp.timecode(time.time())
        step = max(current, max(used, default=0) + 1)
        if step <= current + 1:
            used.add(step)
            return totp.generate_otp(step)
        time.sleep(0.5)
    raise AssertionError("no usable TOTP step within 31 s")


def audit_actions(world: ApiWorld) -> list[tuple[str, str]]:
    """Actions and outcomes of the platform chain (organisations get copies of sign-ins)."""
    with world.sessions() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.outcome)
            .where(AuditEntry.chain == PLATFORM_CHAIN)
            .order_by(AuditEntry.id)
        )
        return [(a, o) for a, o in rows]


def enrol(world: ApiWorld) -> tuple[TestClient, str, list[str], set[int]]:
    """Sign in, enrol and confirm TOTP; return the stepped-up client, secret, codes, used."""
    client, login = sign_in(world)
    assert login.json()["mfa_required"] is True
    assert login.json()["enrolment_required"] is True
    assert login.json()["mfa_methods"] == []
    enrolment = client.post(ENROL)
    assert enrolment.status_code == 201, enrolment.text
    body = enrolment.json()
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    secret = parse_qs(uri.query)["secret"][0]
    assert secret == body["secret"]
    assert parse_qs(uri.query)["issuer"] == ["PANACEA"]
    assert body["qr_svg"].startswith("<svg")
    assert "</svg>" in body["qr_svg"]
    used: set[int] = set()
    confirm = client.post(CONFIRM, json={"code": fresh_code(secret, used)})
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10
    assert all(re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4}){3}", c) for c in codes)
    assert confirm.json()["assurance"] == "mfa"
    # Confirmation passed the factor: new cookie, new CSRF token.
    assert session_token(confirm) != session_token(login)
    client.headers["X-CSRF-Token"] = confirm.json()["csrf_token"]
    return client, secret, codes, used


def test_enrol_confirm_then_sign_in_with_password_and_totp(api_world: ApiWorld) -> None:
    org = lead(api_world)
    enrolled, secret, _, used = enrol(api_world)
    assert enrolled.get(ME).json()["assurance"] == "mfa"
    assert enrolled.get(f"/api/v1/orgs/{org}").status_code == 200

    client, login = sign_in(api_world)
    assert login.json()["mfa_required"] is True
    assert login.json()["enrolment_required"] is False
    assert login.json()["mfa_methods"] == ["totp", "recovery_code"]
    password_cookie = session_token(login)
    # The role needs the second factor: the password session cannot read the organisation.
    gated = client.get(f"/api/v1/orgs/{org}")
    assert gated.status_code == 403
    assert gated.json()["type"] == "urn:panacea:problem:mfa-required"

    step = client.post(TOTP, json={"code": fresh_code(secret, used)})
    assert step.status_code == 200, step.text
    assert step.json()["assurance"] == "mfa"
    assert step.json()["recovery_codes_remaining"] == 10
    # Session fixation: the step-up issued a new cookie; the pre-MFA one is dead.
    mfa_cookie = session_token(step)
    assert mfa_cookie != password_cookie
    assert step.json()["csrf_token"] != login.json()["csrf_token"]
    assert client.get(f"/api/v1/orgs/{org}").status_code == 200
    stale = api_world.anonymous_client()
    stale.cookies.set(SESSION_COOKIE, password_cookie)
    assert stale.get(ME).status_code == 401
    actions = audit_actions(api_world)
    assert ("mfa.totp.enrolled", "success") in actions
    assert ("mfa.totp.confirmed", "success") in actions
    assert actions.count(("auth.mfa", "success")) == 2  # the confirmation and the sign-in
    with api_world.sessions() as s:
        details = s.execute(select(AuditEntry.details)).scalars().all()
    assert secret not in json.dumps(details)


def test_totp_step_needs_the_csrf_token(api_world: ApiWorld) -> None:
    lead(api_world)
    _, secret, _, used = enrol(api_world)
    client, _ = sign_in(api_world)
    del client.headers["X-CSRF-Token"]
    refused = client.post(TOTP, json={"code": fresh_code(secret, used)})
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:panacea:problem:csrf"
    assert client.get(ME).json()["assurance"] == "password"


def test_wrong_code_is_refused_counted_and_audited(api_world: ApiWorld) -> None:
    lead(api_world)
    _, secret, _, _ = enrol(api_world)
    client, login = sign_in(api_world)
    valid = {pyotp.TOTP(secret).at(time.time() + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    refused = client.post(TOTP, json={"code": wrong})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "invalid code"
    assert "set-cookie" not in refused.headers
    # The session is unchanged (still password) and the failure survived the rollback.
    assert client.get(ME).json()["assurance"] == "password"
    assert ("auth.mfa", "failure") in audit_actions(api_world)
    # A replayed code (the confirmation's step) is refused the same way.
    with api_world.sessions() as s:
        step = s.execute(select(TotpCredential.last_used_step)).scalar_one()
    replay = client.post(TOTP, json={"code": pyotp.TOTP(secret).generate_otp(step)})
    assert replay.status_code == 401
    assert login.status_code == 200


def test_recovery_code_signs_in_once(api_world: ApiWorld) -> None:
    org = lead(api_world)
    _, _, codes, _ = enrol(api_world)
    client, login = sign_in(api_world)
    step = client.post(RECOVERY, json={"code": codes[2].upper()})
    assert step.status_code == 200, step.text
    assert step.json()["recovery_codes_remaining"] == 9
    assert session_token(step) != session_token(login)
    client.headers["X-CSRF-Token"] = step.json()["csrf_token"]
    assert client.get(f"/api/v1/orgs/{org}").status_code == 200
    assert ("mfa.recovery_code.used", "success") in audit_actions(api_world)
    again, _ = sign_in(api_world)
    reused = again.post(RECOVERY, json={"code": codes[2]})
    assert reused.status_code == 401


def test_enrolment_rules(api_world: ApiWorld) -> None:
    lead(api_world)
    enrolled, _, _, _ = enrol(api_world)
    # A confirmed TOTP cannot be replaced by enrolling again.
    assert enrolled.post(ENROL).status_code == 409
    # Without a session: 401.
    assert api_world.anonymous_client().post(ENROL).status_code == 401
