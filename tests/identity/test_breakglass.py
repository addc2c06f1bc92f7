"""Break-glass service: who may break the glass, for how long, what is recorded, who reviews."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.api.deps import organisation_access
from panacea.config import Settings
from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry
from panacea.identity.breakglass import (
    STEP_UP_WINDOW,
    BreakGlassConflictError,
    BreakGlassError,
    NotEligibleError,
    NotRequesterError,
    ReasonRejectedError,
    SelfReviewError,
    SessionRequiredError,
    StepUpRequiredError,
    checked_reason,
    end_break_glass,
    pending_reviews,
    request_break_glass,
    review,
)
from panacea.identity.breakglass_alerting import alert_recipients, deliver_grant_alert
from panacea.identity.errors import NotFoundError, PermissionDeniedError
from panacea.identity.memberships import active_grant
from panacea.identity.models import BreakGlassGrant, Membership, SecurityPolicy, User
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import create_session
from panacea.inventory.organisation import Organisation
from tests.identity.alert_listeners import free_port, smtp_server, syslog_payload, syslog_receiver

REASON = "Ransomware on the PACS server, on-call lead unreachable, must isolate the VLAN now"


@dataclass
class Hospital:
    """One organisation with an eligible analyst, a security lead and an auditor."""

    sessions: sessionmaker[Session]
    org_id: int
    analyst: int
    lead: int
    auditor: int

    def principal(self, db: Session, user_id: int, *, mfa_at: datetime | None) -> Principal:
        user = db.get(User, user_id)
        assert user is not None
        row, _ = create_session(db, user=user, assurance="mfa" if mfa_at else "password")
        row.mfa_at = mfa_at
        db.flush()
        return Principal(
            user_id=user.id,
            email=user.email,
            via="session",
            session_id=row.id,
            assurance=row.assurance,
            client_address="10.1.2.3",
        )

    def access(self, db: Session, user_id: int, *, mfa_at: datetime | None = None) -> OrgAccess:
        """The caller's access as ``require`` resolves it (break-glass included)."""
        principal = self.principal(db, user_id, mfa_at=mfa_at or utcnow())
        return organisation_access(db, principal, self.org_id)

    def grant(self, *, at: datetime, reason: str = REASON) -> int:
        """The analyst breaks the glass at ``at`` (with a second factor a minute before)."""
        with self.sessions.begin() as db:
            access = self.access(db, self.analyst, mfa_at=at - timedelta(minutes=1))
            return request_break_glass(db, access=access, reason=reason, now=at).id


def _add_user(db: Session, org_id: int, email: str, role: Role, *, eligible: bool = False) -> int:
    user = User(email=email, display_name=email.split("@")[0].title())
    db.add(user)
    db.flush()
    db.add(
        Membership(
            user_id=user.id, organisation_id=org_id, role=role.value, break_glass_eligible=eligible
        )
    )
    db.flush()
    return user.id


@pytest.fixture
def hospital(factory: sessionmaker[Session]) -> Hospital:
    with factory.begin() as db:
        org = Organisation(name="St Elsewhere")
        db.add(org)
        db.flush()
        return Hospital(
            sessions=factory,
            org_id=org.id,
            analyst=_add_user(db, org.id, "ana@st.example", Role.ANALYST, eligible=True),
            lead=_add_user(db, org.id, "lead@st.example", Role.SECURITY_LEAD),
            auditor=_add_user(db, org.id, "audit@st.example", Role.AUDITOR),
        )


