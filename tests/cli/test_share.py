"""``panacea share``: identity and trust, peers, push and sync against a live PANACEA, export.

The commands run in this process on the database of a live server (uvicorn on 127.0.0.1),
in demo mode: they find the same generated KEK as the server, next to the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from panacea.cli.main import main
from panacea.config import get_settings
from panacea.identity.audit_records import AuditEntry
from panacea.sharing.incidents import create_incident
from panacea.sharing.keys import KeyRing, organisation_identity
from panacea.sharing.signing import SIGNATURE_PROPERTY, verify_object
from panacea.sharing.stix_intake import read_bundle
from panacea.sharing.sync_records import SharingPeer
from panacea.sharing.tlp import Tlp
from tests.sharing.taxii_world import Publisher, TaxiiWorld, live_world


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaxiiWorld]:
    monkeypatch.setenv("PANACEA_DEMO_MODE", "true")
    monkeypatch.setenv("PANACEA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PANACEA_KEK", raising=False)
    monkeypatch.delenv("PANACEA_KEK_FILE", raising=False)
    get_settings.cache_clear()
    with live_world(sqlite_url, tmp_path) as live:
        yield live
    get_settings.cache_clear()


def _run(capsys: pytest.CaptureFixture[str], world: TaxiiWorld, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    url = world.sessions.kw["bind"].url.render_as_string(hide_password=False)
    status = main(["--db", url, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _incident(world: TaxiiWorld, org: int) -> int:
    with world.sessions.begin() as s:
        return create_incident(
            s,
            org,
            {
                "title": "Ransomware on the PACS archive",
                "summary": "Dr. Maria Rossi could not read the MRI; entry through the VPN.",
                "detected_at": datetime.now(UTC) - timedelta(days=1),
                "cves": ["CVE-2022-2119"],
                "indicators": [{"type": "ipv4", "value": "185.220.101.47"}],
                "tlp": "amber",
            },
            actor="lead@a",
        ).id


def test_identity_and_trust(
    world: TaxiiWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world.organisation("Ospedale A")
    status, out, _ = _run(capsys, world, "share", "identity", "--org", "Ospedale A")
    assert status == 0
    document = json.loads(out)
    assert document["schema"] == "panacea.share.identity/1"
    assert document["identity_ref"].startswith("identity--")
    assert "d" not in document["jwk"]
    remote = Publisher.new()
    key = tmp_path / "remote.json"
    key.write_text(
        json.dumps({"identity_ref": remote.identity_ref, "jwk": remote.key.as_dict(private=False)})
    )
    status, out, _ = _run(capsys, world, "share", "trust", "--key", str(key), "--label", "CERT")
    assert status == 0
    assert remote.identity_ref in out
    with world.sessions() as s:
        assert KeyRing(s).find(remote.signer.kid) is not None
    # a private key is refused
    key.write_text(
        json.dumps({"identity_ref": remote.identity_ref, "jwk": remote.key.as_dict(private=True)})
    )
    status, _, err = _run(capsys, world, "share", "trust", "--key", str(key))
    assert status == 1
    assert "private part" in err


def test_peers_push_sync_and_export(
    world: TaxiiWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = world.organisation("Ospedale A"), world.organisation("Ospedale B")
    inbox = world.collection(b, "Inbox")
    secret = tmp_path / "token.txt"
    secret.write_text(world.token(b) + "\n")
    with world.sessions.begin() as s:
        b_id = organisation_identity(s, b)
    base = ["--url", f"{world.base_url}/taxii2/", "--api-root", "panacea", "--collection", inbox]
    status, _, err = _run(
        capsys, world, "share", "peers", "add", "--org", "Ospedale A", "--name", "b-inbox",
        *base, "--secret-file", str(secret), "--no-pull", "--push", "--audience", b_id,
    )  # fmt: skip
    assert status == 0, err
    status, out, _ = _run(
        capsys, world, "share", "peers", "list", "--org", "Ospedale A", "--format", "json"
    )
    listed = json.loads(out)
    assert listed["schema"] == "panacea.share.peers/1"
    [peer] = listed["peers"]
    assert (peer["name"], peer["has_secret"], peer["audience"]) == ("b-inbox", True, [b_id])
    assert secret.read_text().strip() not in out
    with world.sessions() as s:
        sealed = s.scalar(select(SharingPeer.token_encrypted))
    assert sealed is not None
    assert secret.read_text().strip().encode() not in sealed

    incident = _incident(world, a)
    status, out, err = _run(
        capsys, world, "share", "push", "--org", "Ospedale A", "--peer", "b-inbox",
        "--incident", str(incident),
    )  # fmt: skip
    assert status == 0, err
    assert "0 refused by the peer" in out
    status, out, err = _run(
        capsys, world, "share", "sync", "--org", "Ospedale B", "--format", "json"
    )
    assert status == 0, err
    report: dict[str, Any] = json.loads(out)
    assert report["schema"] == "panacea.share.sync/1"
    assert report["received"] > 0
    [sighting] = report["intel"]["sightings"]
    assert sighting["cve"] == "CVE-2022-2119"
    assert sighting["source"].startswith("[org-")

    out_file = tmp_path / "bundle.json"
    status, _, err = _run(
        capsys, world, "share", "export", "--org", "Ospedale A", "--incident", str(incident),
        "--out", str(out_file),
    )  # fmt: skip
    assert status == 0, err
    bundle = json.loads(out_file.read_text())
    assert "Maria Rossi" not in out_file.read_text()
    intel = read_bundle(bundle)
    [shared] = intel.incidents
    assert shared.tlp is Tlp.AMBER
    with world.sessions() as s:
        ring = KeyRing(s)
        signed = [o for o in bundle["objects"] if SIGNATURE_PROPERTY in o]
        assert len(signed) > 5
        for obj in signed:
            trusted = ring.find(json.loads(_header(obj))["kid"])
            assert trusted is not None
            verify_object(obj, trusted)
        actions = [e.action for e in s.scalars(select(AuditEntry))]
    for action in ("sharing.peer_added", "sharing.pushed", "sharing.exported"):
        assert action in actions

    status, _, _ = _run(capsys, world, "share", "peers", "remove", "b-inbox", "--org", "Ospedale A")
    assert status == 0
    status, _, err = _run(
        capsys, world, "share", "pull", "--org", "Ospedale A", "--peer", "b-inbox"
    )
    assert status == 1
    assert "no peer 'b-inbox'" in err


def _header(obj: dict[str, Any]) -> str:
    segment = obj[SIGNATURE_PROPERTY].split(".")[0]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
