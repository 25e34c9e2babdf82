"""delve-advisor: finds the layers of a PyTorch model that do no useful work on its data.

The public API lives here; see ``docs/`` for the guides.
"""

from __future__ import annotations

from delve_advisor import exceptions
from delve_advisor.advisor import (
    TailThresholds,
    advise,
    count_parameters,
    layer_costs,
    total_flops,
)
from delve_advisor.advisor.report import Prediction, Report, Suggestion
from delve_advisor.advisor.writers import register_report_writer
from delve_advisor.data import Data, load_data
from delve_advisor.edits import apply_edits, list_module_paths, load_edits, save_edits
from delve_advisor.exceptions import DelveAdvisorError
from delve_advisor.graph import (
    GlobalOp,
    LayerReceptiveField,
    MergeOp,
    PointwiseOp,
    ReceptiveFieldAnalysis,
    RuleContext,
    TransposedOp,
    UpsampleOp,
    WindowOp,
    receptive_field,
    register_rf_rule,
)
from delve_advisor.models import check_compatibility, list_model_specs, load_model
from delve_advisor.saturation import (
    AbstractWriter,
    CheckLayerSat,
    SaturationTracker,
    recompute_saturation,
    register_layer_handler,
    register_writer,
)
from delve_advisor.search import load_recipe, run_search
from delve_advisor.training import train_model

__version__ = "0.1.0"

__all__ = [
    "AbstractWriter",
    "CheckLayerSat",
    "Data",
    "DelveAdvisorError",
    "GlobalOp",
    "LayerReceptiveField",
    "MergeOp",
    "PointwiseOp",
    "Prediction",
    "ReceptiveFieldAnalysis",
    "Report",
    "RuleContext",
    "SaturationTracker",
    "Suggestion",
    "TailThresholds",
    "TransposedOp",
    "UpsampleOp",
    "WindowOp",
    "__version__",
    "advise",
    "apply_edits",
    "check_compatibility",
    "count_parameters",
    "exceptions",
    "layer_costs",
    "list_model_specs",
    "list_module_paths",
    "load_data",
    "load_edits",
    "load_model",
    "load_recipe",
    "receptive_field",
    "recompute_saturation",
    "register_layer_handler",
    "register_report_writer",
    "register_rf_rule",
    "register_writer",
    "run_search",
    "save_edits",
    "total_flops",
    "train_model",
]
