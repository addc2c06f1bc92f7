"""The TLP rules applied to a push: what the source may send, what a holder may pass on.

Organisations are named by their STIX identities across platforms (an organisation id means
nothing on another instance), while :mod:`panacea.sharing.policy` decides over integer
organisation ids: :class:`IdentityNumbers` numbers the identities of one decision.

- :func:`source_share`: the organisation shares *its own* objects with a peer's audience.
  TLP does not limit the source; :meth:`panacea.sharing.policy.Share.plan` still refuses a
  share that names nobody but the sender.
- :func:`forward_decision`: the organisation passes on an object it *received*, whose marking
  and original recipients its receipt recorded, to every organisation of a peer's audience.
  :func:`panacea.sharing.policy.may_forward` must allow each of them: TLP:RED never goes,
  TLP:AMBER+STRICT never leaves the organisation, unmarked counts as AMBER+STRICT, AMBER goes
  only to named partners, GREEN only within the share's community.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from panacea.sharing.policy import Decision, Share, may_forward
from panacea.sharing.tlp import Tlp

_ORGANISATION = re.compile(r"organisation (\d+)")


class IdentityNumbers:
    """Numbers (1, 2, ...) for STIX identities, stable within one decision."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def of(self, identity_ref: str) -> int:
        return self._numbers.setdefault(identity_ref, len(self._numbers) + 1)

    def all_of(self, identity_refs: Iterable[str]) -> frozenset[int]:
        return frozenset(self.of(ref) for ref in identity_refs)

    def named(self, reason: str) -> str:
        """``reason`` with ``organisation N`` written as the identity N stands for."""
        refs = {number: ref for ref, number in self._numbers.items()}

        def name(match: re.Match[str]) -> str:
            ref = refs.get(int(match.group(1)))
            return f"organisation {ref}" if ref else match.group(0)

        return _ORGANISATION.sub(name, reason)


def source_share(marking: Tlp, *, sender: str, audience: Sequence[str]) -> Share:
    """The share of the sender's own objects marked ``marking`` with a peer's audience.

    Raises NoRecipientsError if the audience names nobody but the sender.
    """
    numbers = IdentityNumbers()
    return Share.plan(
        marking,
        sender=numbers.of(sender),
        named_recipients=[numbers.of(a) for a in audience if a != sender],
    )


def forward_decision(
    marking: Tlp,
    *,
    original_recipients: Iterable[str],
    holder: str,
    audience: Sequence[str],
    partners: bool,
) -> Decision:
    """May ``holder`` pass an object it received to every organisation of ``audience``?

    ``partners``: the audience are the holder's named partners (TLP:AMBER's "clients").
    The first refusal is the answer (with its rule); an empty audience refuses.
    """
    if not audience:
        return Decision(False, "the peer names no recipient: nothing goes nowhere")
    numbers = IdentityNumbers()
    holder_number = numbers.of(holder)
    recipients = numbers.all_of(original_recipients)
    targets = [numbers.of(a) for a in audience]
    partner_numbers = frozenset(targets) if partners else frozenset()
    for target, identity in zip(targets, audience, strict=True):
        decision = may_forward(
            marking,
            original_recipients=recipients,
            holder_org=holder_number,
            target_org=target,
            holder_partners=partner_numbers,
        )
        if not decision.allowed:
            return Decision(False, f"to {identity}: {numbers.named(decision.reason)}")
    return Decision(True, f"{marking.label}: every recipient of the peer may receive it")
