"""delve-advisor: finds the layers of a PyTorch model that do no useful work on its data.

The public API lives here; see ``docs/`` for the guides.
"""

from __future__ import annotations

from delve_advisor import exceptions
from delve_advisor.exceptions import DelveAdvisorError
from delve_advisor.saturation import (
    AbstractWriter,
    SaturationTracker,
    recompute_saturation,
    register_layer_handler,
    register_writer,
)

__version__ = "0.1.0"

__all__ = [
    "AbstractWriter",
    "DelveAdvisorError",
    "SaturationTracker",
    "__version__",
    "exceptions",
    "recompute_saturation",
    "register_layer_handler",
    "register_writer",
]
