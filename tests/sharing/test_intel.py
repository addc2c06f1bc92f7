"""Received intelligence feeds the risk model: end to end, and the rules one by one.

The end-to-end test runs a live PANACEA (uvicorn on 127.0.0.1) with two hospitals: A records
an incident about an exploited CVE and pushes it over TAXII into B's inbox; B syncs; B's next
assessment rates the service that depends on the asset with that CVE higher, and its
explanation cites A's report by a pseudonym, never by A's name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from panacea.inventory.assets import Asset, AssetAddress
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.engine import Evidence, IntelSighting, RiskEngine
from panacea.risk.inputs import load_inputs
from panacea.risk.report_json import assessment_document
from panacea.risk.service import run_assessment
from panacea.sharing.incidents import create_incident
from panacea.sharing.intel import IntelRule, intel_events
from panacea.sharing.intel_records import IntelEvidenceRecord, IntelSightingRecord
from panacea.sharing.keys import organisation_identity
from panacea.sharing.peers import PeerSpec, add_peer
from panacea.sharing.stix_extension import INCIDENT_CORE_EXTENSION_ID
from panacea.sharing.sync import push, receive, sync
from panacea.sharing.taxii_client import Credentials, TaxiiClient
from panacea.sharing.tlp import Tlp
from tests.sharing.incident_world import hospital, ransomware
from tests.sharing.taxii_world import Publisher, TaxiiWorld

CVE = "CVE-2022-2119"  # on pacs-01 in the documented hospital; not on CISA KEV, no EPSS
OPTIONS = AssessmentOptions(trials=2048, seed=7)
# A public address of B's VPN gateway, which A's incident names as attacker infrastructure.
GATEWAY_ADDRESS = "185.220.101.47"
# Reports older than the risk horizon (365 days) are ignored: the incident is recent.
RECENT: dict[str, Any] = {
    "detected_at": datetime.now(UTC) - timedelta(days=2),
    "started_at": None,
    "contained_at": None,
    "status": "open",
}


def _service(document: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in document["services"] if s["key"] == key)


def _assess(world: TaxiiWorld, org_id: int) -> dict[str, Any]:
    with world.sessions.begin() as s:
        return assessment_document(run_assessment(s, org_id, OPTIONS))


def _exploit_steps(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for path in service["top_paths"]
        for step in path["steps"]
        if step["action"] == "exploit" and step["cve"] == CVE
    ]


@pytest.fixture
def hospitals(world: TaxiiWorld) -> tuple[int, int]:
    a = hospital(world.sessions, "Ospedale Alfa")
    b = hospital(world.sessions, "Ospedale Beta")
    with world.sessions.begin() as s:
        gateway = s.scalar(
            select(Asset).where(Asset.organisation_id == b, Asset.name == "vpn-gw-01")
        )
        assert gateway is not None
        s.add(
            AssetAddress(organisation_id=b, asset_id=gateway.id, kind="ipv4", value=GATEWAY_ADDRESS)
        )
    return a, b


def _peer_to_inbox(world: TaxiiWorld, sender: int, recipient: int, name: str) -> str:
    """The recipient's inbox collection, and a push peer of the sender for it (with a token
    the recipient issued); returns the inbox's TAXII id."""
    inbox = world.collection(recipient, "Inbox")
    token = world.token(recipient)
    with world.sessions.begin() as s:
        audience = [organisation_identity(s, recipient)]
        add_peer(
            s,
            sender,
            PeerSpec(
                name=name,
                base_url=f"{world.base_url}/taxii2/",
                api_root="panacea",
                collection_id=inbox,
                secret=token,
                can_pull=False,
                can_push=True,
                audience=audience,
            ),
            actor="test",
        )
    return inbox


