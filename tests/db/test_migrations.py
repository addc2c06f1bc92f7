"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from panacea.db.base import UTCDateTime, utcnow
from panacea.db.engine import alembic_config, create_db_engine
from panacea.db.models import Base
from panacea.inventory.organisation import Organisation
from panacea.risk.snapshot import latest_snapshot, stored_document


def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_every_hospital_table_carries_organisation_id() -> None:
    public = {
        "organisation",
        "vulnerability",
        "vulnerable_product",
        "feed_state",
        "alembic_version",
    }
    # A person may belong to several hospitals: accounts, their credentials and sessions, login
    # throttling, the audit chains' heads and checkpoints (keyed by chain), and the data keys of
    # the envelope encryption belong to the platform, not to one hospital.
    platform = {
        "user_account",
        "user_session",
        "totp_credential",
        "recovery_code",
        "passkey_credential",
        "oidc_identity",
        "login_throttle",
        "address_failure",
        "audit_head",
        "audit_checkpoint",
        "data_key",
        # Public keys of remote publishers, registered once for the whole platform.
        "sharing_peer_key",
        # Owned through their collection (taxii_collection carries organisation_id); every
        # query reaches objects through a collection the caller may read.
        "taxii_object",
    }
    public |= platform
    for table in Base.metadata.sorted_tables:
        if table.name in public:
            continue
        assert "organisation_id" in table.columns, table.name


def test_snapshots_stored_before_0005_read_back_without_a_document(db_url: str) -> None:
    engine = create_db_engine(db_url)
    config = alembic_config(engine)
    # The snapshot table as revision 0004 left it (no document column).
    old_snapshot = sa.table(
        "risk_snapshot",
        sa.column("organisation_id", sa.Integer()),
        sa.column("generated_at", UTCDateTime(timezone=True)),
        sa.column("model_version", sa.String()),
        sa.column("entries", sa.JSON()),
        sa.column("trigger", sa.String()),
        sa.column("total_expected_loss", sa.Float()),
        sa.column("services", sa.JSON()),
    )
    figures = {"ehr": {"probability": 0.5, "risk_class": "high", "expected_loss": 10.0}}
    try:
        command.downgrade(config, "0004")
        with Session(engine) as s, s.begin():
            organisation = Organisation(name="Hospital A")
            s.add(organisation)
            s.flush()
            org_id = organisation.id
            s.execute(
                sa.insert(old_snapshot).values(
                    organisation_id=org_id,
                    generated_at=utcnow(),
                    model_version="panacea-risk/1",
                    entries=["internet"],
                    trigger="assessment",
                    total_expected_loss=10.0,
                    services=figures,
                )
            )
        command.upgrade(config, "head")
        with Session(engine) as s:
            snapshot = latest_snapshot(s, org_id)
            assert snapshot is not None
            assert snapshot.services == figures
            assert snapshot.document is None
            assert stored_document(s, org_id, snapshot.id) is None
        # And back: 0005's downgrade drops the column, keeping the figures.
        command.downgrade(config, "0004")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("risk_snapshot")}
        assert "document" not in columns
        assert "services" in columns
    finally:
        command.upgrade(config, "head")  # the PostgreSQL schema is shared by the session
        engine.dispose()
