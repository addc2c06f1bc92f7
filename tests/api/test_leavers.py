"""A leaver's session cookie and API token stop working at once, through the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from panacea.api.app import API_PREFIX
from panacea.identity.actors import Actor
from panacea.identity.leavers import disable_user
from panacea.identity.models import User
from panacea.identity.roles import Permission, Role
from panacea.identity.tokens import create_token
from tests.api.conftest import ApiWorld


def test_a_disabled_users_session_and_token_answer_401_at_once(api_world: ApiWorld) -> None:
    org = api_world.organisation("Hôpital A")
    api_world.user("admin@h.example", {org: Role.ADMIN})
    leaver = api_world.user("leaver@h.example", {org: Role.ANALYST})
    browser = api_world.session_client(leaver)
    with api_world.sessions.begin() as s:
        user = s.get(User, leaver)
        assert user is not None
        _, secret = create_token(
            s,
            user=user,
            organisation_id=org,
            name="scanner",
            scopes=[Permission.ORGANISATION_READ],
            lifetime=timedelta(days=30),
            max_lifetime=timedelta(days=365),
        )
    machine = api_world.anonymous_client()
    machine.headers["Authorization"] = f"Bearer {secret}"
    url = f"{API_PREFIX}/orgs/{org}"
    assert browser.get(url).status_code == 200
    assert machine.get(url).status_code == 200

    with api_world.sessions.begin() as s:
        done = disable_user(
            s, leaver, actor=Actor(user_id=None, name="ops@server", via="cli"), reason="left"
        )
    assert (done.sessions_revoked, done.tokens_revoked) == (1, 1)

    for client in (browser, machine):
        response = client.get(url)
        assert response.status_code == 401, response.text
        assert response.json()["type"] == "urn:panacea:problem:unauthenticated"

    # Revoked, not merely refused while disabled: re-enabling does not revive them.
    with api_world.sessions.begin() as s:
        user = s.execute(select(User).where(User.id == leaver)).scalar_one()
        user.disabled = False
    assert browser.get(url).status_code == 401
    assert machine.get(url).status_code == 401
