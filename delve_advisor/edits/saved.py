"""Saving an edited model as data (weights, edits, model spec) and rebuilding it later.

No model object is pickled: :func:`load_edited` builds the model from its spec with
:func:`delve_advisor.models.load_model`, replays the edits, and loads the weights with
``weights_only=True``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from delve_advisor.edits._base import edit_from_dict
from delve_advisor.edits.apply import apply_edits
from delve_advisor.edits.result import EditResult
from delve_advisor.exceptions import EditError, InvalidArgumentError
from delve_advisor.models import load_model

__all__ = ["apply_to_spec", "edits_from_report", "load_edited", "save_edited"]

_FORMAT = "delve-advisor-edited/1"


def save_edited(
    path: str | os.PathLike,
    result: EditResult,
    model_spec: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
) -> Path:
    """Writes an edited model: its state_dict, the edit list, the model spec and input size.

    Args:
        path: The file to write (``torch.save`` format, plain containers and tensors only).
        result: What :func:`~delve_advisor.edits.apply_edits` returned (possibly trained since).
        model_spec: The spec that builds the unedited model (``torchvision:resnet18``,
            ``package.module:factory``), see :func:`delve_advisor.models.load_model`.
        num_classes: Passed to ``load_model`` when rebuilding.
        in_channels: Passed to ``load_model`` when rebuilding.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: ``result`` is not an EditResult or ``model_spec`` is empty.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from delve_advisor.edits import apply_edits, load_edited, save_edited
        >>> from delve_advisor.models import load_model
        >>> net = load_model("torchvision:resnet18", num_classes=10)
        >>> result = apply_edits(net, [{"op": "set_stride", "module": "conv1", "value": [1, 1]}],
        ...                      (3, 32, 32))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "edited.pt"
        >>> _ = save_edited(path, result, "torchvision:resnet18", num_classes=10)
        >>> again = load_edited(path)
        >>> x = torch.rand(1, 3, 32, 32)
        >>> torch.equal(again.model.eval()(x), result.model.eval()(x))
        True
    """
    if not isinstance(result, EditResult):
        raise InvalidArgumentError(
            f"save_edited: result must be an EditResult (from apply_edits), got "
            f"{type(result).__name__}"
        )
    if not isinstance(model_spec, str) or not model_spec:
        raise InvalidArgumentError(
            f"save_edited: model_spec must be a spec string, got {model_spec!r}"
        )
    payload = {
        "format": _FORMAT,
        "model_spec": model_spec,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "input_size": list(result.original_input_size),
        "edits": [e.to_dict() for e in result.edits],
        "state_dict": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise EditError(f"cannot read an edited model from {path}: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise EditError(
            f"{path} is not a file written by save_edited (no format {_FORMAT!r}); a plain "
            "state_dict is loaded with load_model(spec, checkpoint=...)"
        )
    return payload


def load_edited(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> EditResult:
    """Rebuilds a model saved by :func:`save_edited`: spec → model → edits → weights.

    Args:
        path: The file.
        device: Where to put the rebuilt model.

    Returns:
        The :class:`EditResult` of replaying the edits, its ``model`` holding the saved weights.

    Raises:
        EditError: The file is not a :func:`save_edited` file, or the weights do not fit the
            rebuilt model (the message names the missing / unexpected keys).
        SpecError: The model spec no longer builds.

    Example:
        >>> import tempfile, pathlib
        >>> from delve_advisor.edits import ResizeInput, apply_edits, load_edited, save_edited
        >>> from delve_advisor.testing import matched_cnn
        >>> result = apply_edits(matched_cnn(), [ResizeInput(value=[32, 32])], (1, 28, 28))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "edited.pt"
        >>> _ = save_edited(path, result, "delve_advisor.testing:matched_cnn")
        >>> load_edited(path).input_size
        (1, 32, 32)
    """
    path = Path(path)
    payload = _read(path)
    model: nn.Module = load_model(
        payload["model_spec"],
        num_classes=payload.get("num_classes"),
        in_channels=payload.get("in_channels"),
    )
    edits = [edit_from_dict(e) for e in payload["edits"]]
    result = apply_edits(model, edits, tuple(payload["input_size"]))
    try:
        result.model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise EditError(f"the weights in {path} do not fit the rebuilt model: {error}") from error
    result.model.to(device)
    return result


def edits_from_report(path: str | os.PathLike, suggestion: int = 1) -> tuple[list[Any], tuple]:
    """The edits of one suggestion of a report JSON file, and the report's input size.

    Args:
        path: A ``report.json`` written by the advisor.
        suggestion: The suggestion's rank (1 = the one to try first).

    Returns:
        The suggestion's edits (:class:`Edit` objects) and ``meta["input_size"]`` as (C, H, W).

    Raises:
        EditError: The file is not a report, has no such suggestion (the valid ranks are
            listed), or lacks its input size.

    Example:
        >>> import json, tempfile, pathlib
        >>> from delve_advisor.edits import edits_from_report
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.json"
        >>> _ = path.write_text(json.dumps({"meta": {"input_size": [3, 32, 32]}, "suggestions": [
        ...     {"rank": 1, "edits": [{"op": "replace_with_identity", "module": "maxpool"}]}]}))
        >>> edits_from_report(path, 1)
        ([ReplaceWithIdentity(module='maxpool', value=None)], (3, 32, 32))
    """
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EditError(f"cannot read the report {path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("suggestions"), list):
        raise EditError(f"{path} is not an advisor report (no 'suggestions' list)")
    ranks = [s.get("rank") for s in data["suggestions"] if isinstance(s, dict)]
    chosen = [s for s in data["suggestions"] if isinstance(s, dict) and s.get("rank") == suggestion]
    if not chosen:
        raise EditError(
            f"{path} has no suggestion {suggestion}; its suggestions are {ranks or 'none'}"
        )
    size = (data.get("meta") or {}).get("input_size")
    if not isinstance(size, list) or not size:
        raise EditError(f"{path} has no meta.input_size; pass the input size explicitly")
    edits = chosen[0].get("edits")
    if not isinstance(edits, list):
        raise EditError(f"suggestion {suggestion} in {path}: 'edits' must be a list")
    return [edit_from_dict(e) for e in edits], tuple(int(v) for v in size)


def apply_to_spec(
    model_spec: str,
    edits: Sequence[Any],
    input_size: Sequence[int],
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
) -> EditResult:
    """Builds the model a spec names (with its weights), and applies ``edits`` to it.

    What ``delve-advisor apply`` runs; save the result with :func:`save_edited`.

    Args:
        model_spec: ``torchvision:NAME`` or ``package.module:factory``.
        edits: Edits or their plain-data dicts.
        input_size: (C, H, W).
        weights: A state_dict file for the unedited model (loaded with ``weights_only=True``).
        num_classes: Passed to :func:`delve_advisor.models.load_model`.
        in_channels: Passed to ``load_model``; defaults to ``input_size[0]``.

    Returns:
        The :class:`EditResult`.

    Raises:
        SpecError: The spec or the weights do not build the model.
        EditError: An edit cannot be applied.

    Example:
        >>> from delve_advisor.edits import SetStride, apply_to_spec
        >>> result = apply_to_spec("torchvision:resnet18", [SetStride("conv1", [1, 1])],
        ...                        (3, 32, 32), num_classes=10)
        >>> result.model.conv1.stride
        (1, 1)
    """
    model = load_model(
        model_spec,
        num_classes=num_classes,
        in_channels=in_channels if in_channels is not None else int(input_size[0]),
        checkpoint=weights,
    )
    return apply_edits(model, edits, tuple(input_size))
