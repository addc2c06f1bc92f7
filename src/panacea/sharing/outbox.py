"""What an organisation sends: its incidents, anonymised, marked, signed and kept in its outbox.

An incident leaves the platform only through :func:`share_incident`:

1. exported as STIX 2.1 by :func:`panacea.sharing.incidents.export_incident` with the
   organisation's anonymiser (:mod:`panacea.sharing.anonymise`: patients, staff, internal hosts
   and private addresses become keyed pseudonyms) and marked with the incident's TLP level;
2. passed once more through :func:`panacea.sharing.anonymise.anonymise_objects`, which withholds
   any observable of the organisation's own network (their ids would reveal them);
3. reduced to what the organisation authored (its identity and objects): the TLP and extension
   definitions are public constants every receiver knows, and not the organisation's to sign;
4. signed with the organisation's key and stored in its **outbox** collection
   (:func:`panacea.sharing.publishing.publish`, audited ``sharing.published``), from which
   pushes read what they send and retry what failed.

The outbox and the collection that pulled objects land in are ordinary TAXII collections of
the organisation, recognised by their alias (:data:`OUTBOX_ALIAS`, :data:`RECEIVED_ALIAS`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.audit import AuditEvent, append
from panacea.sharing.anonymise import Anonymiser, anonymise_objects
from panacea.sharing.incidents import export_incident, require_incident
from panacea.sharing.keys import organisation_identity
from panacea.sharing.policy import marking_of
from panacea.sharing.publishing import publish
from panacea.sharing.signing import extension_definition
from panacea.sharing.stix import bundle_of
from panacea.sharing.taxii.models import TaxiiCollection
from panacea.sharing.tlp import Tlp

OUTBOX_ALIAS: Final = "panacea-outbox"
RECEIVED_ALIAS: Final = "panacea-received"
_TITLES: Final = {
    OUTBOX_ALIAS: "Outbox (what this organisation shares)",
    RECEIVED_ALIAS: "Received from peers",
}


@dataclass(frozen=True)
class SharedIncident:
    """An incident as it leaves: its signed objects, its TLP level, what was withheld."""

    incident_id: int
    marking: Tlp
    objects: list[dict[str, Any]]
    definitions: list[dict[str, Any]]
    withheld: frozenset[str]


def local_collection(session: Session, organisation_id: int, alias: str) -> TaxiiCollection:
    """The organisation's outbox or received collection, created (and audited) on first use."""
    if alias not in _TITLES:
        raise ValueError(f"no local collection {alias!r}")
    found = session.execute(
        select(TaxiiCollection)
        .where(TaxiiCollection.organisation_id == organisation_id, TaxiiCollection.alias == alias)
        .order_by(TaxiiCollection.id)
        .limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return found
    collection = TaxiiCollection(
        organisation_id=organisation_id,
        uuid=str(uuid.uuid4()),
        title=_TITLES[alias],
        description="Kept by PANACEA's federation (docs/sharing-federation.md).",
        alias=alias,
    )
    session.add(collection)
    session.flush()
    append(
        session,
        AuditEvent(
            action="sharing.collection_created",
            organisation_id=organisation_id,
            via="system",
            target=f"taxii_collection:{collection.uuid}",
            details={"title": collection.title, "alias": alias},
        ),
    )
    return collection


def _authored(obj: dict[str, Any], identity_ref: str) -> bool:
    return obj.get("created_by_ref") == identity_ref or obj.get("id") == identity_ref


def share_incident(
    session: Session,
    organisation_id: int,
    incident_id: int,
    *,
    hide_organisation: bool = False,
    actor: str = "",
) -> SharedIncident:
    """The incident's objects as they leave (steps in the module docstring), stored signed in
    the outbox. Sharing an unchanged incident again stores nothing new and returns the same
    signed objects.

    Raises IncidentError for an unknown incident, StixError if it cannot be expressed or
    stored (e.g. the organisation's identity was published once with its name and once
    hidden), AnonymisationError, SigningError.
    """
    require_incident(session, organisation_id, incident_id)
    identity_ref = organisation_identity(session, organisation_id)
    bundle = export_incident(
        session, organisation_id, incident_id, anonymise=True, hide_organisation=hide_organisation
    )
    objects = bundle["objects"]
    authored = [o for o in objects if _authored(o, identity_ref)]
    anonymiser = Anonymiser.for_organisation(
        session, organisation_id, hide_organisation=hide_organisation
    )
    batch = anonymise_objects(authored, anonymiser)
    outbox = local_collection(session, organisation_id, OUTBOX_ALIAS)
    signed = publish(
        session,
        organisation_id=organisation_id,
        collection_id=outbox.uuid,
        objects=batch.objects,
        actor=actor,
    )
    incident = next(o for o in signed if o["type"] == "incident")
    return SharedIncident(
        incident_id=incident_id,
        marking=marking_of(incident),
        objects=signed,
        definitions=[o for o in objects if not _authored(o, identity_ref)],
        withheld=batch.withheld,
    )


def export_bundle(
    session: Session,
    organisation_id: int,
    incident_ids: list[int],
    *,
    hide_organisation: bool = False,
    actor: str = "",
    via: str = "cli",
) -> dict[str, Any]:
    """One STIX 2.1 bundle of the incidents as they would leave (signed, anonymised, marked),
    with the definitions they refer to, for an exchange outside TAXII. Audited
    ``sharing.exported`` (bundle id, incident ids, levels, object count)."""
    shared = [
        share_incident(
            session, organisation_id, i, hide_organisation=hide_organisation, actor=actor
        )
        for i in incident_ids
    ]
    definitions: dict[str, dict[str, Any]] = {}
    for item in shared:
        for definition in item.definitions:
            definitions.setdefault(definition["id"], definition)
    signature_definition = extension_definition()
    definitions.setdefault(signature_definition["id"], signature_definition)
    authored: dict[tuple[str, str], dict[str, Any]] = {}
    for item in shared:
        for obj in item.objects:
            authored[(obj["id"], str(obj.get("modified", obj.get("created", ""))))] = obj
    bundle = bundle_of([*definitions.values(), *authored.values()])
    append(
        session,
        AuditEvent(
            action="sharing.exported",
            organisation_id=organisation_id,
            actor=actor,
            via=via,
            target=f"bundle:{bundle['id']}",
            details={
                "incidents": incident_ids,
                "levels": sorted({s.marking.value for s in shared}),
                "objects": len(bundle["objects"]),
            },
        ),
    )
    return bundle
