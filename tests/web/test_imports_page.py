"""The imports page: what its uploader sends (the API's import route, as the browser posts
it), how it reads the answer, and who gets the page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from panacea.identity.roles import Role
from panacea.inventory.assets import Asset
from panacea.web.imports_page import (
    factory_js,
    form_fields,
    import_url,
    outcome_of,
    rejection_text,
)
from tests.api.conftest import ApiWorld
from tests.api.hospital import audit_of, small_hospital
from tests.conftest import TEST_DATA
from tests.web.conftest import elements, find, signed_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")
SCAN = TEST_DATA / "nmap_service_detection_localhost.xml"
BAD_CSV = TEST_DATA / "csv_assets_unknown_zone.csv"


def _assets(world: ApiWorld, org: int) -> int:
    with world.sessions() as db:
        return int(db.scalar(select(func.count()).where(Asset.organisation_id == org)) or 0)


def _as_the_uploader(client: Any, org: int, kind: str, path: Any) -> Any:
    """POST the file as the page's uploader does: its factory's URL, field name and CSRF
    header (from /auth/me), and its form fields."""
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    del client.headers["X-CSRF-Token"]  # the page has none until it asks /auth/me
    fields = {f["name"]: f["value"] for f in form_fields(kind, None)}
    return client.post(
        import_url(org),
        data=fields,
        files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
        headers={"X-CSRF-Token": me.json()["csrf_token"], "Accept": "application/json"},
    )


def test_form_fields_name_the_importer_and_the_sboms_asset() -> None:
    assert form_fields("nmap", "ignored") == [{"name": "kind", "value": "nmap"}]
    assert form_fields("sbom", "  pacs-01 ") == [
        {"name": "kind", "value": "sbom"},
        {"name": "asset", "value": "pacs-01"},
    ]
    assert form_fields("sbom", "   ") == [{"name": "kind", "value": "sbom"}]


def test_factory_posts_to_the_api_with_the_sessions_csrf_token() -> None:
    script = factory_js(42)
    assert script.startswith("async () => {")
    assert json.dumps("/api/v1/orgs/42/imports") in script
    assert "fetch('/api/v1/auth/me'" in script
    assert "fieldName: 'file'" in script
    assert "X-CSRF-Token" in script
    assert "me.csrf_token" in script


def test_answers_are_read_for_display() -> None:
    report = json.dumps({"records": 3, "assets_added": 2, "notes": ["a note", 7]})
    ok = outcome_of(200, report)
    assert ok.ok
    assert ok.notes == ["a note"]
    assert {"id": "records", "what": "Records read", "value": "3"} in ok.rows
    problem = json.dumps({"detail": "scan.xml: line 3: not an nmap document"})
    failed = outcome_of(422, problem)
    assert not failed.ok
    assert failed.error == "Nothing was imported. scan.xml: line 3: not an nmap document"
    assert "network" in outcome_of(0, "").error
    assert "sign in again" in outcome_of(401, problem).error
    assert outcome_of(502, "<html>gateway</html>").error.endswith("answered 502.")
    assert outcome_of(True, report).ok is False


def test_rejections_say_why() -> None:
    text = rejection_text(
        [
            {"reason": "max-file-size", "name": "big.xml", "size": 10},
            {"reason": "accept", "name": "photo.png"},
            "garbage",
        ],
        1000,
    )
    assert "big.xml is larger than the limit of 1,000 bytes" in text
    assert "photo.png is not a file of the chosen kind" in text
    assert rejection_text(None, 1) == "Not uploaded: the file was refused."


def test_upload_as_the_page_makes_it_imports_and_audits(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = signed_in(api_world, api_world.user("a@a.example", {org: Role.ANALYST}))
    before = _assets(api_world, org)
    response = _as_the_uploader(analyst, org, "nmap", SCAN)
    assert response.status_code == 200, response.text
    outcome = outcome_of(response.status_code, response.text)
    assert outcome.ok
    added = next(r for r in outcome.rows if r["id"] == "assets_added")
    assert int(added["value"]) == _assets(api_world, org) - before > 0
    [entry] = audit_of(api_world, org, "import.completed")
    assert entry.details["file"] == SCAN.name


def test_a_bad_file_stores_nothing_and_its_error_is_shown_verbatim(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = signed_in(api_world, api_world.user("a@a.example", {org: Role.ANALYST}))
    before = _assets(api_world, org)
    response = _as_the_uploader(analyst, org, "csv", BAD_CSV)
    assert response.status_code == 422
    outcome = outcome_of(response.status_code, response.text)
    assert not outcome.ok
    assert outcome.error == f"Nothing was imported. {response.json()['detail']}"
    assert f"{BAD_CSV.name}: line 2" in outcome.error
    assert _assets(api_world, org) == before
    assert audit_of(api_world, org, "import.completed") == []


def test_imports_page_for_importers_only(api_world: ApiWorld) -> None:
    org = small_hospital(api_world, "Hospital A")
    analyst = signed_in(api_world, api_world.user("a@a.example", {org: Role.ANALYST}))
    tree = elements(analyst.get("/imports"))
    uploader = find(tree, "import-file")
    assert uploader is not None
    assert uploader["tag"] == "q-uploader"
    assert uploader["props"][":factory"] == factory_js(org)
    assert uploader["props"]["form-fields"] == form_fields("nmap", None)
    assert uploader["props"]["max-file-size"] == api_world.settings.max_upload_bytes
    for testid in ("import-kind", "import-choose", "import-result", "import-error"):
        assert find(tree, testid) is not None, testid
    viewer = signed_in(api_world, api_world.user("v@a.example", {org: Role.VIEWER}))
    refused = viewer.get("/imports")
    assert refused.status_code == 403
    assert find(elements(refused), "import-file") is None
