"""Tables of federation: peers, what was received from whom, what was delivered where.

- :class:`SharingPeer`: a remote TAXII 2.1 collection an organisation pulls from and/or
  pushes to, the token the remote side issued (sealed), who reads that collection (its
  audience, for the TLP rules) and the ``added_after`` checkpoint of the last pull.
- :class:`SharingReceipt`: one object version the organisation received, with its TLP level
  and its *original recipients* as the receiving platform knows them (the audience of the
  channel it came through). The re-share rules (:func:`panacea.sharing.policy.may_forward`)
  read them when the organisation passes something on.
- :class:`IntakeCursor`: how far the organisation has looked through a local collection for
  objects that others put there (pushes into its inbox, its sharing groups' collections).
- :class:`SharingDelivery`: one object version pushed to one peer, so that a re-sync never
  sends it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow
from panacea.sharing.taxii.models import KeyType

# Where the peer's token is sealed (panacea.identity.encryption.seal binds it to this place).
SEALED_TABLE = "sharing_peer"
SEALED_COLUMN = "token_encrypted"


class SharingPeer(OrgOwned, Base):
    """A remote collection of an organisation's federation, named per organisation.

    ``audience``: the STIX identities (``identity--...``) of the organisations that read the
    remote collection, i.e. the recipients of whatever is pushed there; ``partners``: they are
    the organisation's named partners (TLP:AMBER may go to them on a need-to-know basis);
    ``forward``: a sync passes received objects on to this peer when the TLP rules allow it.
    ``inbox_collection_id``: the local collection the peer pushes into, whose arrivals were
    shared with that same audience. ``added_after``: the last ``X-TAXII-Date-Added-Last``
    pulled, exactly as the server wrote it.
    """

    __tablename__ = "sharing_peer"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(500))
    api_root: Mapped[str] = mapped_column(String(500))
    collection_id: Mapped[str] = mapped_column(String(100))
    auth_kind: Mapped[str] = mapped_column(String(8), default="bearer")
    # The secret the remote side issued (a Bearer token, or user:password), sealed for
    # (sharing_peer, token_encrypted, id); NULL when the peer needs none.
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    can_pull: Mapped[bool] = mapped_column(Boolean, default=True)
    can_push: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    partners: Mapped[bool] = mapped_column(Boolean, default=False)
    forward: Mapped[bool] = mapped_column(Boolean, default=False)
    # The local collection this peer pushes into (its inbox here), if any: what arrives there
    # was shared with the peer's audience.
    inbox_collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="SET NULL"), default=None
    )
    added_after: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_pull_at: Mapped[datetime | None] = mapped_column(default=None)
    last_push_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SharingReceipt(OrgOwned, Base):
    """One object version received by the organisation, stored in a local collection.

    ``recipients``: the STIX identities the object was shared with, as this platform knows
    them (the receiving organisation, and the audience of the channel it came through);
    ``marking``: its TLP level (:func:`panacea.sharing.policy.marking_of`) when received.
    """

    __tablename__ = "sharing_receipt"
    __table_args__ = (UniqueConstraint("organisation_id", "object_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="CASCADE"), index=True
    )
    # The stored row (taxii_object.id); deleting the object deletes what it told.
    object_key: Mapped[int] = mapped_column(
        KeyType, ForeignKey("taxii_object.id", ondelete="CASCADE"), index=True
    )
    stix_id: Mapped[str] = mapped_column(String(300), index=True)
    stix_type: Mapped[str] = mapped_column(String(250))
    version: Mapped[str] = mapped_column(String(40))
    publisher: Mapped[str] = mapped_column(String(60))
    marking: Mapped[str] = mapped_column(String(16))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    peer_id: Mapped[int | None] = mapped_column(
        ForeignKey("sharing_peer.id", ondelete="SET NULL"), default=None, index=True
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntakeCursor(OrgOwned, Base):
    """The last key of a local collection that the organisation's intake has looked at."""

    __tablename__ = "sharing_intake_cursor"
    __table_args__ = (UniqueConstraint("organisation_id", "collection_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("taxii_collection.id", ondelete="CASCADE"), index=True
    )
    last_key: Mapped[int] = mapped_column(KeyType, default=0)


class SharingDelivery(OrgOwned, Base):
    """One object version for one peer: ``queued`` once the TLP rules allowed it, then
    ``delivered`` when the peer's status reported it a success; or ``held`` when the rules
    keep it from the peer (``last_error`` says which rule). A version is considered once per
    peer (the unique constraint): a re-sync never sends it again once delivered, and never
    reports again what the rules held back.

    ``object_key``: the stored row sent (the organisation's outbox, or the received copy).
    """

    __tablename__ = "sharing_delivery"
    __table_args__ = (UniqueConstraint("peer_id", "stix_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("sharing_peer.id", ondelete="CASCADE"), index=True
    )
    stix_id: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(40))
    object_key: Mapped[int | None] = mapped_column(
        KeyType, ForeignKey("taxii_object.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_id: Mapped[str] = mapped_column(String(100), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
