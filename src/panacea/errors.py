"""The root of PANACEA's exceptions.

::

    PanaceaError
    ├── StorageError            (panacea.db.errors)
    ├── InventoryError          (panacea.inventory.errors)
    │   └── ImportFileError     a file that cannot be imported: names file, line or field
    ├── FeedError               (panacea.vulndb.errors)
    └── FindingError            (panacea.findings.errors)

Every public function raises only these; library errors are wrapped with ``raise ... from``.
"""


class PanaceaError(Exception):
    """Base of every error the platform raises on purpose."""
