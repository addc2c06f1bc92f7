"""Inventory errors.

::

    PanaceaError
    └── InventoryError          something about the inventory is wrong
        ├── UnknownOrganisationError an organisation name that does not exist
        ├── UnknownAssetError        an asset name or id that does not exist in the organisation
        └── ImportFileError     a file that cannot be imported: names file and line or field
"""

from __future__ import annotations

from panacea.errors import PanaceaError


class InventoryError(PanaceaError):
    """Base of inventory errors."""


class UnknownOrganisationError(InventoryError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown organisation {name!r}")
        self.name = name


class UnknownAssetError(InventoryError):
    def __init__(self, ref: str, organisation: str) -> None:
        super().__init__(f"unknown asset {ref!r} in organisation {organisation!r}")
        self.ref = ref


class ImportFileError(InventoryError):
    """A file that cannot be imported. ``location`` is a line (``line 12``) or a field path."""

    def __init__(self, source: str, location: str | None, message: str) -> None:
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.location = location
        self.message = message
