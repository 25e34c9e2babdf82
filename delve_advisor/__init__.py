"""delve-advisor: finds the layers of a PyTorch model that do no useful work on its data.

The public API lives here; see ``docs/`` for the guides.
"""

from __future__ import annotations

import delve_advisor.exceptions as exceptions
from delve_advisor._deprecation import deprecated_attributes, deprecated_function
from delve_advisor._version import __version__
from delve_advisor.advisor import TailThresholds, advise
from delve_advisor.cost import count_parameters, layer_costs, total_flops
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
    list_rf_rules,
    receptive_field,
    register_rf_rule,
    unregister_rf_rule,
)
from delve_advisor.models import check_compatibility, list_model_specs, load_model
from delve_advisor.report import (
    LayerEvidence,
    Prediction,
    Report,
    Suggestion,
    list_report_formats,
    register_report_format,
    unregister_report_format,
)
from delve_advisor.saturation import (
    CheckLayerSat,
    SaturationTracker,
    TrackerOutput,
    list_tracker_outputs,
    recompute_saturation,
    register_layer_handler,
    register_tracker_output,
)
from delve_advisor.saturation.writers import DEPRECATED_NAMES as _SATURATION_DEPRECATED
from delve_advisor.search import load_recipe, run_search
from delve_advisor.training import train_model

__all__ = [
    "CheckLayerSat",
    "Data",
    "DelveAdvisorError",
    "GlobalOp",
    "LayerEvidence",
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
    "TrackerOutput",
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
    "list_report_formats",
    "list_rf_rules",
    "list_tracker_outputs",
    "load_data",
    "load_edits",
    "load_model",
    "load_recipe",
    "receptive_field",
    "recompute_saturation",
    "register_layer_handler",
    "register_report_format",
    "register_rf_rule",
    "register_tracker_output",
    "run_search",
    "save_edits",
    "total_flops",
    "train_model",
    "unregister_report_format",
    "unregister_rf_rule",
]

# Renamed (issue 7): the old names keep working and warn.
__getattr__ = deprecated_attributes(
    __name__,
    {
        "AbstractWriter": _SATURATION_DEPRECATED["AbstractWriter"],
        "register_writer": _SATURATION_DEPRECATED["register_writer"],
        "register_report_writer": (
            deprecated_function(
                register_report_format,
                "register_report_writer",
                "delve_advisor.register_report_format",
            ),
            "delve_advisor.register_report_format",
        ),
    },
)
