"""Exports: JSON lines that re-verify without the database, FHIR R4 AuditEvent resources."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.audit import GENESIS_HASH, AuditEvent, append, entry_digest
from panacea.identity.audit_export import (
    AuditFilter,
    ExportFormat,
    export_lines,
    fhir_audit_event,
)
from panacea.identity.audit_records import AuditEntry
from tests.identity.audit_helpers import ORG, build_chain, event

# FHIR R4 (4.0.1) AuditEvent: the value sets bound with "required" strength and the instant
# datatype's pattern. fhir.resources ships R4B, whose AuditEvent is unchanged from R4; these
# checks hold the R4 constraints the model does not enforce.
R4_ACTIONS = {"C", "R", "U", "D", "E"}
R4_OUTCOMES = {"0", "4", "8", "12"}
R4_NETWORK_TYPES = {"1", "2", "3", "4", "5"}
INSTANT = re.compile(
    r"^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$"
)
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _add(factory: sessionmaker[Session], *events: AuditEvent, at: datetime | None = None) -> None:
    with factory.begin() as session:
        for item in events:
            append(session, item, at=at)


def _event(action: str, **changes: Any) -> AuditEvent:
    base = {**event(1).__dict__, "action": action}
    return AuditEvent(**{**base, **changes})


def _lines(
    factory: sessionmaker[Session], fmt: ExportFormat, wanted: AuditFilter | None = None
) -> list[dict[str, Any]]:
    with factory() as session:
        return [json.loads(line) for line in export_lines(session, ORG, fmt, wanted)]


def assert_r4_audit_event(resource: dict[str, Any]) -> None:
    """The R4 AuditEvent cardinalities and required bindings, then the model's validation."""
    assert resource["resourceType"] == "AuditEvent"
    assert FHIR_ID.match(resource["id"])
    assert {"system", "code"} <= set(resource["type"])  # type 1..1 Coding
    assert INSTANT.match(resource["recorded"])  # recorded 1..1 instant
    assert resource.get("action", "E") in R4_ACTIONS
    assert resource.get("outcome", "0") in R4_OUTCOMES
    assert len(resource["agent"]) >= 1  # agent 1..*
    for agent in resource["agent"]:
        assert isinstance(agent["requestor"], bool)  # requestor 1..1
        if "network" in agent:
            assert agent["network"]["type"] in R4_NETWORK_TYPES
    assert resource["source"]["observer"]  # source 1..1, observer 1..1
    for entity in resource.get("entity", []):
        for detail in entity.get("detail", []):
            assert detail["type"]  # detail.type 1..1
            assert "valueString" in detail or "valueBase64Binary" in detail
    FhirAuditEvent.model_validate(resource)


def test_jsonl_export_reverifies_without_the_database(factory: sessionmaker[Session]) -> None:
    build_chain(factory, 5)
    build_chain(factory, 2, organisation_id=ORG + 1)  # another organisation: not exported
    records = _lines(factory, ExportFormat.JSONL)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    previous = GENESIS_HASH
    for record in records:
        fields = {k: v for k, v in record.items() if k not in {"id", "prev_hash", "hash"}}
        assert record["prev_hash"] == previous
        assert entry_digest(previous, fields) == record["hash"]
        previous = record["hash"]


