"""Publishing objects into a collection, signed with the organisation's key.

- :func:`publish`: an organisation's own objects (incidents, indicators...): each is checked,
  attributed to the organisation's STIX identity (``created_by_ref``, set when absent), signed
  (:func:`panacea.sharing.signing.sign_object`) and stored.
- :func:`republish`: a hub passing on what others published: each object is verified first
  against its publisher's registered key (a bad one raises: nothing is re-signed unverified),
  then re-signed with the hub's key, its publisher left as it was. Receivers register the
  hub's key with ``may_republish`` to accept those.

Both store through the same path as TAXII ingest (versions, date_added clock, locks) and are
audited (``sharing.published``). They return the signed objects, as stored and served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.audit import AuditEvent, append
from panacea.sharing.errors import SharingError, SigningError, StixError
from panacea.sharing.keys import KeyRing, signer_of
from panacea.sharing.signing import SignerKey, sign_object
from panacea.sharing.taxii.ingest import (
    Candidate,
    local_candidate,
    lock_collection,
    store_candidates,
    verify_candidate,
)
from panacea.sharing.taxii.models import TaxiiCollection
from panacea.sharing.validation import OBSERVABLE_TYPES, check_object

# Objects without created_by_ref in STIX 2.1 (cyber-observables have no such property).
_UNATTRIBUTED = OBSERVABLE_TYPES


def _collection(session: Session, organisation_id: int, collection_id: str) -> TaxiiCollection:
    collection = session.execute(
        select(TaxiiCollection).where(TaxiiCollection.uuid == collection_id)
    ).scalar_one_or_none()
    if collection is None or collection.organisation_id != organisation_id:
        raise SharingError(f"organisation {organisation_id} has no collection {collection_id}")
    return collection


def _store(
    session: Session,
    *,
    organisation_id: int,
    collection: TaxiiCollection,
    candidates: Sequence[Candidate],
    action: str,
    actor: str,
) -> None:
    locked = lock_collection(session, collection.id, audited_organisation_id=organisation_id)
    outcome = store_candidates(session, locked, candidates)
    if outcome.refused:
        first = outcome.refused[0]
        raise StixError(
            f"{len(outcome.refused)} object(s) not published, first {first.stix_id}: {first.detail}"
        )
    append(
        session,
        AuditEvent(
            action=action,
            organisation_id=organisation_id,
            actor=actor,
            via="system" if not actor else "api",
            target=f"taxii_collection:{collection.uuid}",
            details={
                "stored": len(outcome.stored),
                "already_stored": len(outcome.duplicates),
                "objects": [c.facts.stix_id for c, _ in outcome.stored[:50]],
            },
        ),
    )


def _signed(signer: SignerKey, obj: dict[str, Any]) -> Candidate:
    facts = check_object(obj)
    publisher = obj.get("created_by_ref")
    if publisher is None and facts.stix_type not in _UNATTRIBUTED:
        obj = {**obj, "created_by_ref": signer.identity_ref}
    elif publisher is not None and publisher != signer.identity_ref:
        raise SigningError(
            f"{facts.stix_id} is created by {publisher}, not by this organisation "
            f"({signer.identity_ref}): re-publish it instead"
        )
    signed = sign_object(obj, signer)
    return local_candidate(
        signed, facts=check_object(signed), kid=signer.kid, publisher=signer.identity_ref
    )


def publish(
    session: Session,
    *,
    organisation_id: int,
    collection_id: str,
    objects: Sequence[dict[str, Any]],
    actor: str = "",
) -> list[dict[str, Any]]:
    """Sign ``objects`` with the organisation's key and store them in its collection
    ``collection_id`` (the TAXII collection id); return the signed objects.

    Raises SharingError if the collection is not the organisation's, StixError for an invalid
    object or an older version than the one stored, SigningError for another creator's object.
    Nothing is stored unless every object is.
    """
    collection = _collection(session, organisation_id, collection_id)
    signer = signer_of(session, organisation_id)
    candidates = [_signed(signer, dict(obj)) for obj in objects]
    _store(
        session,
        organisation_id=organisation_id,
        collection=collection,
        candidates=candidates,
        action="sharing.published",
        actor=actor,
    )
    return [c.obj for c in candidates]


def republish(
    session: Session,
    *,
    organisation_id: int,
    collection_id: str,
    objects: Sequence[dict[str, Any]],
    actor: str = "",
) -> list[dict[str, Any]]:
    """Verify ``objects`` (signed by their publishers), re-sign them with the organisation's
    key (a hub's) and store them in its collection; return the re-signed objects.

    Raises VerificationError (with the reason) for an object whose signature does not verify,
    StixError for an invalid one; nothing is stored then.
    """
    collection = _collection(session, organisation_id, collection_id)
    ring = KeyRing(session)
    verified = [verify_candidate(obj, ring) for obj in objects]
    signer = signer_of(session, organisation_id)
    candidates = []
    for candidate in verified:
        signed = sign_object(candidate.obj, signer)
        candidates.append(
            local_candidate(
                signed, facts=candidate.facts, kid=signer.kid, publisher=candidate.publisher
            )
        )
    _store(
        session,
        organisation_id=organisation_id,
        collection=collection,
        candidates=candidates,
        action="sharing.published",
        actor=actor,
    )
    return [c.obj for c in candidates]