def test_an_incident_shared_by_a_raises_b_risk_and_is_cited(
    world: TaxiiWorld, hospitals: tuple[int, int]
) -> None:
    a, b = hospitals
    _peer_to_inbox(world, a, b, "beta-inbox")
    before = _assess(world, b)
    imaging_before = _service(before, "imaging")
    assert imaging_before["probability"] < 0.2  # the documented hospital's PACS, no intel yet

    with world.sessions.begin() as s:
        incident = create_incident(
            s,
            a,
            ransomware(
                tlp="green",
                cves=[CVE],
                indicators=[{"type": "ipv4", "value": GATEWAY_ADDRESS}],
                **RECENT,
            ),
            actor="lead@alfa",
        )
        incident_id = incident.id
    report = push(world.sessions, a, "beta-inbox", incident_ids=[incident_id], actor="lead@alfa")
    assert report.delivered == report.queued > 0
    assert not report.failed

    synced = sync(world.sessions, b, actor="lead@beta")
    assert synced.received == report.delivered
    assert not synced.errors
    [found] = [r.sighting for r in synced.intel.sightings]
    assert (found.cve, found.confidence) == (CVE, 0.9)  # successful-attempt
    assert found.source.startswith("[org-")
    assert "Alfa" not in found.source

    after = _assess(world, b)
    imaging_after = _service(after, "imaging")
    # pacs-01's exploit of the CVE: weaponisation 0.25 -> 1 - 0.75 * 0.1 = 0.925
    # about 0.045 -> 0.09 (Monte Carlo, 2,048 worlds): the 95% intervals do not overlap
    assert imaging_after["probability"] > imaging_before["probability"] + 0.03
    assert imaging_after["interval"][0] > imaging_before["interval"][1]
    steps = _exploit_steps(imaging_after)
    assert steps, imaging_after["top_paths"]
    cited = steps[0]["evidence"]
    assert f"shared report {found.report_id} by {found.source}" in cited
    assert "Alfa" not in str(after)
    # the indicator named B's VPN gateway: evidence that it is compromised
    with world.sessions.begin() as s:
        [evidence] = s.scalars(
            select(IntelEvidenceRecord).where(IntelEvidenceRecord.organisation_id == b)
        ).all()
        assert evidence.matched == f"ipv4:{GATEWAY_ADDRESS}"
        assert evidence.report_id == found.report_id
    gateway = next(x for x in after["assets"] if x["name"] == "vpn-gw-01")
    assert gateway["probability"] >= 0.5 - 0.05


def test_a_live_engine_reaches_the_same_figures_from_the_events(
    world: TaxiiWorld, hospitals: tuple[int, int]
) -> None:
    a, b = hospitals
    _peer_to_inbox(world, a, b, "beta-inbox")
    with world.sessions.begin() as s:
        incident = create_incident(
            s,
            a,
            ransomware(
                tlp="green",
                cves=[CVE],
                indicators=[{"type": "ipv4", "value": GATEWAY_ADDRESS}],
                **RECENT,
            ),
            actor="lead@alfa",
        )
        incident_id = incident.id
        engine = RiskEngine(load_inputs(s, b), OPTIONS)
    push(world.sessions, a, "beta-inbox", incident_ids=[incident_id])
    sync(world.sessions, b)
    with world.sessions.begin() as s:
        events = intel_events(s, b)
        fresh = RiskEngine(load_inputs(s, b), OPTIONS)
    assert [type(e) for e in events] == [IntelSighting, Evidence]
    changed = sum(engine.apply(e) for e in events)
    assert changed > 0
    assert engine.service_probabilities() == fresh.service_probabilities()
    assert (engine.state == engine.full()).all()
    # applying the same report again counts it once
    assert engine.apply(events[0]) >= 0
    assert engine.service_probabilities() == fresh.service_probabilities()


