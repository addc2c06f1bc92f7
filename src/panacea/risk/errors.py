"""Risk model errors.

::

    PanaceaError
    └── RiskModelError     the model cannot be built or computed (bad parameters, unknown target)
"""

from panacea.errors import PanaceaError


class RiskModelError(PanaceaError):
    """The risk model cannot be built or computed as asked."""
