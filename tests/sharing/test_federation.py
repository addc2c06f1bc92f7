"""Three organisations on two PANACEA instances, over TAXII 2.1 on 127.0.0.1.

Instance 1 (uvicorn in this process) holds hospitals A and B; instance 2 is ``panacea serve``
in its own process with its own SQLite database and data directory, and holds hospital C.
Everything that goes to instance 2 passes through a proxy that records the wire (and, when
told, alters one byte of an object in transit).

- A shares a GREEN, a RED and an AMBER+STRICT incident with B (B's inbox); A and B agreed that
  A's reports are for their community {A, B, C}. A also drops an unmarked indicator there.
- B syncs: it receives all four, and forwards to C only what the TLP rules allow: the GREEN
  incident. RED, AMBER+STRICT and unmarked (= AMBER+STRICT) stay with B: checked in B's and
  C's databases and on the wire.
- A pushes another incident to C through the proxy, which alters a byte: instance 2
  quarantines it (bad signature); the push is retried untouched and delivered once.
- C, on instance 2, runs ``panacea share sync`` in its own process and takes in what arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.audit_records import AuditEntry
from panacea.sharing.incidents import create_incident
from panacea.sharing.keys import organisation_identity, public_key_of, register_peer_key, signer_of
from panacea.sharing.peers import PeerSpec, add_peer
from panacea.sharing.quarantine import QuarantinedObject
from panacea.sharing.signing import sign_object
from panacea.sharing.sync import push, sync
from panacea.sharing.sync_records import SharingReceipt
from panacea.sharing.taxii.models import TaxiiObject
from panacea.sharing.taxii_client import Credentials, TaxiiClient
from panacea.sharing.tlp import Tlp
from tests.sharing.federation_world import (
    REPO,
    SecondInstance,
    WireProxy,
    second_instance,
    wire_proxy,
)
from tests.sharing.taxii_world import TaxiiWorld, indicator, live_world

NOW = datetime.now(UTC)


@dataclass
class Federation:
    one: TaxiiWorld
    two: TaxiiWorld
    instance: SecondInstance
    wire: WireProxy
    wire_url: str
    a: int
    b: int
    c: int
    ids: dict[str, str]  # organisation -> STIX identity
    b_inbox: str
    c_inbox: str


def _incident(world: TaxiiWorld, org: int, title: str, tlp: Tlp) -> int:
    with world.sessions.begin() as s:
        return create_incident(
            s,
            org,
            {
                "title": title,
                "summary": f"{title}: entry through the VPN gateway of the hospital.",
                "detected_at": NOW - timedelta(days=1),
                "determination": "successful-attempt",
                "techniques": ["T1190"],
                "indicators": [
                    {"type": "domain", "value": f"c2-{tlp.value.replace('+', '-')}.example"}
                ],
                "cves": ["CVE-2022-42475"],
                "tlp": tlp.value,
            },
            actor="lead@a",
        ).id


def _peer(world: TaxiiWorld, org: int, **spec: Any) -> None:
    with world.sessions.begin() as s:
        add_peer(s, org, PeerSpec(**spec), actor="test")


def _stored(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Every stored object version of a database: id -> bodies."""
    found: dict[str, list[str]] = {}
    with sessions() as s:
        for stix_id, body in s.execute(select(TaxiiObject.stix_id, TaxiiObject.body)).all():
            found.setdefault(stix_id, []).append(body)
    return found


@pytest.fixture
def federation(sqlite_url: str, sqlite_template: Path, tmp_path: Path) -> Iterator[Federation]:
    with (
        live_world(sqlite_url, tmp_path) as one,
        second_instance(sqlite_template, tmp_path / "instance2") as instance,
        wire_proxy(instance.base_url) as (wire, wire_url),
    ):
        two = TaxiiWorld(
            instance.base_url,
            instance.sessions,
            Settings(database_url=instance.database_url, demo_mode=True),
        )
        a, b = one.organisation("Ospedale A"), one.organisation("Ospedale B")
        c = two.organisation("Ospedale C")
        with one.sessions.begin() as s:
            ids = {"a": organisation_identity(s, a), "b": organisation_identity(s, b)}
            keys = [public_key_of(s, a), public_key_of(s, b)]
        with two.sessions.begin() as s:
            ids["c"] = organisation_identity(s, c)
            for view in keys:  # C's platform trusts A's and B's keys (exchanged out of band)
                register_peer_key(s, identity_ref=view.identity_ref, jwk=view.jwk, label="peer")
        yield Federation(
            one=one,
            two=two,
            instance=instance,
            wire=wire,
            wire_url=wire_url,
            a=a,
            b=b,
            c=c,
            ids=ids,
            b_inbox=one.collection(b, "Inbox"),
            c_inbox=two.collection(c, "Inbox"),
        )


