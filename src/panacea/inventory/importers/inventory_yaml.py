"""Inventory file importer (YAML): parse, validate the shape, check references, apply.

Errors name the field path and, where the YAML tells it, the line:
``inventory.yaml: assets[3].zone (line 41): unknown zone 'icu'``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from panacea.inventory.errors import ImportFileError
from panacea.inventory.importers.interface import ImportContext, ImportReport
from panacea.inventory.importers.inventory_apply import apply_document
from panacea.inventory.importers.inventory_references import ReferenceError, check_references
from panacea.inventory.importers.inventory_schema import InventoryDocument

# The C loader is much faster on large CMDB exports; SafeLoader builds no arbitrary objects.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_inventory(raw: bytes, source: str) -> InventoryDocument:
    """Parse and validate an inventory file; raise ImportFileError naming the bad field."""
    try:
        data = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ImportFileError(source, where, f"not valid YAML: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise ImportFileError(source, None, f"not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ImportFileError(source, None, "an inventory file must be a mapping at the top")
    try:
        return InventoryDocument.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        path = format_path(first["loc"])
        raise ImportFileError(
            source, _with_line(raw, first["loc"], path), _message(first["msg"], first.get("input"))
        ) from e


def format_path(loc: tuple[int | str, ...]) -> str:
    """``('assets', 3, 'zone')`` -> ``assets[3].zone``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(msg: str, value: object) -> str:
    if isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
        return f"{msg} (got {value!r})"
    return msg


def _with_line(raw: bytes, loc: tuple[int | str, ...], path: str) -> str:
    line = locate_line(raw, loc)
    return f"{path} (line {line})" if line else path


def locate_line(raw: bytes, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``loc``, or of its nearest existing parent."""
    try:
        node: Any = yaml.compose(raw, Loader=_Loader)
    except yaml.YAMLError:
        return None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1 if node is not None else None


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value
    return None


class InventoryYamlImporter:
    """Imports the inventory file of ``docs/inventory.md``."""

    kind: ClassVar[str] = "inventory"

    def run(self, session: Session, raw: bytes, context: ImportContext) -> ImportReport:
        document = parse_inventory(raw, context.source)
        try:
            check_references(session, context.organisation.id, document)
        except ReferenceError as e:
            where = _with_line(raw, e.loc, format_path(e.loc))
            raise ImportFileError(context.source, where, e.message) from e
        report = ImportReport(kind=self.kind, source=context.source)
        apply_document(session, context, document, report)
        return report
