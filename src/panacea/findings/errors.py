"""Finding errors.

::

    PanaceaError
    └── FindingError          a finding that does not exist or a status change that is not allowed
"""

from panacea.errors import PanaceaError


class FindingError(PanaceaError):
    """A finding that does not exist, or a status change that is not allowed."""