def test_fhir_export_is_one_valid_r4_audit_event_per_entry(factory: sessionmaker[Session]) -> None:
    _add(
        factory,
        _event("auth.login", outcome="failure", target="user:3"),
        _event("asset.updated", target="asset:12", break_glass_grant_id=4),
        _event("membership.removed", client_address="", details={}),
        _event("report.exported", actor_user_id=None, actor=""),
        _event("import.completed"),
    )
    resources = _lines(factory, ExportFormat.FHIR)
    assert len(resources) == 5
    for resource in resources:
        assert_r4_audit_event(resource)
    login, change, removal, export, imported = resources
    assert login["type"]["code"] == "110114"  # DCM User Authentication
    assert [s["code"] for s in login["subtype"]] == ["110122", "auth.login"]
    assert (login["action"], login["outcome"], login["outcomeDesc"]) == ("E", "4", "failure")
    assert login["agent"][0]["network"] == {"address": "127.0.0.1", "type": "2"}
    assert login["agent"][0]["who"]["identifier"] == {"system": "urn:panacea:user", "value": "3"}
    assert (change["type"]["code"], change["action"], change["outcome"]) == ("110100", "U", "0")
    assert change["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert change["entity"][0]["what"]["identifier"]["value"] == "asset:12"
    details = {d["type"]: d["valueString"] for d in change["entity"][0]["detail"]}
    assert details["panacea.seq"] == "2"
    assert details["panacea.break_glass_grant"] == "4"
    assert json.loads(details["panacea.details"])["status"] == "mitigated"
    assert (removal["type"]["code"], removal["subtype"][0]["code"], removal["action"]) == (
        "110113",
        "110136",
        "D",
    )
    assert "network" not in removal["agent"][0]
    assert (export["type"]["code"], export["action"]) == ("110106", "R")
    assert export["agent"][0]["who"] == {"display": "unknown"}
    assert imported["type"]["code"] == "110107"
    assert {r["id"] for r in resources} == {f"org-{ORG}-{n}" for n in range(1, 6)}


def test_a_resource_missing_an_r4_required_field_fails_the_check(
    factory: sessionmaker[Session],
) -> None:
    # The validation above can fail: without an agent, or with a bad outcome, it does.
    _add(factory, _event("auth.login"))
    with factory() as session:
        entry = session.execute(select(AuditEntry)).scalar_one()
        resource = fhir_audit_event(entry)
    for broken in (
        {**resource, "agent": []},
        {**resource, "outcome": "1"},
        {**resource, "type": None},
    ):
        with pytest.raises((AssertionError, TypeError, ValueError)):
            assert_r4_audit_event(broken)


def test_filters_select_what_is_exported(factory: sessionmaker[Session]) -> None:
    early = datetime(2025, 1, 1, tzinfo=UTC)
    _add(factory, _event("auth.login"), _event("auth.logout"), at=early)
    _add(factory, _event("asset.updated", break_glass_grant_id=9, outcome="failure"))

    def actions(wanted: AuditFilter) -> list[str]:
        return [r["action"] for r in _lines(factory, ExportFormat.JSONL, wanted)]

    assert actions(AuditFilter(action="auth.*")) == ["auth.login", "auth.logout"]
    assert actions(AuditFilter(action="auth")) == []
    assert actions(AuditFilter(action="auth.logout")) == ["auth.logout"]
    assert actions(AuditFilter(until=early + timedelta(seconds=1))) == ["auth.login", "auth.logout"]
    assert actions(AuditFilter(since=early + timedelta(days=1))) == ["asset.updated"]
    assert actions(AuditFilter(break_glass=True)) == ["asset.updated"]
    assert actions(AuditFilter(break_glass=False)) == ["auth.login", "auth.logout"]
    assert actions(AuditFilter(outcome="failure")) == ["asset.updated"]
    assert actions(AuditFilter(actor_user_id=4)) == []
    assert actions(AuditFilter(target="finding:1")) == [
        "auth.login",
        "auth.logout",
        "asset.updated",
    ]
    assert AuditFilter(action="auth.*", since=early).as_json() == {
        "action": "auth.*",
        "since": "2025-01-01T00:00:00.000000Z",
    }


def test_an_action_prefix_with_like_wildcards_matches_literally(
    factory: sessionmaker[Session],
) -> None:
    _add(factory, _event("auth_x.login"), _event("authxlogin"))
    assert _lines(factory, ExportFormat.JSONL, AuditFilter(action="auth_.*")) == []


def test_a_long_export_comes_in_batches(factory: sessionmaker[Session]) -> None:
    _add(factory, *[_event("asset.updated", target=f"asset:{n}") for n in range(1203)])
    records = _lines(factory, ExportFormat.JSONL)
    assert [r["seq"] for r in records] == list(range(1, 1204))
