"""The fixed point's sweep order (it sets the work, never the result)."""

from __future__ import annotations

from panacea.risk.attack_graph import Gate
from panacea.risk.fixpoint import structure
from tests.risk.test_simulate import build


def test_what_an_unlikely_entry_reaches_first_is_ordered_by_the_likely_paths() -> None:
    """An insider (5%) reaches the LAN at once, but in most worlds it is reached through a
    phished workstation: the sweep puts the LAN after the workstation, so that one pass
    derives those worlds; nodes only the unlikely entry reaches still get a place."""
    graph = build(
        {
            "e_phishing": (Gate.OR, 1.0),
            "e_insider": (Gate.OR, 0.05),
            "workstation": (Gate.AND, 0.3),
            "lan": (Gate.OR, 1.0),
            "server": (Gate.AND, 0.5),
            "badge": (Gate.AND, 0.9),  # only the insider gets here
        },
        [
            ("e_phishing", "workstation"),
            ("workstation", "lan"),
            ("e_insider", "lan"),
            ("lan", "server"),
            ("e_insider", "badge"),
        ],
    )
    level = {label: int(structure(graph).level[graph.node(label)]) for label in graph.labels}
    assert level["e_phishing"] == 0
    assert level["workstation"] < level["lan"] < level["server"]
    assert level["e_insider"] > level["server"]
    assert level["badge"] > level["e_insider"]