@pytest.fixture
def db(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
        session.rollback()


def _entries(db: Session, org_id: int, action: str) -> list[AuditEntry]:
    return list(
        db.execute(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == org_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        ).scalars()
    )


# --- requesting ----------------------------------------------------------------------------


def test_eligible_member_gets_the_default_role_for_four_hours_at_once(
    hospital: Hospital, db: Session
) -> None:
    now = utcnow()
    access = hospital.access(db, hospital.analyst)
    assert access.role is Role.ANALYST
    assert access.break_glass_grant_id is None

    grant = request_break_glass(db, access=access, reason=f"  {REASON}\n", now=now)

    assert grant.role == "security_lead"
    assert grant.reason == REASON  # whitespace folded
    assert grant.expires_at - grant.granted_at == timedelta(hours=4)
    assert grant.details["requester_email"] == "ana@st.example"
    assert grant.details["base_role"] == "analyst"
    [entry] = _entries(db, hospital.org_id, "break_glass.granted")
    assert entry.break_glass_grant_id == grant.id
    assert entry.details["reason"] == REASON
    assert entry.details["role"] == "security_lead"
    assert entry.actor == "ana@st.example"
    elevated = hospital.access(db, hospital.analyst)
    assert (elevated.role, elevated.base_role) == (Role.SECURITY_LEAD, Role.ANALYST)
    assert elevated.break_glass_grant_id == grant.id
    assert elevated.event("finding.accepted").break_glass_grant_id == grant.id


def test_the_policy_decides_role_and_duration(hospital: Hospital, db: Session) -> None:
    db.add(
        SecurityPolicy(
            organisation_id=hospital.org_id,
            mfa_roles=["admin"],
            break_glass_role="auditor",
            break_glass_hours=1.5,
        )
    )
    grant = request_break_glass(db, access=hospital.access(db, hospital.analyst), reason=REASON)
    assert grant.role == "auditor"
    assert grant.expires_at - grant.granted_at == timedelta(hours=1.5)


@pytest.mark.parametrize(
    ("role", "hours"), [("root", 4.0), ("admin", 4.0), ("auditor", 0.0), ("auditor", 25.0)]
)
def test_a_broken_policy_refuses_instead_of_granting(
    hospital: Hospital, db: Session, role: str, hours: float
) -> None:
    db.add(
        SecurityPolicy(
            organisation_id=hospital.org_id,
            mfa_roles=[],
            break_glass_role=role,
            break_glass_hours=hours,
        )
    )
    with pytest.raises(BreakGlassError, match="security policy of organisation"):
        request_break_glass(db, access=hospital.access(db, hospital.analyst), reason=REASON)
    assert db.execute(select(BreakGlassGrant)).first() is None


def test_only_members_designated_in_advance_may_break_the_glass(
    hospital: Hospital, db: Session
) -> None:
    access = hospital.access(db, hospital.auditor)
    with pytest.raises(NotEligibleError, match=r"audit@st\.example is not designated"):
        request_break_glass(db, access=access, reason=REASON)


def test_an_api_token_cannot_break_the_glass(hospital: Hospital, db: Session) -> None:
    token = Principal(
        user_id=hospital.analyst,
        email="ana@st.example",
        via="token",
        token_id=1,
        token_prefix="abcd1234",
        token_organisation_id=hospital.org_id,
        scopes=frozenset(Permission),
    )
    access = organisation_access(db, token, hospital.org_id)
    with pytest.raises(SessionRequiredError, match="not by an API token"):
        request_break_glass(db, access=access, reason=REASON)


@pytest.mark.parametrize(
    ("mfa_age", "allowed"),
    [
        (None, False),  # password only
        (STEP_UP_WINDOW + timedelta(seconds=1), False),  # second factor too old
        (-timedelta(minutes=1), False),  # "passed" in the future: not trusted
        (STEP_UP_WINDOW - timedelta(seconds=1), True),
        (timedelta(0), True),
    ],
)
def test_a_second_factor_of_the_last_five_minutes_is_required(
    hospital: Hospital, db: Session, mfa_age: timedelta | None, allowed: bool
) -> None:
    now = utcnow()
    principal = hospital.principal(
        db, hospital.analyst, mfa_at=None if mfa_age is None else now - mfa_age
    )
    access = organisation_access(db, principal, hospital.org_id)
    if allowed:
        assert request_break_glass(db, access=access, reason=REASON, now=now).id
    else:
        with pytest.raises(StepUpRequiredError, match="last 5 minutes"):
            request_break_glass(db, access=access, reason=REASON, now=now)


@pytest.mark.parametrize(
    "reason",
    [
        "",
        "emergency",
        "urgent urgent urgent",  # 20 characters, but one word three times
        "PACS is down",  # three words, too short
        "x" * 40,  # long enough, one word
        "12345 67890 12345 67890 12345",  # no word with a letter
        "need access to the PACS " * 100,  # over 2,000 characters
    ],
)
def test_a_reason_that_says_nothing_is_refused(reason: str) -> None:
    with pytest.raises(ReasonRejectedError, match="reason"):
        checked_reason(reason)


def test_a_reason_is_accepted_with_its_whitespace_folded() -> None:
    assert checked_reason("PACS down,\n\tneed   to isolate VLAN 12") == (
        "PACS down, need to isolate VLAN 12"
    )


def test_one_live_grant_at_a_time_and_nothing_to_elevate(hospital: Hospital, db: Session) -> None:
    request_break_glass(db, access=hospital.access(db, hospital.analyst), reason=REASON)
    with pytest.raises(BreakGlassConflictError, match="already active"):
        request_break_glass(db, access=hospital.access(db, hospital.analyst), reason=REASON)
    lead_membership = db.execute(
        select(Membership).where(Membership.user_id == hospital.lead)
    ).scalar_one()
    lead_membership.break_glass_eligible = True
    with pytest.raises(BreakGlassConflictError, match="already holds security_lead"):
        request_break_glass(db, access=hospital.access(db, hospital.lead), reason=REASON)


def test_concurrent_requests_give_one_grant(hospital: Hospital) -> None:
    """The second request waits for the first to commit, then sees its grant."""
    with hospital.sessions.begin() as setup:
        principals = [hospital.principal(setup, hospital.analyst, mfa_at=utcnow()) for _ in "ab"]
    first, second = hospital.sessions(), hospital.sessions()
    outcome: list[object] = []

    def run_second() -> None:
        access = organisation_access(second, principals[1], hospital.org_id)
        try:
            outcome.append(request_break_glass(second, access=access, reason=REASON))
        except BreakGlassError as e:
            outcome.append(e)

    try:
        access = organisation_access(first, principals[0], hospital.org_id)
        request_break_glass(first, access=access, reason=REASON)
        worker = threading.Thread(target=run_second)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "the second request did not wait for the first"
        first.commit()
        worker.join(timeout=15)
        assert not worker.is_alive()
    finally:
        second.rollback()
        first.close()
        second.close()
    assert len(outcome) == 1, outcome
    assert isinstance(outcome[0], BreakGlassConflictError), outcome
    with hospital.sessions() as db:
        assert len(db.execute(select(BreakGlassGrant)).all()) == 1


# --- expiry and ending -----------------------------------------------------------------------


def test_the_grant_lapses_after_the_configured_hours(hospital: Hospital, db: Session) -> None:
    started = utcnow() - timedelta(hours=4, seconds=1)
    grant_id = hospital.grant(at=started)
    grant = db.get(BreakGlassGrant, grant_id)
    assert grant is not None
    one_second_before = started + timedelta(hours=4) - timedelta(seconds=1)
    assert active_grant(
        db, user_id=hospital.analyst, organisation_id=hospital.org_id, now=one_second_before
    )
    assert (
        active_grant(
            db,
            user_id=hospital.analyst,
            organisation_id=hospital.org_id,
            now=started + timedelta(hours=4),
        )
        is None
    )
    # At the real clock (4 h and 1 s later) the elevation no longer applies to anything.
    access = hospital.access(db, hospital.analyst)
    assert (access.role, access.break_glass_grant_id) == (Role.ANALYST, None)
    assert [g.id for g in db.execute(pending_reviews(hospital.org_id)).scalars()] == [grant_id]


def test_a_grant_still_within_its_hours_elevates(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow() - timedelta(hours=3, minutes=59))
    access = hospital.access(db, hospital.analyst)
    assert (access.role, access.break_glass_grant_id) == (Role.SECURITY_LEAD, grant_id)
    assert list(db.execute(pending_reviews(hospital.org_id)).scalars()) == []


def test_the_requester_ends_early_and_the_end_is_marked(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow())
    with pytest.raises(NotRequesterError):
        end_break_glass(db, access=hospital.access(db, hospital.lead), grant_id=grant_id)
    elevated = hospital.access(db, hospital.analyst)
    grant = end_break_glass(db, access=elevated, grant_id=grant_id)
    assert grant.ended_at is not None
    [entry] = _entries(db, hospital.org_id, "break_glass.ended")
    assert entry.break_glass_grant_id == grant_id
    assert 0 < entry.details["unused_seconds"] <= 4 * 3600
    assert hospital.access(db, hospital.analyst).role is Role.ANALYST
    with pytest.raises(BreakGlassConflictError, match="already ended"):
        end_break_glass(db, access=elevated, grant_id=grant_id)


def test_another_organisations_grant_is_not_found(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow())
    other = Organisation(name="Other Hospital")
    db.add(other)
    db.flush()
    db.add(Membership(user_id=hospital.auditor, organisation_id=other.id, role="auditor"))
    db.flush()
    principal = hospital.principal(db, hospital.auditor, mfa_at=utcnow())
    foreign = organisation_access(db, principal, other.id)
    with pytest.raises(NotFoundError, match=f"no break-glass grant {grant_id} in organisation"):
        review(db, access=foreign, grant_id=grant_id, outcome="justified")


# --- review ----------------------------------------------------------------------------------


def test_review_by_someone_else_is_stored_and_audited(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow() - timedelta(hours=5))
    with pytest.raises(SelfReviewError, match="someone else"):
        review(
            db, access=hospital.access(db, hospital.analyst), grant_id=grant_id, outcome="justified"
        )
    auditor = hospital.access(db, hospital.auditor)
    with pytest.raises(ReasonRejectedError, match="unjustified"):
        review(db, access=auditor, grant_id=grant_id, outcome="unjustified", notes="  ")
    with pytest.raises(ReasonRejectedError, match="outcome"):
        review(db, access=auditor, grant_id=grant_id, outcome="fine")

    grant = review(
        db, access=auditor, grant_id=grant_id, outcome="unjustified", notes="No incident logged"
    )

    assert (grant.review_outcome, grant.review_notes) == ("unjustified", "No incident logged")
    assert grant.reviewed_by_id == hospital.auditor
    assert grant.reviewed_at is not None
    [entry] = _entries(db, hospital.org_id, "break_glass.reviewed")
    assert entry.actor_user_id == hospital.auditor
    assert entry.details["review_outcome"] == "unjustified"
    assert entry.details["requester_user_id"] == hospital.analyst
    assert list(db.execute(pending_reviews(hospital.org_id)).scalars()) == []
    with pytest.raises(BreakGlassConflictError, match="already reviewed"):
        review(
            db, access=hospital.access(db, hospital.lead), grant_id=grant_id, outcome="justified"
        )


def test_a_live_grant_is_reviewed_only_once_it_has_ended(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow())
    lead = hospital.access(db, hospital.lead)
    with pytest.raises(BreakGlassConflictError, match="still active"):
        review(db, access=lead, grant_id=grant_id, outcome="justified")
    end_break_glass(db, access=hospital.access(db, hospital.analyst), grant_id=grant_id)
    assert review(db, access=lead, grant_id=grant_id, outcome="justified").review_outcome


def test_reviewing_does_not_rest_on_an_elevation(hospital: Hospital, db: Session) -> None:
    """An analyst elevated to security_lead may not review a colleague's grant."""
    with hospital.sessions.begin() as setup:
        colleague = _add_user(setup, hospital.org_id, "bob@st.example", Role.ANALYST, eligible=True)
    past = utcnow() - timedelta(hours=6)
    with hospital.sessions.begin() as setup:
        access = hospital.access(setup, colleague, mfa_at=past)
        old_grant = request_break_glass(setup, access=access, reason=REASON, now=past).id
    hospital.grant(at=utcnow())
    elevated = hospital.access(db, hospital.analyst)
    assert elevated.role is Role.SECURITY_LEAD
    with pytest.raises(PermissionDeniedError, match="without elevation"):
        review(db, access=elevated, grant_id=old_grant, outcome="justified")


# --- alerts ----------------------------------------------------------------------------------


def _settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


def test_alert_reaches_security_leads_by_email_and_syslog(hospital: Hospital, db: Session) -> None:
    with hospital.sessions.begin() as setup:
        setup.add(
            SecurityPolicy(
                organisation_id=hospital.org_id, mfa_roles=[], alert_email="SOC@st.example"
            )
        )
        gone = _add_user(setup, hospital.org_id, "gone@st.example", Role.SECURITY_LEAD)
        user = setup.get(User, gone)
        assert user is not None
        user.disabled = True
    grant_id = hospital.grant(at=utcnow())
    with smtp_server() as (mail, smtp_port), syslog_receiver() as (syslog, syslog_port):
        settings = _settings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_sender="panacea@st.example",
            syslog_host="127.0.0.1",
            syslog_port=syslog_port,
        )
        outcomes = deliver_grant_alert(hospital.sessions, settings, grant_id)
        datagram = syslog.recv(65_535)

    assert [(o.channel, o.status) for o in outcomes] == [("email", "sent"), ("syslog", "sent")]
    [received] = mail.received
    assert received.rcpt_tos == ["lead@st.example", "SOC@st.example"]  # not the disabled lead
    assert received.mail_from == "panacea@st.example"
    message = received.message
    assert message["Subject"] == (
        "[PANACEA] Break-glass: ana@st.example elevated to security_lead in St Elsewhere"
    )
    body = message.get_content()
    grant = db.get(BreakGlassGrant, grant_id)
    assert grant is not None
    for expected in (
        "Ana <ana@st.example>",
        REASON,
        f"Expires at:   {grant.expires_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Organisation: St Elsewhere (id {hospital.org_id})",
        "10.1.2.3",
    ):
        assert expected in body
    header, payload = syslog_payload(datagram)
    assert header.startswith("<81>1 ")  # authpriv (10) * 8 + alert (1)
    assert " BREAK_GLASS " in header
    assert payload["grant_id"] == grant_id
    assert payload["reason"] == REASON
    assert payload["expires_at"] == grant.expires_at.isoformat()
    db.refresh(grant)
    assert [a["status"] for a in grant.details["alerts"]] == ["sent", "sent"]
    [entry] = _entries(db, hospital.org_id, "break_glass.alert_sent")
    assert entry.break_glass_grant_id == grant_id
    assert entry.actor == "panacea"


