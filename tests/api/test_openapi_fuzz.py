"""Schemathesis over the whole OpenAPI: no 5xx, and every response matches its schema.

One test per operation, each a bounded Hypothesis run (schemathesis strategies) against the
real app, with a logged-in security lead (second factor passed) of organisation 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import sessionmaker

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.models import Membership, User
from panacea.identity.roles import Role
from panacea.identity.sessions import SESSION_COOKIE, create_session
from panacea.inventory.organisation import Organisation

MAX_EXAMPLES = 12


def _operations() -> list[tuple[str, str]]:
    # Building the OpenAPI document needs no database: nothing is opened until a request.
    app = create_app(
        Settings(database_url="sqlite://", demo_mode=True),
        sessions=sessionmaker(create_db_engine("sqlite://")),
    )
    paths = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in sorted(paths.items()) for m in sorted(ops)]


@dataclass
class Target:
    schema: Any
    headers: dict[str, str]
    org_id: int


@pytest.fixture
def target(sqlite_url: str) -> Iterator[Target]:
    engine = create_db_engine(sqlite_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        org = Organisation(name="Fuzz Hospital")
        user = User(email="lead@fuzz.example", display_name="Lead")
        s.add_all([org, user])
        s.flush()
        s.add(Membership(user_id=user.id, organisation_id=org.id, role=Role.SECURITY_LEAD.value))
        row, token = create_session(s, user=user, assurance="mfa")
        headers = {"Cookie": f"{SESSION_COOKIE}={token}", "X-CSRF-Token": row.csrf_token}
        org_id = org.id
    app = create_app(Settings(database_url=sqlite_url, demo_mode=True), sessions=sessions)
    yield Target(schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), headers, org_id)
    engine.dispose()


@pytest.mark.parametrize(("method", "path"), _operations())
def test_operation_conforms_to_the_openapi(target: Target, method: str, path: str) -> None:
    operation = target.schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        if "org_id" in (case.path_parameters or {}):
            case.path_parameters["org_id"] = target.org_id
        # An opaque cursor that matches the schema's pattern is still refused when it decodes
        # to nothing we issued: "schema-valid data accepted" cannot hold for cursors.
        case.call_and_validate(headers=target.headers, excluded_checks=[positive_data_acceptance])

    run()
