"""Routes of break-glass: request, see the active grant, end it early, review afterwards.

Requesting needs only membership (``organisation:read``, which every role holds): who may
break the glass is decided by ``Membership.break_glass_eligible`` in the service, not by
role. Reviewing needs ``break_glass:review``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request, Response

from panacea.api.context import app_context
from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.api.problems import ProblemError
from panacea.db.base import utcnow
from panacea.identity.breakglass import (
    BREAK_GLASS_HEADER,
    BreakGlassConflictError,
    BreakGlassError,
    NotEligibleError,
    NotRequesterError,
    ReasonRejectedError,
    SelfReviewError,
    SessionRequiredError,
    StepUpRequiredError,
    break_glass_header,
    end_break_glass,
    pending_reviews,
    record_refusal,
    request_break_glass,
    review,
)
from panacea.identity.breakglass_alerting import deliver_grant_alert
from panacea.identity.breakglass_schemas import BreakGlassRequest, GrantOut, ReviewIn
from panacea.identity.memberships import active_grant
from panacea.identity.models import BreakGlassGrant
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission

router = APIRouter(prefix="/orgs/{org_id}/break-glass", tags=["break-glass"])

Member = Annotated[OrgAccess, Depends(require(Permission.ORGANISATION_READ))]
Reviewer = Annotated[OrgAccess, Depends(require(Permission.BREAK_GLASS_REVIEW))]
GrantId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Break-glass grant id")]

# Subclasses before their bases (looked up along the exception's MRO).
_PROBLEMS: dict[type[BreakGlassError], tuple[int, str]] = {
    SessionRequiredError: (403, "break-glass-session-required"),
    NotEligibleError: (403, "break-glass-not-eligible"),
    StepUpRequiredError: (403, "mfa-step-up-required"),
    NotRequesterError: (403, "break-glass-not-requester"),
    SelfReviewError: (403, "break-glass-self-review"),
    ReasonRejectedError: (422, "break-glass-reason-rejected"),
    BreakGlassConflictError: (409, "conflict"),
    BreakGlassError: (409, "break-glass-policy-invalid"),
}


def _problem(error: BreakGlassError) -> ProblemError:
    for kind in type(error).__mro__:
        if kind in _PROBLEMS:
            status, slug = _PROBLEMS[kind]
            return ProblemError(status, str(error), slug=slug)
    raise AssertionError(f"unmapped {type(error).__name__}")  # pragma: no cover


@router.post(
    "",
    status_code=201,
    response_model=GrantOut,
    summary="Break the glass: the organisation's emergency role, at once, for a limited time",
)
def request_grant(
    body: BreakGlassRequest,
    access: Member,
    db: Db,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> GrantOut:
    try:
        grant = request_break_glass(db, access=access, reason=body.reason)
    except BreakGlassError as e:
        record_refusal(db, access=access, reason=body.reason, error=e)
        # The request's transaction is rolled back when the route raises; the refusal's
        # record must survive it.
        db.commit()
        raise _problem(e) from e
    context = app_context(request)
    # Background tasks run after the response, hence after the commit: an alert is only
    # ever sent for a grant that exists, and a slow or dead mail relay never delays it.
    background.add_task(deliver_grant_alert, context.sessions, context.settings, grant.id)
    response.headers[BREAK_GLASS_HEADER] = break_glass_header(grant)
    return GrantOut.of(grant, now=utcnow())


@router.get(
    "/active",
    response_model=GrantOut | None,
    summary="The caller's active grant (null when not elevated)",
)
def active_grant_of_caller(access: Member, db: Db) -> GrantOut | None:
    grant = active_grant(
        db, user_id=access.principal.user_id, organisation_id=access.organisation_id
    )
    return GrantOut.of(grant, now=utcnow()) if grant is not None else None


@router.post("/{grant_id}/end", response_model=GrantOut, summary="End one's own grant early")
def end_grant(grant_id: GrantId, access: Member, db: Db, response: Response) -> GrantOut:
    try:
        grant = end_break_glass(db, access=access, grant_id=grant_id)
    except BreakGlassError as e:
        raise _problem(e) from e
    if access.break_glass_grant_id == grant.id:
        # require() flagged this response as elevated; from now on it no longer is.
        del response.headers[BREAK_GLASS_HEADER]
    return GrantOut.of(grant, now=utcnow())


@router.get(
    "/reviews",
    response_model=Page[GrantOut],
    summary="Grants that ended or expired and await review",
)
def review_queue(
    access: Reviewer, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[GrantOut]:
    now = utcnow()
    return paginate(
        db,
        pending_reviews(access.organisation_id, now=now),
        BreakGlassGrant.id,
        cursor=cursor,
        limit=limit,
        convert=lambda grant: GrantOut.of(grant, now=now),
    )


@router.post(
    "/{grant_id}/review",
    response_model=GrantOut,
    summary="Record whether an ended grant was justified (not by its requester)",
)
def review_grant(grant_id: GrantId, body: ReviewIn, access: Reviewer, db: Db) -> GrantOut:
    try:
        grant = review(db, access=access, grant_id=grant_id, outcome=body.outcome, notes=body.notes)
    except BreakGlassError as e:
        raise _problem(e) from e
    return GrantOut.of(grant, now=utcnow())
