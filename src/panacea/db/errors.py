"""Storage errors.

::

    PanaceaError
    └── StorageError   the database cannot be opened, migrated or written
"""

from panacea.errors import PanaceaError


class StorageError(PanaceaError):
    """The database could not be opened, migrated or written."""
