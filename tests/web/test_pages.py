"""Dashboard pages over HTTP: who gets a page, who is sent to sign in, what the frame shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from nicegui import ui

from panacea.db.base import utcnow
from panacea.identity.models import BreakGlassGrant, UserSession
from panacea.identity.roles import Permission, Role
from panacea.web.callers import ORG_COOKIE, WebCaller
from panacea.web.shell import dashboard_page, mark_data_ready
from tests.api.conftest import ApiWorld
from tests.api.hospital import small_hospital
from tests.web.conftest import anonymous, elements, find, page_text, signed_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")
FORBIDDEN_PATH = "/_test/web/users-manage-only"


@dashboard_page(FORBIDDEN_PATH, title="Managers only", permission=Permission.USERS_MANAGE)
def _managers_only(caller: WebCaller, note: str = "") -> None:
    """A page of the tests: only users:manage (admins) may see it."""
    ui.label(f"welcome {caller.email} {note}").props("data-testid=managers-only")
    mark_data_ready()


def _login_target(response: Any) -> str:
    assert response.status_code == 303, response.text
    location = str(response.headers["location"])
    parts = urlsplit(location)
    assert parts.path == "/login"
    [target] = parse_qs(parts.query)["next"]
    return target


def _login_root(response: Any) -> dict[str, Any]:
    """The login page's root element (its data-* attributes drive the page's script)."""
    return next(
        e for e in elements(response).values() if "data-panacea-login" in e.get("props", {})
    )


def test_pages_send_a_browser_without_session_to_sign_in(api_world: ApiWorld) -> None:
    client = anonymous(api_world)
    assert _login_target(client.get("/", follow_redirects=False)) == "/"
    target = _login_target(client.get("/services/ehr?k=2", follow_redirects=False))
    assert target == "/services/ehr?k=2"
    client.cookies.set("panacea_session", "not-a-session")
    assert _login_target(client.get("/account", follow_redirects=False)) == "/account"


def test_login_page_offers_the_password_step(api_world: ApiWorld) -> None:
    response = anonymous(api_world).get("/login?next=/services/ehr")
    assert response.status_code == 200
    tree = elements(response)
    root = _login_root(response)
    assert root["props"]["data-step"] == "password"
    assert root["props"]["data-next"] == "/services/ehr"
    for testid in ("login-email", "login-password", "login-submit", "login-message"):
        assert find(tree, testid) is not None, testid
    password = find(tree, "login-password")
    assert password is not None
    assert password["tag"] == "input"
    assert password["props"]["type"] == "password"
    # No NiceGUI binding: the value never travels over the websocket.
    assert not password.get("events")
    # No identity provider configured: no single sign-on button.
    assert find(tree, "login-sso") is None


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_login_never_sends_the_browser_to_another_site(api_world: ApiWorld, target: str) -> None:
    response = anonymous(api_world).get("/login", params={"next": target})
    root = _login_root(response)
    assert root["props"]["data-next"] == "/"


def test_single_sign_on_button_when_a_provider_is_configured(api_world: ApiWorld) -> None:
    # The page reads the settings of the app serving it: a copy with an issuer set.
    from fastapi.testclient import TestClient

    from panacea.api.app import create_app

    settings = api_world.settings.model_copy(
        update={"oidc_issuer": "https://idp.hospital.example/realms/staff"}
    )
    app = create_app(settings, sessions=api_world.sessions)
    response = TestClient(app, base_url="http://localhost:8000").get("/login")
    sso = find(elements(response), "login-sso")
    assert sso is not None
    assert sso["props"]["href"] == "/api/v1/auth/oidc/login"


def test_signed_in_reader_gets_the_frame(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    user = api_world.user("viewer@stanne.example", {org: Role.VIEWER})
    client = signed_in(api_world, user)
    response = client.get("/")
    assert response.status_code == 200, response.text
    tree = elements(response)
    for testid in ("logout", "nav-overview", "page-heading", "no-assessment"):
        assert find(tree, testid) is not None, testid
    # A viewer reads risk and inventory; findings, imports and administration are not shown.
    assert find(tree, "nav-assets") is not None
    for hidden in ("nav-findings", "nav-imports", "nav-admin-users", "nav-admin-audit"):
        assert find(tree, hidden) is None, hidden
    assert find(tree, "break-glass-banner") is None
    assert find(tree, "reassess") is None  # a viewer may not assess
    # Signed in already: the login page sends the browser on.
    assert client.get("/login?next=/account", follow_redirects=False).headers["location"] == (
        "/account"
    )


def test_overview_ranks_the_services_of_the_latest_assessment(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = signed_in(api_world, api_world.user("a@a.example", {org: Role.ANALYST}))
    assessed = analyst.post(f"/api/v1/orgs/{org}/risk/assessments", json={"entries": ["phishing"]})
    assert assessed.status_code == 201, assessed.text
    ranked = [s["key"] for s in assessed.json()["document"]["services"]]
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    tree = elements(viewer.get("/"))
    table = find(tree, "services-ranked")
    assert table is not None
    rows = [
        e["props"]["data-testid"].removeprefix("service-row-")
        for e in tree.values()
        if str(e.get("props", {}).get("data-testid", "")).startswith("service-row-")
    ]
    assert rows == ranked
    text = page_text(tree)
    assert "Electronic health record" in text
    for testid in (
        "count-open-findings",
        "count-kev-findings",
        "count-internet-exposed",
        "count-devices-at-risk",
        "last-assessment",
        "trend-summary",
    ):
        assert find(tree, testid) is not None, testid
    assert "One assessment" in text


def test_a_role_needing_mfa_is_sent_to_its_second_factor(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Mary")
    lead = api_world.user("lead@stmary.example", {org: Role.SECURITY_LEAD})
    api_world.give_password(lead, "grey heron over the river")
    client = signed_in(api_world, lead, assurance="password")
    assert _login_target(client.get("/", follow_redirects=False)) == "/"
    # Nothing enrolled yet: the login page opens on the TOTP enrolment.
    root = _login_root(client.get("/login"))
    assert root["props"]["data-step"] == "enrol"
    # Enrol through the API as the page's script does, then sign in again with a password.
    started = client.post("/api/v1/auth/mfa/totp/enrol")
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        "/api/v1/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}
    )
    assert confirmed.status_code == 200, confirmed.text
    again = signed_in(api_world, lead, assurance="password")
    root = _login_root(again.get("/login"))
    assert root["props"]["data-step"] == "totp"
    assert root["props"]["data-methods"] == "totp recovery_code"
    assert find(elements(again.get("/login")), "totp-code") is not None


def test_break_glass_banner_while_elevated(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Luke")
    user = api_world.user("nurse@stluke.example", {org: Role.ANALYST})
    client = signed_in(api_world, user)
    assert find(elements(client.get("/")), "break-glass-banner") is None
    with api_world.sessions.begin() as s:
        s.add(
            BreakGlassGrant(
                organisation_id=org,
                user_id=user,
                role=Role.SECURITY_LEAD.value,
                reason="ransomware on the ICU network, lead unreachable",
                granted_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    tree = elements(client.get("/"))
    banner = find(tree, "break-glass-banner")
    assert banner is not None
    assert banner["props"]["role"] == "alert"
    text = page_text(tree)
    assert "security_lead" in text
    assert "ransomware on the ICU network" in text
    # The elevated role's navigation appears (security leads read the audit log).
    assert find(tree, "nav-admin-audit") is not None


def test_organisation_is_chosen_among_memberships_only(api_world: ApiWorld) -> None:
    a = api_world.organisation("Alpha Hospital")
    b = api_world.organisation("Beta Hospital")
    other = api_world.organisation("Gamma Hospital")
    user = api_world.user("both@example.org", {a: Role.VIEWER, b: Role.ANALYST})
    client = signed_in(api_world, user)

    def shown(**query: str) -> Any:
        switcher = find(elements(client.get("/", params=query)), "org-switcher")
        assert switcher is not None
        return switcher["props"]

    assert "Alpha Hospital" in str(shown())  # first by name
    client.cookies.set(ORG_COOKIE, str(b))
    assert find(elements(client.get("/")), "nav-findings") is not None  # analyst in Beta
    assert find(elements(client.get("/", params={"org": str(a)})), "nav-findings") is None
    # Not a member of Gamma: the first organisation is shown, never Gamma's data.
    client.cookies.delete(ORG_COOKIE)
    tree = elements(client.get("/", params={"org": str(other)}))
    assert find(tree, "nav-findings") is None
    assert "Gamma Hospital" not in page_text(tree)


def test_a_page_the_role_does_not_allow_says_so(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Paul")
    viewer = signed_in(api_world, api_world.user("v@stpaul.example", {org: Role.VIEWER}))
    refused = viewer.get(FORBIDDEN_PATH)
    assert refused.status_code == 403
    tree = elements(refused)
    assert find(tree, "forbidden") is not None
    assert find(tree, "managers-only") is None
    admin = signed_in(api_world, api_world.user("adm@stpaul.example", {org: Role.ADMIN}))
    allowed = admin.get(FORBIDDEN_PATH, params={"note": "hello"})
    assert allowed.status_code == 200
    shown = find(elements(allowed), "managers-only")
    assert shown is not None
    assert "hello" in shown["text"]


def test_an_account_without_organisation_is_told_so(api_world: ApiWorld) -> None:
    user = api_world.user("orphan@example.org", {})
    client = signed_in(api_world, user)
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/no-organisation"
    assert "No organisation yet" in page_text(elements(client.get("/no-organisation")))


def test_an_ended_session_sends_the_page_back_to_sign_in(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Clare")
    client = signed_in(api_world, api_world.user("c@stclare.example", {org: Role.VIEWER}))
    assert client.get("/").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.cookies.clear()
    assert _login_target(client.get("/", follow_redirects=False)) == "/"


def test_an_idle_session_expires_for_pages_as_for_the_api(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Jude")
    client = signed_in(api_world, api_world.user("j@stjude.example", {org: Role.VIEWER}))
    idle = timedelta(minutes=api_world.settings.session_idle_minutes + 1)
    with api_world.sessions.begin() as s:
        for row in s.query(UserSession).all():
            row.last_seen_at = utcnow() - idle
    assert _login_target(client.get("/", follow_redirects=False)) == "/"
    assert client.get("/api/v1/auth/me").status_code == 401
