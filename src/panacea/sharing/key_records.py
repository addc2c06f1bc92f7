"""Tables of signing keys: each organisation's own key pairs, and the peers' public keys.

An organisation's private key is stored only sealed (AES-256-GCM under the data key, itself
wrapped by the KEK kept outside the database: :mod:`panacea.identity.encryption`), so a copy
of the database cannot sign in a hospital's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panacea.db.base import Base, OrgOwned, utcnow


class SigningKeyRecord(OrgOwned, Base):
    """A key pair of an organisation. ``active`` is True for the one key that signs now and
    NULL once retired (NULL, so the unique constraint admits any number of retired keys)."""

    __tablename__ = "sharing_signing_key"
    __table_args__ = (UniqueConstraint("organisation_id", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The organisation's STIX identity (``identity--<uuid>``): created_by_ref of what it signs.
    identity_ref: Mapped[str] = mapped_column(String(60), index=True)
    # RFC 7638 thumbprint of the public key: the ``kid`` of every signature it makes.
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # PKCS#8 PEM of the private key, sealed for (sharing_signing_key, private_key_encrypted, id).
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool | None] = mapped_column(Boolean, default=True)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class PeerKeyRecord(Base):
    """A public key of a remote publisher (another instance's organisation, or a hub).

    ``may_republish``: the key of a hub, trusted to sign objects that other identities created
    (the hub verifies them first, then re-signs). Revoked keys verify nothing any more.
    """

    __tablename__ = "sharing_peer_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_ref: Mapped[str] = mapped_column(String(60), index=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(200), default="")
    may_republish: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
