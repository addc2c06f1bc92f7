"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from panacea.db.engine import create_db_engine
from panacea.db.models import Base


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
