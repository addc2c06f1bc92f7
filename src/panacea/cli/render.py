"""Rendering for people (rich tables) and for programs (versioned JSON, see docs/cli-json.md)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from rich.console import Console

console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _default(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def print_json(document: dict[str, Any]) -> None:
    """Write ``document`` as JSON on standard output (plain, for pipes)."""
    print(json.dumps(document, default=_default, indent=2, ensure_ascii=False))