def test_a_dead_mail_server_is_recorded_and_the_grant_stands(
    hospital: Hospital, db: Session
) -> None:
    grant_id = hospital.grant(at=utcnow())
    settings = _settings(smtp_host="127.0.0.1", smtp_port=free_port())  # nobody listens

    outcomes = deliver_grant_alert(hospital.sessions, settings, grant_id)

    assert [(o.channel, o.status) for o in outcomes] == [("email", "failed"), ("syslog", "skipped")]
    assert "ConnectionRefusedError" in outcomes[0].detail
    grant = db.get(BreakGlassGrant, grant_id)
    assert grant is not None
    assert grant.details["alerts"][0]["status"] == "failed"
    [entry] = _entries(db, hospital.org_id, "break_glass.alert_failed")
    assert entry.outcome == "failure"
    assert entry.break_glass_grant_id == grant_id
    assert hospital.access(db, hospital.analyst).break_glass_grant_id == grant_id


def test_no_channel_configured_is_an_audited_failure(hospital: Hospital, db: Session) -> None:
    grant_id = hospital.grant(at=utcnow())
    outcomes = deliver_grant_alert(hospital.sessions, _settings(), grant_id)
    assert {o.status for o in outcomes} == {"skipped"}
    assert _entries(db, hospital.org_id, "break_glass.alert_failed")


def test_recipients_are_the_security_leads_and_the_alert_address(
    hospital: Hospital, db: Session
) -> None:
    assert alert_recipients(db, hospital.org_id) == ["lead@st.example"]
    db.add(
        SecurityPolicy(organisation_id=hospital.org_id, mfa_roles=[], alert_email="LEAD@st.example")
    )
    db.flush()
    assert alert_recipients(db, hospital.org_id) == ["LEAD@st.example"]  # no duplicate
