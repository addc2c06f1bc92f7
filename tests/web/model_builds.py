"""Counting how often the risk model is built, through the real function."""

from __future__ import annotations

from typing import Any

import pytest

from panacea.risk import assessment
from panacea.risk.construction import BuiltGraph


def count_model_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, every attack graph an assessment builds is counted (one item per build,
    the graph's size) in the list returned; each call still goes to the real builder."""
    builds: list[int] = []
    real = assessment.build_attack_graph

    def counted(*args: Any, **kwargs: Any) -> BuiltGraph:
        built = real(*args, **kwargs)
        builds.append(built.graph.size)
        return built

    monkeypatch.setattr(assessment, "build_attack_graph", counted)
    return builds
