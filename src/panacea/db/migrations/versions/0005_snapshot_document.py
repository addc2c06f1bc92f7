"""risk snapshot document

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The assessment's panacea.assessment/1 document, stored with each new snapshot; the
    # snapshots stored before this revision keep NULL (the dashboard recomputes theirs).
    with op.batch_alter_table("risk_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_snapshot", schema=None) as batch_op:
        batch_op.drop_column("document")
