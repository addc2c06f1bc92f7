"""Federation peers through the API: roles, write-only secrets, problems, audit."""

from __future__ import annotations

from sqlalchemy import select

from panacea.identity.audit_records import AuditEntry
from panacea.identity.roles import Role
from panacea.sharing.sync_records import SharingPeer
from tests.api import conftest as api_conftest
from tests.api.conftest import ApiWorld

# The API fixtures of tests/api, used here as they are.
api_settings = api_conftest.api_settings
api_world = api_conftest.api_world

BASE = "/api/v1/orgs"
AUDIENCE = "identity--2f8c1d5e-8d43-4c1b-a9b6-7f0e2c3d4b5a"


def _peer(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "regional-hub",
        "base_url": "https://hub.example/taxii2/",
        "api_root": "community",
        "collection_id": "9f0a63a5-1f5f-4c7e-8a6f-3b2d4bcb1f10",
        "auth_kind": "basic",
        "secret": "hospital-a:S3cr3t-from-the-hub",
        "push": True,
        "audience": [AUDIENCE],
    }
    body.update(changes)
    return body


def test_peers_through_the_api(api_world: ApiWorld) -> None:
    api = api_world
    org = api.organisation("Ospedale San Marco")
    lead = api.session_client(api.user("ciso@sanmarco.example", {org: Role.SECURITY_LEAD}))
    auditor = api.session_client(api.user("audit@sanmarco.example", {org: Role.AUDITOR}))

    created = lead.post(f"{BASE}/{org}/sharing/peers", json=_peer())
    assert created.status_code == 201, created.text
    peer = created.json()
    assert peer["api_root_url"] == "https://hub.example/taxii2/community/"
    assert (peer["has_secret"], peer["push"], peer["audience"]) == (True, True, [AUDIENCE])
    assert "secret" not in peer
    assert "S3cr3t" not in created.text

    listed = auditor.get(f"{BASE}/{org}/sharing/peers")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["regional-hub"]
    assert "S3cr3t" not in listed.text
    assert auditor.post(f"{BASE}/{org}/sharing/peers", json=_peer(name="x")).status_code == 403

    again = lead.post(f"{BASE}/{org}/sharing/peers", json=_peer())
    assert again.status_code == 409
    plain = lead.post(
        f"{BASE}/{org}/sharing/peers", json=_peer(name="plain", base_url="http://hub.example/")
    )
    assert plain.status_code == 422
    assert "plain http" in plain.json()["detail"]
    no_audience = lead.post(f"{BASE}/{org}/sharing/peers", json=_peer(name="b", audience=[]))
    assert no_audience.status_code == 422
    assert "audience" in no_audience.json()["detail"]

    with api.sessions() as s:
        sealed = s.scalar(select(SharingPeer.token_encrypted))
        assert sealed is not None
        assert b"S3cr3t" not in sealed

    assert lead.delete(f"{BASE}/{org}/sharing/peers/regional-hub").status_code == 204
    assert lead.delete(f"{BASE}/{org}/sharing/peers/regional-hub").status_code == 404
    assert auditor.get(f"{BASE}/{org}/sharing/peers").json() == []
    with api.sessions() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("sharing.peer_%"))
        ).all()
    assert [(e.action, e.via) for e in entries] == [
        ("sharing.peer_added", "session"),
        ("sharing.peer_removed", "session"),
    ]
    assert all(e.actor == "ciso@sanmarco.example" for e in entries)
