"""Publishing through a community hub (an ISAC) that re-publishes in its own name.

A hospital that does not want to be named as the source of a report sends it to its hub;
the hub re-publishes it so that recipients see the hub, never the hospital:

- ``created_by_ref`` of the source becomes the hub's identity, and every reference to the
  source's identity follows; the source's own ``identity`` object is not re-published;
- the ids of the objects the source created are replaced by ids derived under the hub's key
  (stable across versions, unlinkable to the ids the source may use elsewhere), references
  included, so relationships within the batch still hold;
- the source's names are pseudonymised wherever they appear, kept properties included
  (``external_references[].source_name``...), and the hub's anonymiser runs over everything
  once more (defence in depth: the source anonymised before sending); observables of the
  source's own network are withheld (:func:`panacea.sharing.anonymise.anonymise_objects`);
- the source's signature is dropped (it would name the source's key); the hub signs with
  its own key (:func:`panacea.sharing.signing.sign_object`) when given one;
- optionally ``x_panacea_origin`` carries the source's pseudonym under the hub's key, so that
  recipients can tell that several reports come from the same (unnamed) member.

TLP still applies: the hub passes objects on to its members, which TLP 2.0 allows for
TLP:AMBER (the hub's "clients", need-to-know), GREEN and CLEAR. TLP:RED and AMBER+STRICT
objects (and unmarked ones, which count as AMBER+STRICT) are refused with PolicyError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panacea.sharing.anonymise import Anonymiser, Dictionary, anonymise_objects
from panacea.sharing.errors import PolicyError, SharingError
from panacea.sharing.pii_patterns import Kind
from panacea.sharing.policy import marking_of
from panacea.sharing.signing import SignerKey, sign_object
from panacea.sharing.tlp import Tlp

ORIGIN_PROPERTY = "x_panacea_origin"
_REPUBLISHABLE = frozenset({Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER})
_ORG_ONLY = frozenset({Kind.ORG})
_NEVER_TOUCHED = frozenset({"id", "type", "spec_version", "created", "modified"})


@dataclass(frozen=True)
class HubRepublication:
    """What the hub publishes, and the id mapping it keeps (never published)."""

    objects: list[dict[str, Any]]
    id_map: dict[str, str]
    # Internal observables (and what needs them), left out: see anonymise_objects.
    withheld: frozenset[str] = frozenset()


def _is_ref(key: str) -> bool:
    return key.endswith(("_ref", "_refs"))


def _remap(value: Any, ids: Mapping[str, str], key: str = "") -> Any:
    """References (and ids) replaced through ``ids``; everything else unchanged."""
    if isinstance(value, Mapping):
        return {k: _remap(v, ids, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, ids, key) for v in value]
    if isinstance(value, str) and (key == "id" or _is_ref(key)):
        return ids.get(value, value)
    return value


def _hide_names(value: Any, anonymiser: Anonymiser, key: str = "") -> Any:
    """The source's names replaced in every string but ids, references and timestamps."""
    if isinstance(value, Mapping):
        return {k: _hide_names(v, anonymiser, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_names(v, anonymiser, key) for v in value]
    if isinstance(value, str) and key not in _NEVER_TOUCHED and not _is_ref(key):
        return anonymiser.redact(value, kinds=_ORG_ONLY).text
    return value


def republish_as_hub(
    objects: Sequence[Mapping[str, Any]],
    *,
    hub_identity_ref: str,
    source_identity_ref: str,
    source_names: Iterable[str],
    anonymiser: Anonymiser,
    signer: SignerKey | None = None,
    disclose_origin_pseudonym: bool = True,
) -> HubRepublication:
    """Re-publish ``objects`` received from a member in the hub's name (module docstring).

    ``anonymiser`` is the hub's (its key); ``source_names`` the names the source is known by
    (its identity's name, its organisation name). Raises PolicyError for an object whose TLP
    marking forbids the hub to pass it on, SharingError for malformed identities or a signer
    of another identity.
    """
    for ref in (hub_identity_ref, source_identity_ref):
        if not ref.startswith("identity--"):
            raise SharingError(f"not an identity id: {ref!r}")
    if signer is not None and signer.identity_ref != hub_identity_ref:
        raise SharingError(
            f"the hub re-publishes as {hub_identity_ref}, but the signing key is "
            f"{signer.identity_ref}'s"
        )
    names = frozenset(n for n in source_names if n.strip()) | {source_identity_ref}
    hub = anonymiser.with_dictionary(Dictionary(organisation_names=names))
    for obj in objects:
        level = marking_of(obj)
        if obj.get("id") != source_identity_ref and level not in _REPUBLISHABLE:
            raise PolicyError(
                f"{obj.get('id', '?')} is {level.label}: the hub may not pass it on to its "
                "members (only CLEAR, GREEN and AMBER)"
            )
    ids: dict[str, str] = {source_identity_ref: hub_identity_ref}
    for obj in objects:
        obj_id = obj.get("id")
        if obj.get("created_by_ref") == source_identity_ref and isinstance(obj_id, str):
            ids[obj_id] = hub.derived_id(obj_id)
    origin = hub.pseudonym(Kind.ORG, source_identity_ref)
    # The source's identity object would name it; internal observables are withheld.
    batch = anonymise_objects([o for o in objects if o.get("id") != source_identity_ref], hub)
    published: list[dict[str, Any]] = []
    for obj in batch.objects:
        from_source = obj.get("created_by_ref") == source_identity_ref
        result = _remap(_hide_names(obj, hub), ids)
        assert isinstance(result, dict)
        if from_source and disclose_origin_pseudonym:
            result[ORIGIN_PROPERTY] = origin
        if signer is not None:
            result = sign_object(result, signer)
        published.append(result)
    return HubRepublication(
        objects=published,
        id_map={k: v for k, v in ids.items() if k != source_identity_ref},
        withheld=batch.withheld,
    )
