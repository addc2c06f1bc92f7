"""A live PANACEA (uvicorn on 127.0.0.1, a free port) with helpers for TAXII tests.

The taxii2-client package speaks real HTTP with ``requests``: it gets a real server, not a
TestClient. Objects are made by :func:`indicator` and signed by :class:`Publisher`, a remote
publisher whose public key is registered as a peer.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import uvicorn
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy.orm import Session, sessionmaker

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.db.engine import create_db_engine
from panacea.identity.models import Membership, User
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.roles import Permission, Role
from panacea.identity.tokens import create_token
from panacea.inventory.organisation import Organisation
from panacea.sharing.keys import register_peer_key
from panacea.sharing.signing import SignerKey, sign_object
from panacea.sharing.taxii.collections import create_collection
from panacea.sharing.taxii.media import TAXII_MEDIA_TYPE

BOTH_SCOPES = (Permission.SHARING_READ, Permission.SHARING_PUBLISH)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stix_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


BASE_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def indicator(
    publisher: str, *, stix_id: str | None = None, modified: datetime | None = None, n: int = 0
) -> dict[str, Any]:
    """A STIX 2.1 indicator published by ``publisher`` (an identity id), unsigned."""
    created = BASE_TIME
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": stix_time(created),
        "modified": stix_time(modified or created),
        "created_by_ref": publisher,
        "name": f"Ransomware C2 address {n}",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n % 250}']",
        "pattern_type": "stix",
        "valid_from": stix_time(created),
        "labels": ["malicious-activity"],
        "confidence": 80,
    }


def observable(n: int) -> dict[str, Any]:
    return {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": f"ipv4-addr--{uuid.uuid5(uuid.NAMESPACE_URL, f'203.0.113.{n}')}",
        "value": f"203.0.113.{n}",
    }


@dataclass
class Publisher:
    """A remote publisher: a STIX identity and its key (registered as a peer when trusted)."""

    identity_ref: str
    key: OKPKey | ECKey

    @classmethod
    def new(cls, *, curve: str = "Ed25519") -> Publisher:
        key: OKPKey | ECKey
        key = ECKey.generate_key("P-256") if curve == "P-256" else OKPKey.generate_key("Ed25519")
        return cls(identity_ref=f"identity--{uuid.uuid4()}", key=key)

    @property
    def signer(self) -> SignerKey:
        return SignerKey(identity_ref=self.identity_ref, key=self.key)

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_object(obj, self.signer)

    def indicators(self, count: int) -> list[dict[str, Any]]:
        return [self.sign(indicator(self.identity_ref, n=i)) for i in range(count)]


@dataclass
class TaxiiWorld:
    base_url: str
    sessions: sessionmaker[Session]
    settings: Settings

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/taxii2/"

    @property
    def api_root_url(self) -> str:
        return f"{self.base_url}/taxii2/panacea/"

    def collection_url(self, collection_id: str) -> str:
        return f"{self.api_root_url}collections/{collection_id}/"

    def organisation(self, name: str) -> int:
        with self.sessions.begin() as s:
            org = Organisation(name=name)
            s.add(org)
            s.flush()
            return org.id

    def member(self, organisation_id: int, role: Role = Role.SECURITY_LEAD) -> int:
        with self.sessions.begin() as s:
            user = User(email=f"{uuid.uuid4().hex[:10]}@hospital.example", display_name="m")
            s.add(user)
            s.flush()
            s.add(Membership(user_id=user.id, organisation_id=organisation_id, role=role.value))
            return user.id

    def token(
        self,
        organisation_id: int,
        *,
        role: Role = Role.SECURITY_LEAD,
        scopes: tuple[Permission, ...] = BOTH_SCOPES,
    ) -> str:
        """A new member with ``role`` and an API token with ``scopes``: its secret."""
        user_id = self.member(organisation_id, role)
        with self.sessions.begin() as s:
            user = s.get(User, user_id)
            assert user is not None
            _, secret = create_token(
                s,
                user=user,
                organisation_id=organisation_id,
                name="taxii",
                scopes=scopes,
                lifetime=timedelta(days=1),
                max_lifetime=timedelta(days=2),
            )
        return secret

    def access(self, organisation_id: int) -> OrgAccess:
        """A security lead of the organisation, as services see a caller."""
        user_id = self.member(organisation_id)
        return OrgAccess(
            principal=Principal(user_id=user_id, email="lead@hospital.example", via="session"),
            organisation_id=organisation_id,
            role=Role.SECURITY_LEAD,
            base_role=Role.SECURITY_LEAD,
        )

    def collection(self, organisation_id: int, title: str = "Alerts") -> str:
        access = self.access(organisation_id)
        with self.sessions.begin() as s:
            return create_collection(s, access, title=title).uuid

    def trust(self, publisher: Publisher, *, may_republish: bool = False) -> None:
        with self.sessions.begin() as s:
            register_peer_key(
                s,
                identity_ref=publisher.identity_ref,
                jwk=publisher.key.as_dict(private=False),
                label="test peer",
                may_republish=may_republish,
            )

    def http(self, secret: str | None) -> requests.Session:
        """A requests session that accepts TAXII 2.1 and sends the token."""
        session = requests.Session()
        session.headers["Accept"] = TAXII_MEDIA_TYPE
        if secret:
            session.headers["Authorization"] = f"Bearer {secret}"
        return session


class BearerAuth(requests.auth.AuthBase):
    """taxii2-client's ``auth=``: our tokens are RFC 6750 Bearer tokens."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.secret}"
        return request


@contextmanager
def live_world(db_url: str, tmp_path: Path) -> Iterator[TaxiiWorld]:
    """The app on ``db_url`` served by uvicorn on 127.0.0.1 until the block ends."""
    levels = {n: logging.getLogger(n).level for n in UVICORN_LOGGERS}
    settings = Settings(database_url=db_url, demo_mode=True, data_dir=tmp_path)
    engine = create_db_engine(db_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = create_app(settings, sessions=sessions)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):  # up to 10 s
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start within 10 s"
        yield TaxiiWorld(f"http://127.0.0.1:{port}", sessions, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
