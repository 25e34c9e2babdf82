"""Graph capture and receptive-field analysis (see ``docs/receptive-field.md``)."""

from __future__ import annotations

from delve_advisor.graph.capture import CapturedGraph, CapturedNode, capture_graph
from delve_advisor.graph.receptive_field import (
    LayerReceptiveField,
    ReceptiveFieldAnalysis,
    receptive_field,
)
from delve_advisor.graph.rules import (
    GlobalOp,
    MergeOp,
    PointwiseOp,
    RuleContext,
    TensorInfo,
    TransposedOp,
    UpsampleOp,
    WindowOp,
    get_rf_rule,
    list_rf_rules,
    register_rf_rule,
    unregister_rf_rule,
)

__all__ = [
    "CapturedGraph",
    "CapturedNode",
    "GlobalOp",
    "LayerReceptiveField",
    "MergeOp",
    "PointwiseOp",
    "ReceptiveFieldAnalysis",
    "RuleContext",
    "TensorInfo",
    "TransposedOp",
    "UpsampleOp",
    "WindowOp",
    "capture_graph",
    "get_rf_rule",
    "list_rf_rules",
    "receptive_field",
    "register_rf_rule",
    "unregister_rf_rule",
]
