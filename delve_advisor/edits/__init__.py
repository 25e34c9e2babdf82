"""Edits: typed, replayable changes to a copy of a model, applied, verified and measured."""

from delve_advisor.edits._base import (
    Edit,
    edit_from_dict,
    list_edits,
    register_edit,
    unregister_edit,
)
from delve_advisor.edits._targets import get_module, list_module_paths, list_node_names
from delve_advisor.edits.apply import (
    apply_edits,
    coupled_strides,
    load_edits,
    output_signature,
    save_edits,
)
from delve_advisor.edits.operations import (
    ChangeStem,
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    ScaleWidth,
    SetStride,
    TruncateStage,
)
from delve_advisor.edits.prediction import Prediction, predict
from delve_advisor.edits.result import EditResult
from delve_advisor.edits.saved import apply_to_spec, edits_from_report, load_edited, save_edited

__all__ = [
    "ChangeStem",
    "Edit",
    "EditResult",
    "Prediction",
    "ReplaceLinearInput",
    "ReplaceWithIdentity",
    "ResizeInput",
    "ScaleWidth",
    "SetStride",
    "TruncateStage",
    "apply_edits",
    "apply_to_spec",
    "coupled_strides",
    "edit_from_dict",
    "edits_from_report",
    "get_module",
    "list_edits",
    "list_module_paths",
    "list_node_names",
    "load_edited",
    "load_edits",
    "output_signature",
    "predict",
    "register_edit",
    "save_edited",
    "save_edits",
    "unregister_edit",
]
