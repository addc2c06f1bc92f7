"""Bodies of the break-glass routes (pydantic at the API boundary only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from panacea.identity.breakglass import MAX_NOTES_CHARS, MAX_REASON_CHARS, is_live
from panacea.identity.models import BreakGlassGrant


class BreakGlassRequest(BaseModel):
    """A request for emergency elevation. The service decides whether the reason says enough."""

    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS * 2)


class ReviewIn(BaseModel):
    """The verdict on an ended grant; notes are required for ``unjustified``."""

    outcome: Literal["justified", "unjustified"]
    notes: str = Field(default="", max_length=MAX_NOTES_CHARS * 2)


class AlertOut(BaseModel):
    channel: str
    status: str
    detail: str


class GrantOut(BaseModel):
    """A break-glass grant as the UI flags it and the review queue lists it."""

    id: int
    organisation_id: int
    user_id: int
    requester_email: str
    role: str
    base_role: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    active: bool
    reviewed_by_id: int | None
    reviewed_at: datetime | None
    review_outcome: str | None
    review_notes: str
    # How the alert to the security leads fared (empty until delivery was attempted).
    alerts: list[AlertOut]

    @classmethod
    def of(cls, grant: BreakGlassGrant, *, now: datetime) -> GrantOut:
        details: dict[str, Any] = grant.details or {}
        return cls(
            id=grant.id,
            organisation_id=grant.organisation_id,
            user_id=grant.user_id,
            requester_email=str(details.get("requester_email", "")),
            role=grant.role,
            base_role=str(details.get("base_role", "")),
            reason=grant.reason,
            granted_at=grant.granted_at,
            expires_at=grant.expires_at,
            ended_at=grant.ended_at,
            active=is_live(grant, now),
            reviewed_by_id=grant.reviewed_by_id,
            reviewed_at=grant.reviewed_at,
            review_outcome=grant.review_outcome,
            review_notes=grant.review_notes,
            alerts=[AlertOut.model_validate(a) for a in details.get("alerts", [])],
        )
