"""Who may receive a share, and what a receiving platform may pass on: the TLP 2.0 rules.

Pure functions over typed inputs (organisation ids, group memberships); the callers load
those from the database. The two moments of a shared object's life:

1. **Sharing** (:func:`recipients_allowed`, :class:`Share`): the *source* chooses its
   recipients, organisations by name and sharing groups it belongs to. TLP does not limit the
   source, only what recipients do next; but a share that names nobody goes nowhere
   (NoRecipientsError), and TLP:RED goes to organisations named one by one, never to a group
   (TLP 2.0: RED is "for the eyes and ears of individual recipients only").
2. **Re-sharing** at a receiving platform (:func:`may_forward`): the marking limits where a
   holder may pass the object on (FIRST, TLP 2.0 definitions, https://www.first.org/tlp/):

   ============  =================================================================
   TLP:RED       never re-shared: it stays with the recipients the source named
   AMBER+STRICT  only within the recipient's own organisation
   AMBER         the recipient's organisation and its own named partners ("clients")
                 on a need-to-know basis
   GREEN         the community: the sharing groups the share went through (and its
                 named recipients), never a public channel
   CLEAR         anyone
   ============  =================================================================

The marking of a received object is :func:`marking_of`: unmarked (or marked with nothing TLP)
means TLP:AMBER+STRICT, and several TLP markings (object-level and granular) mean the most
restrictive one, so a forward never widens the audience that any part of the object allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from panacea.sharing.errors import MarkingError, NoRecipientsError, PolicyError
from panacea.sharing.tlp import (
    TLP1_IDS,
    TLP_EXTENSION_ID,
    TLP_IDS,
    Tlp,
    marking_definition,
    most_restrictive,
    tlp_of_marking_ref,
)

# What an object without any TLP marking is treated as (fail closed: the holder keeps it).
UNMARKED = Tlp.AMBER_STRICT
# Objects that are the markings themselves: public definitions, carried with anything shared.
_DEFINITION_IDS = frozenset(TLP_IDS.values()) | frozenset(TLP1_IDS) | {TLP_EXTENSION_ID}


@dataclass(frozen=True)
class GroupMembers:
    """A sharing group and the organisations in it (as the caller loaded them)."""

    id: int
    name: str
    members: frozenset[int]


@dataclass(frozen=True)
class Decision:
    """The answer to "may this go there?" and the rule that gave it (for the audit log)."""

    allowed: bool
    reason: str


def _organisation_ids(values: Iterable[int], what: str) -> frozenset[int]:
    ids = frozenset(values)
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PolicyError(f"{what}: {value!r} is not an organisation id")
    return ids


def recipients_allowed(
    marking: Tlp,
    *,
    sender: int,
    named_recipients: Iterable[int],
    groups: Iterable[GroupMembers] = (),
    known_organisations: Iterable[int] | None = None,
) -> frozenset[int]:
    """The organisations a share by ``sender`` reaches: those named plus the groups' members.

    The sender itself is never a recipient. Groups are resolved to their members *now*; the
    share keeps that list. Raises:

    - PolicyError if the sender is not a member of one of ``groups`` (a group is used only by
      its members), if TLP:RED is addressed to a group, or if a named organisation is not in
      ``known_organisations`` (when given);
    - NoRecipientsError if nobody is left: a share without recipients goes nowhere.
    """
    named = _organisation_ids(named_recipients, "named recipients")
    group_list = tuple(groups)
    for group in group_list:
        if sender not in group.members:
            raise PolicyError(
                f"organisation {sender} is not a member of sharing group {group.id}: "
                "only members share through a group"
            )
    if marking is Tlp.RED and group_list:
        raise PolicyError(
            "TLP:RED goes to organisations named one by one, never to a sharing group "
            f"(groups given: {', '.join(str(g.id) for g in group_list)})"
        )
    if known_organisations is not None:
        unknown = named - frozenset(known_organisations)
        if unknown:
            raise PolicyError(f"no organisation {', '.join(map(str, sorted(unknown)))}")
    recipients = set(named)
    for group in group_list:
        recipients |= group.members
    recipients.discard(sender)
    if not recipients:
        raise NoRecipientsError(
            f"{marking.label} share by organisation {sender} names no recipient: "
            "it goes nowhere (name organisations or sharing groups)"
        )
    return frozenset(recipients)


@dataclass(frozen=True, kw_only=True)
class Share:
    """One object (or bundle) shared by ``sender`` under ``marking`` with ``recipients``.

    Constructing a Share with no recipient raises NoRecipientsError (fails closed); use
    :meth:`plan` to resolve named organisations and groups through :func:`recipients_allowed`.
    """

    marking: Tlp
    sender: int
    recipients: frozenset[int]
    groups: tuple[GroupMembers, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.recipients:
            raise NoRecipientsError(
                f"{self.marking.label} share by organisation {self.sender} has no recipient: "
                "it goes nowhere"
            )
        if self.sender in self.recipients:
            raise PolicyError(f"organisation {self.sender} cannot be a recipient of its own share")
        if self.marking is Tlp.RED and self.groups:
            raise PolicyError("TLP:RED goes to named organisations, never to a sharing group")

    @classmethod
    def plan(
        cls,
        marking: Tlp,
        *,
        sender: int,
        named_recipients: Iterable[int],
        groups: Iterable[GroupMembers] = (),
        known_organisations: Iterable[int] | None = None,
    ) -> Share:
        """The share the source asks for, with its recipients resolved (see recipients_allowed)."""
        group_list = tuple(groups)
        recipients = recipients_allowed(
            marking,
            sender=sender,
            named_recipients=named_recipients,
            groups=group_list,
            known_organisations=known_organisations,
        )
        return cls(marking=marking, sender=sender, recipients=recipients, groups=group_list)

    def forward_decision(
        self, *, holder_org: int, target_org: int, holder_partners: Iterable[int] = ()
    ) -> Decision:
        """:func:`may_forward` for an object received through this share."""
        return may_forward(
            self.marking,
            original_recipients=self.recipients,
            holder_org=holder_org,
            target_org=target_org,
            holder_partners=holder_partners,
            community_groups=self.groups,
        )


def may_forward(
    object_marking: Tlp,
    *,
    original_recipients: Iterable[int],
    holder_org: int,
    target_org: int,
    holder_partners: Iterable[int] = (),
    community_groups: Iterable[GroupMembers] = (),
) -> Decision:
    """May ``holder_org``, which holds an object marked ``object_marking``, pass it to
    ``target_org``?

    ``original_recipients`` are the organisations the source shared it with,
    ``holder_partners`` the holder's own named partners, ``community_groups`` the sharing
    groups the share went through. Passing the object within the holder organisation
    (``target_org == holder_org``) is not a re-share and is always allowed. Otherwise the
    TLP 2.0 rule of the marking decides (module docstring); anything not explicitly allowed
    is refused.
    """
    recipients = frozenset(original_recipients)
    if target_org == holder_org:
        return Decision(True, f"{object_marking.label}: stays within organisation {holder_org}")
    if object_marking is Tlp.CLEAR:
        return Decision(True, "TLP:CLEAR: disclosure is not limited")
    if object_marking is Tlp.RED:
        return Decision(
            False, "TLP:RED: for the named recipients only; a recipient never re-shares it"
        )
    if object_marking is Tlp.AMBER_STRICT:
        return Decision(
            False,
            f"TLP:AMBER+STRICT: stays within the recipient organisation {holder_org}",
        )
    if object_marking is Tlp.AMBER:
        if holder_org not in recipients:
            return Decision(
                False,
                f"TLP:AMBER: organisation {holder_org} was not a recipient of the source's "
                "share, so it may not pass it on",
            )
        if target_org in frozenset(holder_partners):
            return Decision(
                True,
                f"TLP:AMBER: organisation {target_org} is a named partner of {holder_org} "
                "(need-to-know)",
            )
        return Decision(
            False,
            f"TLP:AMBER: organisation {target_org} is not a named partner of {holder_org}",
        )
    # GREEN: the community is the share's recipients and the members of its groups.
    community = set(recipients)
    for group in community_groups:
        community |= group.members
    if holder_org not in community:
        return Decision(
            False, f"TLP:GREEN: organisation {holder_org} is outside the share's community"
        )
    if target_org in community:
        return Decision(True, f"TLP:GREEN: organisation {target_org} is in the share's community")
    return Decision(
        False,
        f"TLP:GREEN: organisation {target_org} is outside the share's community "
        "(its recipients and sharing groups)",
    )


def _marking_refs(stix_object: Mapping[str, Any]) -> list[str]:
    """Every marking id an object names: object-level and granular."""
    where = stix_object.get("id", "?")
    refs: list[str] = []
    object_refs = stix_object.get("object_marking_refs", [])
    if not isinstance(object_refs, list) or not all(isinstance(r, str) for r in object_refs):
        raise MarkingError(f"object_marking_refs of {where} is not a list of ids")
    refs.extend(object_refs)
    granular = stix_object.get("granular_markings", [])
    if not isinstance(granular, list):
        raise MarkingError(f"granular_markings of {where} is not a list")
    for entry in granular:
        ref = entry.get("marking_ref") if isinstance(entry, Mapping) else None
        if ref is None and isinstance(entry, Mapping) and "lang" in entry:
            continue  # a language marking (STIX 2.1 section 7.2.3), not a data marking
        if not isinstance(ref, str):
            raise MarkingError(f"a granular marking of {where} has no marking_ref")
        refs.append(ref)
    return refs


def marking_of(stix_object: Mapping[str, Any]) -> Tlp:
    """The TLP level that governs a STIX object as a whole.

    Object-level (``object_marking_refs``) and granular (``granular_markings``) TLP markings
    count alike, since forwarding the object forwards every part of it: the most restrictive
    wins. No TLP marking at all (none, or only statements and other markings) means
    TLP:AMBER+STRICT. The TLP marking definitions (and the TLP extension definition) are
    public and are TLP:CLEAR. Raises MarkingError if the marking properties are malformed.
    """
    if stix_object.get("id") in _DEFINITION_IDS:
        return Tlp.CLEAR
    levels = [
        level
        for ref in _marking_refs(stix_object)
        if (level := tlp_of_marking_ref(ref)) is not None
    ]
    return most_restrictive(levels) or UNMARKED


def apply_marking(
    stix_object: Mapping[str, Any], level: Tlp, *, lower: bool = False
) -> dict[str, Any]:
    """A copy of ``stix_object`` whose object-level TLP marking is ``level``.

    Other (non-TLP) markings are kept. Raises PolicyError if the object already carries a
    more restrictive TLP marking and ``lower`` is not set: lowering a marking is the
    source's explicit decision, never a side effect.
    """
    current = [
        found
        for ref in _marking_refs(stix_object)
        if (found := tlp_of_marking_ref(ref)) is not None
    ]
    strictest = most_restrictive(current)
    if strictest is not None and strictest.rank > level.rank and not lower:
        raise PolicyError(
            f"{stix_object.get('id', '?')} is marked {strictest.label}: refusing to lower it to "
            f"{level.label}"
        )
    refs = [
        ref for ref in stix_object.get("object_marking_refs", []) if tlp_of_marking_ref(ref) is None
    ]
    marked = dict(stix_object)
    marked["object_marking_refs"] = [level.marking_id, *refs]
    return marked


def marking_definitions_for(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The TLP 2.0 marking-definition objects that ``objects`` refer to, for a bundle."""
    used: set[Tlp] = set()
    for obj in objects:
        for ref in _marking_refs(obj):
            level = tlp_of_marking_ref(ref)
            if level is not None and ref == TLP_IDS[level]:
                used.add(level)
    return [marking_definition(level) for level in sorted(used, key=lambda lv: lv.rank)]
