"""Tables of the TAXII 2.1 server: collections, the objects they hold, status resources.

Objects are stored one version a row, keyed by a monotonically increasing integer ``id`` (the
keyset key of every page: ``WHERE collection_id = ? AND id > ? ORDER BY id LIMIT n``, an index
range scan whose cost does not grow with the position in the collection). ``date_added`` is
strictly increasing within a collection, in the same order as ``id`` (writers lock the
collection row and bump a clash by one microsecond; see :mod:`panacea.sharing.taxii.ingest`),
so a client that polls with ``added_after`` set to the last ``date_added`` it saw never misses
an object.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow

# SQLite makes only an INTEGER PRIMARY KEY the rowid (auto-increment); PostgreSQL gets BIGINT.
KeyType = BigInteger().with_variant(Integer(), "sqlite")


class TaxiiCollection(OrgOwned, Base):
    """A TAXII collection, owned by an organisation.

    ``sharing_group_id`` (nullable) names the sharing group whose members also read and write
    it; :func:`panacea.sharing.taxii.collections.readable_collections` is where that audience
    is resolved. A deleted group leaves the collection to its owner alone.

    ``last_date_added`` is the collection's clock: ingest locks this row and reads it, so that
    date_added never repeats or goes back.
    """

    __tablename__ = "taxii_collection"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The TAXII collection id (a UUID, section 5.2.1): what URLs and clients use.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    sharing_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("sharing_group.id", ondelete="SET NULL"), default=None, index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    alias: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_date_added: Mapped[datetime | None] = mapped_column(default=None)


class TaxiiObject(Base):
    """One version of one STIX object in one collection, stored as the JSON served."""

    __tablename__ = "taxii_object"
    __table_args__ = (
        UniqueConstraint("collection_id", "date_added", name="uq_taxii_object_date_added"),
        UniqueConstraint(
            "collection_id", "stix_id", "version_at", name="uq_taxii_object_stix_version"
        ),
        Index("ix_taxii_object_collection_key", "collection_id", "id"),
        Index("ix_taxii_object_collection_type", "collection_id", "stix_type", "id"),
    )

    id: Mapped[int] = mapped_column(KeyType, primary_key=True, autoincrement=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="CASCADE")
    )
    stix_id: Mapped[str] = mapped_column(String(300))
    stix_type: Mapped[str] = mapped_column(String(250))
    spec_version: Mapped[str] = mapped_column(String(8))
    # The version as the object writes it (modified, else created; date_added for
    # observables) and as an instant, for comparisons and match[version]=<timestamp>.
    version: Mapped[str] = mapped_column(String(40))
    version_at: Mapped[datetime]
    date_added: Mapped[datetime]
    is_first: Mapped[bool] = mapped_column(Boolean)
    is_latest: Mapped[bool] = mapped_column(Boolean)
    # Who published it (created_by_ref, or the signing key's identity) and which key signed.
    publisher: Mapped[str] = mapped_column(String(60))
    signer_kid: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the RFC 8785 canonical form without the signature: tells a harmless re-send
    # (same content) from a conflicting one under the same id and version.
    content_digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)


class TaxiiStatus(OrgOwned, Base):
    """The status resource of one Add Objects request (TAXII 2.1 section 4.3.1).

    ``organisation_id`` is the requester's organisation: only its members' tokens see it.
    """

    __tablename__ = "taxii_status"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="CASCADE"), index=True
    )
    request_timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="complete")
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
