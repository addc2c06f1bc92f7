"""The TLP 2.0 sharing rules: who receives a share, and what a recipient may pass on.

Unit tests of each rule, and property tests (hypothesis) that no sequence of forwards ever
takes an object outside the audience its marking allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.sharing.errors import MarkingError, NoRecipientsError, PolicyError
from panacea.sharing.policy import (
    UNMARKED,
    GroupMembers,
    Share,
    apply_marking,
    marking_definitions_for,
    marking_of,
    may_forward,
    recipients_allowed,
)
from panacea.sharing.tlp import TLP_EXTENSION_ID, TLP_IDS, Tlp, marking_definition

SOURCE, ALPHA, BETA, GAMMA, DELTA, OUTSIDER = 1, 2, 3, 4, 5, 99
ISAC = GroupMembers(id=10, name="Regional hospital ISAC", members=frozenset({SOURCE, ALPHA, BETA}))
LAB_NETWORK = GroupMembers(id=11, name="Lab network", members=frozenset({SOURCE, GAMMA}))
FOREIGN = GroupMembers(id=12, name="Not ours", members=frozenset({BETA, DELTA}))


def indicator(*marking_refs: str, granular: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2024-03-12T03:14:00.000Z",
        "modified": "2024-03-12T03:14:00.000Z",
        "pattern": "[ipv4-addr:value = '185.220.101.47']",
        "pattern_type": "stix",
        "valid_from": "2024-03-12T03:14:00Z",
    }
    if marking_refs:
        obj["object_marking_refs"] = list(marking_refs)
    if granular is not None:
        obj["granular_markings"] = granular
    return obj


# --------------------------------------------------------------------------- sharing


def test_named_recipients_and_group_members_are_the_audience_without_the_sender() -> None:
    audience = recipients_allowed(
        Tlp.GREEN, sender=SOURCE, named_recipients=[DELTA], groups=[ISAC, LAB_NETWORK]
    )
    assert audience == {ALPHA, BETA, GAMMA, DELTA}


def test_a_share_with_no_recipient_goes_nowhere() -> None:
    with pytest.raises(NoRecipientsError, match="names no recipient"):
        recipients_allowed(Tlp.CLEAR, sender=SOURCE, named_recipients=[], groups=[])
    with pytest.raises(NoRecipientsError):
        Share(marking=Tlp.CLEAR, sender=SOURCE, recipients=frozenset())


def test_naming_only_oneself_or_a_group_of_one_is_no_recipient() -> None:
    alone = GroupMembers(id=13, name="Just us", members=frozenset({SOURCE}))
    with pytest.raises(NoRecipientsError):
        recipients_allowed(Tlp.GREEN, sender=SOURCE, named_recipients=[SOURCE], groups=[alone])


def test_only_members_share_through_a_group() -> None:
    with pytest.raises(PolicyError, match="not a member of sharing group 12"):
        recipients_allowed(Tlp.GREEN, sender=SOURCE, named_recipients=[], groups=[FOREIGN])


def test_red_goes_to_named_organisations_only() -> None:
    assert recipients_allowed(Tlp.RED, sender=SOURCE, named_recipients=[ALPHA]) == {ALPHA}
    with pytest.raises(PolicyError, match="TLP:RED goes to organisations named one by one"):
        recipients_allowed(Tlp.RED, sender=SOURCE, named_recipients=[ALPHA], groups=[ISAC])
    with pytest.raises(PolicyError, match="TLP:RED"):
        Share(marking=Tlp.RED, sender=SOURCE, recipients=frozenset({ALPHA}), groups=(ISAC,))


@pytest.mark.parametrize("level", [Tlp.AMBER_STRICT, Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR])
def test_other_levels_may_go_to_groups(level: Tlp) -> None:
    share = Share.plan(level, sender=SOURCE, named_recipients=[], groups=[ISAC])
    assert share.recipients == {ALPHA, BETA}
    assert share.groups == (ISAC,)


def test_unknown_named_organisations_are_refused() -> None:
    with pytest.raises(PolicyError, match="no organisation 99"):
        recipients_allowed(
            Tlp.AMBER,
            sender=SOURCE,
            named_recipients=[ALPHA, OUTSIDER],
            known_organisations={1, 2, 3},
        )


@pytest.mark.parametrize("bad", [0, -3, True])
def test_named_recipients_must_be_organisation_ids(bad: int) -> None:
    with pytest.raises(PolicyError, match="is not an organisation id"):
        recipients_allowed(Tlp.AMBER, sender=SOURCE, named_recipients=[bad])


def test_the_sender_is_never_its_own_recipient() -> None:
    with pytest.raises(PolicyError, match="own share"):
        Share(marking=Tlp.GREEN, sender=SOURCE, recipients=frozenset({SOURCE, ALPHA}))
    assert (
        SOURCE
        not in Share.plan(Tlp.GREEN, sender=SOURCE, named_recipients=[SOURCE, ALPHA]).recipients
    )


# --------------------------------------------------------------------------- re-sharing


def forward(level: Tlp, holder: int, target: int, partners: frozenset[int] = frozenset()) -> bool:
    share = Share.plan(
        level, sender=SOURCE, named_recipients=[ALPHA], groups=[] if level is Tlp.RED else [ISAC]
    )
    decision = share.forward_decision(
        holder_org=holder, target_org=target, holder_partners=partners
    )
    assert decision.reason.startswith(level.label)
    return decision.allowed


def test_red_is_never_re_shared_not_even_to_another_recipient() -> None:
    share = Share.plan(Tlp.RED, sender=SOURCE, named_recipients=[ALPHA, BETA])
    decision = share.forward_decision(holder_org=ALPHA, target_org=BETA, holder_partners={BETA})
    assert not decision.allowed
    assert "never re-shares" in decision.reason
    assert share.forward_decision(holder_org=ALPHA, target_org=ALPHA).allowed


def test_amber_strict_stays_in_the_recipient_organisation() -> None:
    assert not forward(Tlp.AMBER_STRICT, ALPHA, BETA)  # even a fellow group member
    assert not forward(Tlp.AMBER_STRICT, ALPHA, GAMMA, frozenset({GAMMA}))  # even a partner
    assert forward(Tlp.AMBER_STRICT, ALPHA, ALPHA)


def test_amber_goes_only_to_the_recipients_own_named_partners() -> None:
    assert forward(Tlp.AMBER, ALPHA, GAMMA, frozenset({GAMMA}))
    assert not forward(Tlp.AMBER, ALPHA, GAMMA)
    assert not forward(Tlp.AMBER, ALPHA, BETA)  # in the group, but not a partner


def test_amber_passed_to_a_partner_goes_no_further() -> None:
    share = Share.plan(Tlp.AMBER, sender=SOURCE, named_recipients=[ALPHA])
    assert share.forward_decision(
        holder_org=ALPHA, target_org=GAMMA, holder_partners={GAMMA}
    ).allowed
    onward = share.forward_decision(holder_org=GAMMA, target_org=DELTA, holder_partners={DELTA})
    assert not onward.allowed
    assert "was not a recipient" in onward.reason


def test_green_stays_within_the_community_of_the_share() -> None:
    assert forward(Tlp.GREEN, ALPHA, BETA)  # ISAC member
    assert not forward(Tlp.GREEN, ALPHA, GAMMA)  # in another group of the sender, not this share's
    assert not forward(
        Tlp.GREEN, ALPHA, OUTSIDER, frozenset({OUTSIDER})
    )  # a partner is not community
    share = Share.plan(Tlp.GREEN, sender=SOURCE, named_recipients=[ALPHA], groups=[ISAC])
    assert not share.forward_decision(holder_org=OUTSIDER, target_org=ALPHA).allowed


def test_green_shared_without_groups_stays_with_its_recipients() -> None:
    share = Share.plan(Tlp.GREEN, sender=SOURCE, named_recipients=[ALPHA, BETA])
    assert share.forward_decision(holder_org=ALPHA, target_org=BETA).allowed
    assert not share.forward_decision(holder_org=ALPHA, target_org=GAMMA).allowed


def test_clear_goes_anywhere() -> None:
    assert forward(Tlp.CLEAR, ALPHA, OUTSIDER)
    assert may_forward(
        Tlp.CLEAR, original_recipients=(), holder_org=OUTSIDER, target_org=DELTA
    ).allowed


# --------------------------------------------------------------------------- markings of objects


def test_unmarked_is_amber_strict() -> None:
    assert UNMARKED is Tlp.AMBER_STRICT
    assert marking_of(indicator()) is Tlp.AMBER_STRICT


@pytest.mark.parametrize("level", list(Tlp))
def test_the_marking_of_a_marked_object(level: Tlp) -> None:
    assert marking_of(indicator(TLP_IDS[level])) is level


def test_several_markings_mean_the_most_restrictive() -> None:
    assert marking_of(indicator(TLP_IDS[Tlp.CLEAR], TLP_IDS[Tlp.AMBER])) is Tlp.AMBER
    granular = [{"marking_ref": TLP_IDS[Tlp.RED], "selectors": ["description"]}]
    assert marking_of(indicator(TLP_IDS[Tlp.GREEN], granular=granular)) is Tlp.RED


def test_markings_that_are_not_tlp_leave_the_object_unmarked() -> None:
    statement = "marking-definition--2c5f1e4b-0000-4000-8000-000000000001"
    assert marking_of(indicator(statement)) is Tlp.AMBER_STRICT
    assert marking_of(indicator(statement, TLP_IDS[Tlp.GREEN])) is Tlp.GREEN
    language = [{"lang": "it", "selectors": ["description"]}]
    assert marking_of(indicator(TLP_IDS[Tlp.CLEAR], granular=language)) is Tlp.CLEAR


def test_tlp_1_markings_of_older_producers_are_understood() -> None:
    assert marking_of(indicator(stix2.TLP_WHITE.id)) is Tlp.CLEAR
    assert marking_of(indicator(stix2.TLP_GREEN.id, stix2.TLP_RED.id)) is Tlp.RED


def test_the_marking_definitions_themselves_are_public() -> None:
    for level in Tlp:
        assert marking_of(marking_definition(level)) is Tlp.CLEAR


@pytest.mark.parametrize(
    "broken",
    [
        {"object_marking_refs": TLP_IDS[Tlp.GREEN]},
        {"object_marking_refs": [1]},
        {"granular_markings": {"marking_ref": TLP_IDS[Tlp.GREEN]}},
        {"granular_markings": [{"selectors": ["name"]}]},
    ],
)
def test_malformed_markings_are_refused(broken: Mapping[str, Any]) -> None:
    with pytest.raises(MarkingError):
        marking_of({**indicator(), **broken})


def test_apply_marking_replaces_the_tlp_marking_and_keeps_the_others() -> None:
    statement = "marking-definition--2c5f1e4b-0000-4000-8000-000000000001"
    marked = apply_marking(indicator(TLP_IDS[Tlp.GREEN], statement), Tlp.AMBER)
    assert marked["object_marking_refs"] == [TLP_IDS[Tlp.AMBER], statement]
    assert marking_of(marked) is Tlp.AMBER


def test_apply_marking_never_lowers_silently() -> None:
    red = indicator(TLP_IDS[Tlp.RED])
    with pytest.raises(PolicyError, match="refusing to lower it to TLP:GREEN"):
        apply_marking(red, Tlp.GREEN)
    assert marking_of(apply_marking(red, Tlp.GREEN, lower=True)) is Tlp.GREEN
    assert red["object_marking_refs"] == [TLP_IDS[Tlp.RED]]  # the original is untouched


def test_the_marking_definitions_a_bundle_needs() -> None:
    objects = [
        indicator(TLP_IDS[Tlp.AMBER]),
        indicator(TLP_IDS[Tlp.CLEAR]),
        indicator(stix2.TLP_RED.id),
    ]
    found = marking_definitions_for(objects)
    assert [m["name"] for m in found] == ["TLP:CLEAR", "TLP:AMBER"]
    assert all(TLP_EXTENSION_ID in m["extensions"] for m in found)


# --------------------------------------------------------------------------- properties

ORGS = st.integers(min_value=1, max_value=12)
ORG_SETS = st.frozensets(ORGS, max_size=8)
GROUPS = st.lists(
    st.builds(GroupMembers, id=st.integers(1, 50), name=st.just("g"), members=ORG_SETS), max_size=4
)
LEVELS = st.sampled_from(list(Tlp))


def bound(
    level: Tlp,
    recipients: frozenset[int],
    groups: list[GroupMembers],
    partners: Mapping[int, frozenset[int]],
) -> frozenset[int] | None:
    """Who may ever hold the object, by TLP 2.0 (None: anyone), written independently."""
    if level is Tlp.CLEAR:
        return None
    if level in (Tlp.RED, Tlp.AMBER_STRICT):
        return recipients
    if level is Tlp.AMBER:
        return recipients.union(*(partners.get(r, frozenset()) for r in recipients))
    return recipients.union(*(g.members for g in groups))


@settings(max_examples=300, deadline=None)
@given(
    level=LEVELS,
    recipients=ORG_SETS,
    groups=GROUPS,
    holder=ORGS,
    target=ORGS,
    partners=ORG_SETS,
)
def test_a_single_forward_never_leaves_the_marking_audience(
    level: Tlp,
    recipients: frozenset[int],
    groups: list[GroupMembers],
    holder: int,
    target: int,
    partners: frozenset[int],
) -> None:
    decision = may_forward(
        level,
        original_recipients=recipients,
        holder_org=holder,
        target_org=target,
        holder_partners=partners,
        community_groups=groups,
    )
    if target == holder or level is Tlp.CLEAR:
        assert decision.allowed
    elif level in (Tlp.RED, Tlp.AMBER_STRICT):
        assert not decision.allowed
    elif level is Tlp.AMBER:
        assert decision.allowed == (holder in recipients and target in partners)
    else:
        community = recipients.union(*(g.members for g in groups))
        assert decision.allowed == (holder in community and target in community)


@settings(max_examples=200, deadline=None)
@given(
    level=LEVELS,
    recipients=ORG_SETS.filter(bool),
    groups=GROUPS,
    partners=st.dictionaries(ORGS, ORG_SETS, max_size=12),
    attempts=st.lists(st.tuples(ORGS, ORGS), max_size=60),
)
def test_no_chain_of_forwards_widens_the_audience(
    level: Tlp,
    recipients: frozenset[int],
    groups: list[GroupMembers],
    partners: dict[int, frozenset[int]],
    attempts: list[tuple[int, int]],
) -> None:
    """Every holder tries to pass the object on; the holders stay within the bound."""
    holders = set(recipients)
    for holder, target in attempts:
        if holder not in holders:
            continue
        decision = may_forward(
            level,
            original_recipients=recipients,
            holder_org=holder,
            target_org=target,
            holder_partners=partners.get(holder, frozenset()),
            community_groups=groups,
        )
        if decision.allowed:
            holders.add(target)
    limit = bound(level, recipients, groups, partners)
    if limit is not None:
        assert holders <= limit
    if level is Tlp.RED:
        assert holders == recipients


@settings(max_examples=200, deadline=None)
@given(level=LEVELS, sender=ORGS, named=ORG_SETS, groups=GROUPS)
def test_a_planned_share_reaches_exactly_the_named_and_the_groups(
    level: Tlp, sender: int, named: frozenset[int], groups: list[GroupMembers]
) -> None:
    usable = [g for g in groups if sender in g.members]
    expected = named.union(*(g.members for g in usable)) - {sender}
    if level is Tlp.RED and usable:
        with pytest.raises(PolicyError):
            Share.plan(level, sender=sender, named_recipients=named, groups=usable)
    elif not expected:
        with pytest.raises(NoRecipientsError):
            Share.plan(level, sender=sender, named_recipients=named, groups=usable)
    else:
        share = Share.plan(level, sender=sender, named_recipients=named, groups=usable)
        assert share.recipients == expected
        assert sender not in share.recipients
