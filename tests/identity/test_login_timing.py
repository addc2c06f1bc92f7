"""An unknown e-mail costs the time of an argon2 verify (production parameters, no shortcut)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity import authentication
from panacea.identity.authentication import Attempt
from panacea.identity.errors import AuthenticationError
from panacea.identity.models import User
from panacea.identity.passwords import PRODUCTION_PARAMETERS, active_parameters, set_password

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


def test_unknown_account_takes_as_long_as_a_wrong_password(
    sqlite_factory: sessionmaker[Session],
) -> None:
    assert active_parameters() == PRODUCTION_PARAMETERS
    with sqlite_factory.begin() as s:
        user = User(email="known@stmary.example", display_name="Known")
        s.add(user)
        s.flush()
        set_password(s, user, "grey heron over the river")

    def duration(email: str, i: int) -> float:
        # Each attempt from its own address, an hour apart: no throttle interferes.
        start = time.perf_counter()
        with pytest.raises(AuthenticationError), sqlite_factory.begin() as s:
            authentication.login(
                s,
                sqlite_factory,
                email=email,
                password="grey heron over the lake",
                attempt=Attempt(client_address=f"192.0.2.{100 + i}"),
                now=T0 + timedelta(hours=i),
            )
        return time.perf_counter() - start

    duration("warm-up@stmary.example", 9)  # builds the dummy hash once
    known = statistics.median(duration("known@stmary.example", i) for i in range(3))
    unknown = statistics.median(duration("nobody@stmary.example", i) for i in range(3, 6))
    # A verify with 64 MiB, t=3 takes tens of ms at least; skipping it would take ~1 ms.
    assert known > 0.03
    assert unknown > 0.6 * known, f"unknown {unknown:.3f} s vs known {known:.3f} s"
