"""finding: an index that covers what the risk model loads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = [
    "organisation_id",
    "status",
    "asset_id",
    "endpoint_id",
    "component_id",
    "cve_id",
    "confidence",
    "id",
]


def upgrade() -> None:
    # risk.inputs reads these columns of every exploitable finding of an organisation: from
    # this index alone, without the wide rows (see panacea.findings.models.Finding).
    op.create_index("ix_finding_risk_columns", "finding", _COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_finding_risk_columns", table_name="finding")