def test_tlp_rules_hold_across_three_organisations_and_two_instances(
    federation: Federation,
) -> None:
    f = federation
    one = f.one
    # B issues A a token for its inbox; C issues one to A and one to B for its inbox.
    _peer(
        one,
        f.a,
        name="b-inbox",
        base_url=f"{one.base_url}/taxii2/",
        api_root="panacea",
        collection_id=f.b_inbox,
        secret=one.token(f.b),
        can_pull=False,
        can_push=True,
        audience=[f.ids["b"]],
    )
    _peer(
        one,
        f.a,
        name="c-inbox",
        base_url=f"{f.wire_url}/taxii2/",
        api_root="panacea",
        collection_id=f.c_inbox,
        secret=f.two.token(f.c),
        can_pull=False,
        can_push=True,
        audience=[f.ids["c"]],
    )
    # B records that what A pushes into its inbox is for the community {A, B, C} ...
    _peer(
        one,
        f.b,
        name="from-a",
        base_url=f"{one.base_url}/taxii2/",
        api_root="panacea",
        collection_id=f.b_inbox,
        auth_kind="none",
        can_pull=False,
        inbox_collection=f.b_inbox,
        audience=[f.ids["a"], f.ids["b"], f.ids["c"]],
    )
    # ... and forwards to C what the rules allow.
    _peer(
        one,
        f.b,
        name="c-inbox",
        base_url=f"{f.wire_url}/taxii2/",
        api_root="panacea",
        collection_id=f.c_inbox,
        secret=f.two.token(f.c),
        can_pull=False,
        can_push=True,
        forward=True,
        audience=[f.ids["c"]],
    )
    green = _incident(one, f.a, "Ransomware at A", Tlp.GREEN)
    red = _incident(one, f.a, "Insider at A", Tlp.RED)
    strict = _incident(one, f.a, "Extortion at A", Tlp.AMBER_STRICT)
    sent = push(one.sessions, f.a, "b-inbox", incident_ids=[green, red, strict])
    assert sent.delivered == sent.queued > 0
    assert not sent.failed
    # An unmarked indicator (which counts as AMBER+STRICT), signed by A, into B's inbox.
    with one.sessions.begin() as s:
        unmarked = sign_object(indicator(f.ids["a"]), signer_of(s, f.a))
    with TaxiiClient(
        f"{one.base_url}/taxii2/panacea/", Credentials("bearer", one.token(f.b))
    ) as client:
        assert client.add_objects(f.b_inbox, [unmarked]).success_count == 1

    report = sync(one.sessions, f.b, actor="lead@b")
    assert not report.errors
    assert report.received == sent.delivered + 1
    [forwarded] = report.pushes
    assert forwarded.delivered > 0
    assert not forwarded.failed
    with one.sessions() as s:
        receipts = {r.stix_id: r for r in s.scalars(select(SharingReceipt))}
        incidents = {r.marking: r.stix_id for r in receipts.values() if r.stix_type == "incident"}
    assert set(incidents) == {"green", "red", "amber+strict"}
    held = {h.stix_id: h.reason for h in forwarded.held_back}
    assert "TLP:RED" in held[incidents["red"]]
    assert "TLP:AMBER+STRICT" in held[incidents["amber+strict"]]
    assert "TLP:AMBER+STRICT" in held[unmarked["id"]]
    # everything RED or AMBER+STRICT that B received was held back, nothing GREEN was
    kept = {i for i, r in receipts.items() if r.marking in {"red", "amber+strict"}}
    assert kept == set(held)
    assert all(r.marking in {"green", "clear"} for i, r in receipts.items() if i not in held)

    # on the wire to instance 2, and in its database: the GREEN incident, nothing else of A's
    wire = f.wire.sent_text()
    stored_at_c = _stored(f.instance.sessions)
    assert incidents["green"] in wire
    assert incidents["green"] in stored_at_c
    for stix_id in kept:
        assert stix_id not in wire
        assert stix_id not in stored_at_c
    for level in (Tlp.RED, Tlp.AMBER_STRICT):
        assert level.marking_id not in wire
        assert not any(level.marking_id in b for bodies in stored_at_c.values() for b in bodies)
    # the RED and AMBER+STRICT incidents did reach B
    stored_at_one = _stored(one.sessions)
    assert {incidents["red"], incidents["amber+strict"], unmarked["id"]} <= set(stored_at_one)
    with one.sessions() as s:
        refusals = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "sharing.forward_refused")
        ).all()
    assert len(refusals) == 1
    assert refusals[0].details["count"] == len(kept)

    # a re-sync sends nothing again
    posts = sum(1 for e in f.wire.exchanges if e.method == "POST")
    again = sync(one.sessions, f.b)
    assert [(p.delivered, p.held_back) for p in again.pushes] == [(0, ())]
    assert again.received == 0
    assert sum(1 for e in f.wire.exchanges if e.method == "POST") == posts

    # altered in transit: instance 2 quarantines the object, the retry delivers it once
    f.wire.tamper = "request"
    late = _incident(one, f.a, "Phishing at A", Tlp.GREEN)
    tampered = push(one.sessions, f.a, "c-inbox", incident_ids=[late])
    assert f.wire.tampered == 1
    assert len(tampered.failed) == 1
    assert "quarantined (bad-signature)" in tampered.failed[0].reason
    with f.instance.sessions() as s:
        [quarantined] = s.scalars(select(QuarantinedObject)).all()
    assert quarantined.reason == "bad-signature"
    assert quarantined.stix_id == tampered.failed[0].stix_id
    altered = json.loads(quarantined.body)["name"]
    held_at_c = _stored(f.instance.sessions).get(quarantined.stix_id, [])
    assert altered not in {json.loads(body)["name"] for body in held_at_c}
    f.wire.tamper = None
    retried = push(one.sessions, f.a, "c-inbox")
    assert retried.delivered == 1
    assert not retried.failed

    # C takes in what arrived, on its own instance, in its own process
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANACEA_")}
    env.update({"PANACEA_DEMO_MODE": "true", "PANACEA_DATA_DIR": str(f.instance.log.parent)})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "panacea.cli.main",
            "--db",
            f.instance.database_url,
            "share",
            "sync",
            "--org",
            "Ospedale C",
            "--format",
            "json",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    assert document["schema"] == "panacea.share.sync/1"
    assert document["received"] == len(_stored(f.instance.sessions))
    with f.instance.sessions() as s:
        markings = {r.marking for r in s.scalars(select(SharingReceipt))}
        recipients = {tuple(r.recipients) for r in s.scalars(select(SharingReceipt))}
    assert markings <= {"green", "clear"}
    # C knows no wider audience than itself for its inbox: it would pass nothing on
    assert recipients == {(f.ids["c"],)}
