"""The anonymiser of an organisation (SQLite and PostgreSQL): its sealed key and the
dictionary taken from its inventory and members."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import create_db_engine
from panacea.identity.key_rotation import rotate_data_key
from panacea.identity.keys import Kek, KekSource, bind_kek
from panacea.identity.models import Membership, User
from panacea.inventory.assets import Asset, AssetAddress
from panacea.inventory.organisation import Organisation
from panacea.inventory.people import Account
from panacea.sharing.anonymise import Anonymiser, organisation_dictionary
from panacea.sharing.errors import AnonymisationError
from panacea.sharing.pii_patterns import Kind
from panacea.sharing.pseudonym_keys import KEY_BYTES, PseudonymKey

REPORT = (
    "Beacon from nurse-station7 (93.184.216.34) by m.verdi; Anna Bellini and Bellini were told; "
    "Ospedale San Marco notified the CSIRT; attacker 185.220.101.47."
)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(db_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    bind_kek(factory, KekSource(value=SecretStr(Kek.generate().encoded())))
    yield factory
    engine.dispose()


def _hospital(s: Session, name: str) -> int:
    org = Organisation(name=name)
    s.add(org)
    s.flush()
    asset = Asset(
        organisation_id=org.id, name="Nurse station 7", hostname="nurse-station7.sanmarco.example"
    )
    s.add(asset)
    s.flush()
    s.add(
        AssetAddress(organisation_id=org.id, asset_id=asset.id, kind="ipv4", value="93.184.216.34")
    )
    s.add(Account(organisation_id=org.id, name="m.verdi"))
    s.add(Account(organisation_id=org.id, name="Administrator"))
    user = User(email=f"anna.bellini@{org.id}.example", display_name="Anna Bellini")
    s.add(user)
    s.flush()
    s.add(Membership(user_id=user.id, organisation_id=org.id, role="analyst"))
    return org.id


def test_the_dictionary_comes_from_the_inventory_and_the_members(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        org = _hospital(s, "Ospedale San Marco")
    with sessions.begin() as s:
        d = organisation_dictionary(s, org)
        assert d.hosts == {"nurse-station7.sanmarco.example"}  # "Nurse station 7" is prose
        assert d.addresses == {"93.184.216.34"}
        assert d.domains == {"sanmarco.example"}
        assert d.accounts == {"m.verdi", "Administrator"}
        assert d.persons == {"Anna Bellini"}
        assert d.emails == {f"anna.bellini@{org}.example"}
        assert d.organisation_names == frozenset()
        assert organisation_dictionary(s, org, hide_organisation=True).organisation_names == {
            "Ospedale San Marco"
        }


def test_the_organisations_identifiers_are_caught_even_when_no_rule_would(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        org = _hospital(s, "Ospedale San Marco")
    with sessions.begin() as s:
        plain = Anonymiser.for_organisation(s, org)
        hidden = Anonymiser.for_organisation(s, org, hide_organisation=True)
    out = plain.text(REPORT)
    for value in ("nurse-station7", "93.184.216.34", "m.verdi", "Anna Bellini", "Bellini"):
        assert value not in out
    assert "185.220.101.47" in out
    assert out.count(plain.pseudonym(Kind.PERSON, "Anna Bellini")) == 2
    assert "Ospedale San Marco" in out
    assert "Ospedale San Marco" not in hidden.text(REPORT)


def test_the_key_is_made_once_sealed_and_stable(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        org = _hospital(s, "Ospedale San Marco")
        other = _hospital(s, "Klinikum Nordstadt")
    with sessions.begin() as s:
        first = Anonymiser.for_organisation(s, org).text(REPORT)
        theirs = Anonymiser.for_organisation(s, other).text(REPORT)
    with sessions.begin() as s:
        again = Anonymiser.for_organisation(s, org).text(REPORT)
        rows = (
            s.execute(select(PseudonymKey).order_by(PseudonymKey.organisation_id)).scalars().all()
        )
    assert first == again
    assert first != theirs
    assert [r.organisation_id for r in rows] == [org, other]
    # Sealed: version byte, data-key id, nonce, 32-byte key, GCM tag; never the plain key.
    assert all(len(r.key_encrypted) == 1 + 4 + 12 + KEY_BYTES + 16 for r in rows)


def test_pseudonyms_survive_a_data_key_rotation(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        org = _hospital(s, "Ospedale San Marco")
    with sessions.begin() as s:
        before = Anonymiser.for_organisation(s, org).text(REPORT)
        sealed_before = s.execute(select(PseudonymKey.key_encrypted)).scalar_one()
    with sessions.begin() as s:
        rotation = rotate_data_key(s)
    assert rotation.values["pseudonym_key.key_encrypted"] == 1
    with sessions.begin() as s:
        assert s.execute(select(PseudonymKey.key_encrypted)).scalar_one() != sealed_before
        assert Anonymiser.for_organisation(s, org).text(REPORT) == before


def test_no_anonymiser_for_an_unknown_organisation(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s, pytest.raises(AnonymisationError, match="no organisation 4242"):
        Anonymiser.for_organisation(s, 4242)


def test_a_key_that_does_not_unseal_is_an_error(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        org = _hospital(s, "Ospedale San Marco")
        Anonymiser.for_organisation(s, org)
    engine = create_db_engine(db_url)
    wrong = sessionmaker(engine, expire_on_commit=False)
    bind_kek(wrong, KekSource(value=SecretStr(Kek.generate().encoded())))
    try:
        with wrong.begin() as s, pytest.raises(AnonymisationError, match="does not unseal"):
            Anonymiser.for_organisation(s, org)
    finally:
        engine.dispose()