# the rules one by one, on objects a trusted remote publisher pushes into B's inbox ---------
STIX_NOW = datetime.now(UTC)


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Remote:
    """Objects of a remote publisher (another platform's hospital), TLP:GREEN."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.objects: list[dict[str, Any]] = [
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": publisher.identity_ref,
                "created": _t(STIX_NOW),
                "modified": _t(STIX_NOW),
                "name": "Klinikum Remote",
                "identity_class": "organization",
                "created_by_ref": publisher.identity_ref,
            }
        ]

    def add(self, kind: str, when: datetime = STIX_NOW, **properties: Any) -> str:
        stix_id = f"{kind}--{uuid.uuid4()}"
        self.objects.append(
            {
                "type": kind,
                "spec_version": "2.1",
                "id": stix_id,
                "created": _t(when),
                "modified": _t(when),
                "created_by_ref": self.publisher.identity_ref,
                "object_marking_refs": [Tlp.GREEN.marking_id],
                **properties,
            }
        )
        return stix_id

    def vulnerability(self, cve: str) -> str:
        return self.add(
            "vulnerability",
            name=cve,
            external_references=[{"source_name": "cve", "external_id": cve}],
        )

    def incident(self, name: str, determination: str, *linked: str, **more: Any) -> str:
        core = {"extension_type": "property-extension", "determination": determination}
        incident = self.add(
            "incident", name=name, extensions={INCIDENT_CORE_EXTENSION_ID: core}, **more
        )
        for target in linked:
            self.add(
                "relationship",
                relationship_type="related-to",
                source_ref=incident,
                target_ref=target,
            )
        return incident

    def indicator(self, pattern: str, **more: Any) -> str:
        return self.add(
            "indicator", pattern=pattern, pattern_type="stix", valid_from=_t(STIX_NOW), **more
        )

    def signed(self) -> list[dict[str, Any]]:
        return [self.publisher.sign(o) for o in self.objects]


def test_the_rules_weigh_reports_and_match_indicators(
    world: TaxiiWorld, peer: Publisher, hospitals: tuple[int, int]
) -> None:
    _, b = hospitals
    inbox = world.collection(b, "Inbox")
    remote = _Remote(peer)
    gateway = "[ipv4-addr:value = '185.220.101.0/24']"
    fp_indicator = remote.indicator("[ipv4-addr:value = '185.220.101.47']")
    remote.incident(
        "False alarm", "false-positive", remote.vulnerability("CVE-2017-0144"), fp_indicator
    )
    exploited = remote.vulnerability("CVE-2022-2120")
    blocked = remote.incident("Blocked exploit", "blocked", exploited)
    old = STIX_NOW - timedelta(days=400)
    remote.incident("Old", "successful-attempt", remote.vulnerability("CVE-2019-0708"))
    remote.objects[-2]["created"] = remote.objects[-2]["modified"] = _t(old)
    remote.incident(
        "Withdrawn", "successful-attempt", remote.vulnerability("CVE-2021-34527"), revoked=True
    )
    seen = remote.vulnerability("CVE-2022-30190")
    sighting = remote.add("sighting", sighting_of_ref=seen, confidence=80, count=3)
    remote.add("sighting", sighting_of_ref=exploited)  # CVE-2022-2120: the incident covers it
    cidr = remote.indicator(gateway, confidence=70)
    host = remote.indicator("[domain-name:value = 'ehr-db-01.hospital.local']")
    url = remote.indicator("[url:value = 'https://ehr-db-01.hospital.local/login']", confidence=100)
    remote.indicator(gateway, indicator_types=["benign"])
    remote.indicator(gateway, valid_until=_t(STIX_NOW - timedelta(days=1)))
    with TaxiiClient(world.api_root_url, Credentials("bearer", world.token(b))) as client:
        status = client.add_objects(inbox, remote.signed())
    assert status.failure_count == 0, status.failures

    received, summary = receive(world.sessions, b)
    assert received == len(remote.objects)
    reports = {
        (r.sighting.cve, r.sighting.report_id): r.sighting.confidence for r in summary.sightings
    }
    assert reports == {("CVE-2022-2120", blocked): 0.6, ("CVE-2022-30190", sighting): 0.8}
    with world.sessions() as s:
        names = dict(
            s.execute(select(Asset.id, Asset.name).where(Asset.organisation_id == b)).all()
        )
    evidence = sorted((names[e.asset_id], e.indicator_id, e.confidence) for e in summary.evidence)
    assert evidence == sorted(
        [
            ("vpn-gw-01", cidr, 0.7),
            ("ehr-db-01", host, 0.5),
            ("ehr-db-01", url, 0.95),
        ]
    )
    assert {e.source for e in summary.evidence} == {summary.sightings[0].sighting.source}

    with world.sessions() as s:
        inputs = load_inputs(s, b)
    assert inputs.intel["CVE-2022-2120"].confidence == 0.6
    assert [e.matched for e in inputs.evidence if names[e.asset] == "vpn-gw-01"] == [
        "ipv4:185.220.101.0/24"
    ]
    # rebuilt, not added to: a second receive changes nothing
    again = receive(world.sessions, b)
    assert again[0] == 0
    with world.sessions() as s:
        assert s.scalar(select(func.count()).select_from(IntelSightingRecord)) == 2
    # the assessment explains a pinned asset by the indicator and its report
    document = _assess(world, b)
    reported = [
        step
        for service in document["services"]
        for path in service["top_paths"]
        for step in path["steps"]
        if step["action"] == "reported_compromise"
    ]
    assert reported
    assert all("in shared report" in step["evidence"] for step in reported)


def test_rule_weights() -> None:
    rule = IntelRule()
    assert [rule.of_incident(d) for d in ("successful-attempt", "failed-attempt", "blocked")] == [
        0.9,
        0.6,
        0.6,
    ]
    assert rule.of_incident("suspected") == rule.of_incident(None) == 0.5
    assert rule.of_incident("false-positive") is None
    assert rule.of_incident("low-value") is None
    assert rule.of_confidence(100, 0.5) == 0.95
    assert rule.of_confidence(30, 0.5) == 0.3
    assert rule.of_confidence(True, 0.5) == 0.5
    assert rule.of_confidence(101, 0.5) == 0.5
