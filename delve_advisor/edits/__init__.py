"""Edits: replayable changes to a copy of a model (strides, identity, head, input size)."""

from delve_advisor.edits.apply import apply_edits, load_edits, output_signature, save_edits
from delve_advisor.edits.operations import (
    Edit,
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
    edit_from_dict,
    get_module,
    list_edits,
    list_module_paths,
    register_edit,
)

__all__ = [
    "Edit",
    "ReplaceLinearInput",
    "ReplaceWithIdentity",
    "ResizeInput",
    "SetStride",
    "apply_edits",
    "edit_from_dict",
    "get_module",
    "list_edits",
    "list_module_paths",
    "load_edits",
    "output_signature",
    "register_edit",
    "save_edits",
]
