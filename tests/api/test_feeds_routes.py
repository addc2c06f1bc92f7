"""Feed routes: the state of each feed and the knowledge counts, read only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from panacea.demo.install import packaged_feeds
from panacea.identity.roles import Role
from panacea.vulndb.feeds import load_directory
from panacea.vulndb.models import Vulnerability
from tests.api.conftest import ApiWorld
from tests.api.hospital import problem, walk


def _url(org_id: int, suffix: str) -> str:
    return f"/api/v1/orgs/{org_id}{suffix}"


def test_feed_states_after_loading_the_shipped_feeds(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    client = api_world.session_client(api_world.user("an@a.example", {a: Role.ANALYST}))
    assert client.get(_url(a, "/feeds")).json() == {"items": [], "next": None}
    problem(client.get(_url(a, "/feeds/nvd")), 404)

    report = load_directory(api_world.sessions, packaged_feeds())

    feeds = walk(client, _url(a, "/feeds"), limit=1)
    assert [f["name"] for f in feeds] == ["epss", "kev", "nvd"]
    by_name = {f["name"]: f for f in feeds}
    assert report.kev is not None
    assert report.nvd is not None
    assert report.epss is not None
    assert by_name["kev"]["records"] == report.kev.records
    assert by_name["nvd"]["records"] == report.nvd.records
    assert by_name["epss"]["records"] == report.epss.records
    assert by_name["kev"]["version"] == report.kev.version
    assert Path(by_name["kev"]["source"]).name == "known_exploited_vulnerabilities.json"
    assert client.get(_url(a, "/feeds/kev")).json() == by_name["kev"]
    problem(client.get(_url(a, "/feeds/osv")), 404)

    counts = client.get(_url(a, "/vulnerability-knowledge")).json()
    with api_world.sessions() as s:

        def count(*where: object) -> int:
            return int(s.scalar(select(func.count()).select_from(Vulnerability).where(*where)) or 0)

        assert counts == {
            "vulnerabilities": count(),
            "nvd_loaded": count(Vulnerability.nvd_loaded.is_(True)),
            "kev": count(Vulnerability.kev.is_(True)),
            "epss_scored": count(Vulnerability.epss.is_not(None)),
        }
    assert counts["nvd_loaded"] == len(list((packaged_feeds() / "nvd").glob("*.json")))
    assert 0 < counts["kev"] < counts["vulnerabilities"]


def test_feeds_need_the_permission_and_membership(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    load_directory(api_world.sessions, packaged_feeds())
    viewer = api_world.session_client(api_world.user("v@a.example", {a: Role.VIEWER}))
    auditor = api_world.session_client(api_world.user("au@a.example", {a: Role.AUDITOR}))
    for path in ("/feeds", "/feeds/kev", "/vulnerability-knowledge"):
        problem(viewer.get(_url(a, path)), 403)
        assert auditor.get(_url(a, path)).status_code == 200
        problem(auditor.get(_url(b, path)), 404)
    # No route changes the feeds: loading and updating are the CLI's (scheduled) jobs.
    assert auditor.post(_url(a, "/feeds"), json={}).status_code == 405
