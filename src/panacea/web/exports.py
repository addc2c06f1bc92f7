"""Downloads of the dashboard: ``GET /export/plans/{plan_id}.csv`` (a stored plan as CSV).

A plain HTTP route beside the pages (NiceGUI's FastAPI app, reached through the dashboard's
dispatcher; never in the API's OpenAPI document). It authenticates exactly as a page does (the
session cookie, the organisation of ``?org=``, the second factor the role needs, the
permission matrix: ``plans:read``, as ``GET /api/v1/orgs/{id}/risk/plans/{plan_id}``) and
records the export in the audit log (``report.exported``) in the transaction that reads the
plan. The board report needs no route of its own: the page links to the API's
``GET /api/v1/orgs/{id}/risk/report?format=html``, which the same cookie authenticates.

Without a session the answer is a redirect (303) to the login page, which comes back here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from nicegui import app

from panacea.identity.roles import Permission
from panacea.web.callers import WebSessionEndedError
from panacea.web.plan_data import export_plan_csv
from panacea.web.shell import (
    PageForbiddenError,
    PageRedirectError,
    login_location,
    require_page_permission,
)

PLAN_CSV_PATH = "/export/plans/{plan_id}.csv"


@app.get(PLAN_CSV_PATH, include_in_schema=False, response_model=None)
def plan_csv_download(
    request: Request,
    plan_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    budget: Annotated[float | None, Query(ge=0.0, le=1e12)] = None,
) -> Response:
    """The stored plan ``plan_id`` as CSV (only the steps within ``budget`` if given)."""
    try:
        caller = require_page_permission(request, Permission.PLANS_READ)
    except PageRedirectError as e:
        return RedirectResponse(e.location, status_code=303)
    except PageForbiddenError as e:
        return PlainTextResponse(str(e), status_code=403)
    try:
        with caller.transaction(Permission.PLANS_READ) as db:
            text = export_plan_csv(db, caller.access, plan_id, budget)
    except WebSessionEndedError:  # ended (or demoted) since the line above
        return RedirectResponse(login_location(request, expired=True), status_code=303)
    if text is None:
        return PlainTextResponse(
            f"no plan {plan_id} in {caller.organisation_name}", status_code=404
        )
    filename = f"panacea-plan-{caller.organisation_id}-{plan_id}.csv"
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
