"""Status resources of Add Objects requests (TAXII 2.1 section 4.3).

Add Objects is processed while the request is open, so its status is ``complete`` when the
client first sees it; the resource stays readable for polling clients. A status is shown only
to tokens of the organisation that made the request.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from panacea.sharing.errors import TaxiiError
from panacea.sharing.taxii.collections import TaxiiCaller
from panacea.sharing.taxii.models import TaxiiStatus


def get_status(session: Session, caller: TaxiiCaller, status_id: str) -> TaxiiStatus:
    """The status ``status_id`` of the caller's organisation. Raises TaxiiError(404)."""
    status = session.get(TaxiiStatus, status_id[:36])
    visible = caller.can_read or caller.can_write
    if status is None or not visible or status.organisation_id != caller.access.organisation_id:
        raise TaxiiError(404, "Not Found", f"no status {status_id}")
    return status
