"""Applying edit lists to a copy of a model: coupled edits, verification, before/after.

:func:`apply_edits` deep-copies the model, applies each edit, adds the edits another one needs
(coupled edits), checks by a forward pass that the copy returns as many outputs of the same
shapes as the original, and measures both with :func:`~delve_advisor.edits.predict`.
Shapes are checked on meta-device copies (no arithmetic, exact shapes); a model whose forward
pass reads tensor values is checked on its own device.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import torch
from torch import nn

from delve_advisor._meta import meta_copy, on_meta, shape_only
from delve_advisor._modules import device_and_dtype, eval_mode
from delve_advisor.edits._base import Edit, edit_from_dict
from delve_advisor.edits.operations import (
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
)
from delve_advisor.edits.prediction import Prediction
from delve_advisor.edits.result import EditResult
from delve_advisor.exceptions import DelveAdvisorError, EditError, InvalidArgumentError
from delve_advisor.graph import receptive_field

__all__ = ["apply_edits", "load_edits", "output_signature", "save_edits"]

EditLike = Edit | Mapping[str, Any]


def output_signature(model: nn.Module, input_size: Sequence[int]) -> list[tuple[int, ...]]:
    """The shapes of every tensor a model returns for one zero input of ``input_size`` (C, H, W).

    Runs in eval mode under ``no_grad`` and restores the model's mode.

    Example:
        >>> from torch import nn
        >>> from delve_advisor.edits import output_signature
        >>> output_signature(nn.Conv2d(1, 4, 3), (1, 8, 8))
        [(1, 4, 6, 6)]
    """
    device, dtype = device_and_dtype(model)
    with eval_mode(model), torch.no_grad(), shape_only():
        out = model(torch.zeros((1, *input_size), device=device, dtype=dtype))
    flat: list[tuple[int, ...]] = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat.append(tuple(value.shape))
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(out)
    return flat


class _LinearMismatch(Exception):
    def __init__(self, path: str, expected: int, got: int) -> None:
        super().__init__(f"{path!r} expects {expected} input features but gets {got}")
        self.path, self.expected, self.got = path, expected, got


def _signature(model: nn.Module, size: Sequence[int], meta: bool) -> list[tuple[int, ...]]:
    """Output shapes; raises :class:`_LinearMismatch` at the first Linear fed the wrong width."""
    target = meta_copy(model) if meta and not on_meta(model) else model
    handles = []

    def watch(path: str, linear: nn.Linear) -> None:
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0] if args else None
            if isinstance(x, torch.Tensor) and x.shape[-1] != linear.in_features:
                raise _LinearMismatch(path, linear.in_features, int(x.shape[-1]))

        handles.append(linear.register_forward_pre_hook(hook))

    last: list[str] = []

    def track(path: str) -> Any:
        def hook(module: nn.Module, args: tuple) -> None:
            last.append(path)

        return hook

    try:
        for path, module in target.named_modules():
            if isinstance(module, nn.Linear):
                watch(path, module)
            if path and next(module.children(), None) is None:
                handles.append(module.register_forward_pre_hook(track(path)))
        try:
            return output_signature(target, size)
        except _LinearMismatch:
            raise
        except Exception as error:
            where = f" in module {last[-1]!r}" if last else ""
            raise RuntimeError(f"{type(error).__name__}{where}: {error}") from error
    finally:
        for handle in handles:
            handle.remove()


def _names(edits: Sequence[Edit]) -> str:
    return ", ".join(f"{e.op} on {e.module!r}" for e in edits)


def _problem(
    work: nn.Module,
    size: Sequence[int],
    expected: list[tuple[int, ...]],
    resized: bool,
    meta: bool,
) -> Exception | None:
    """Why the copy fails the forward check, or None when it passes."""
    try:
        after = _signature(work, size, meta)
    except Exception as error:
        return error

    def key(shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return [s[:2] for s in shapes] if resized else shapes

    if key(after) == key(expected):
        return None
    return EditError(
        f"the outputs changed from {expected} to {after}; an edit must keep the number and "
        "shape of outputs"
    )


def _coupled_strides(graph: nx.DiGraph, analysis: Any, name: str, index: int) -> list[str]:
    """Strided layers on a parallel branch that meets ``name``'s path at the nearest merge.

    Module paths, or node names for functional ops.
    """
    descendants = nx.descendants(graph, name)
    ancestors = nx.ancestors(graph, name)
    for layer in analysis.layers[index + 1 :]:
        if layer.node_name not in descendants or layer.effect != "merge":
            continue
        others = nx.ancestors(graph, layer.node_name) - ancestors - descendants - {name}
        coupled = [
            other.module_path or other.node_name
            for other in analysis.layers
            if other.node_name in others
            and other.effect == "window"
            and any(s > 1 for s in other.stride)
        ]
        if coupled:
            return list(dict.fromkeys(coupled))
        if len(layer.inputs) > 1:
            return []
    return []


def coupled_strides(model: nn.Module, target: str, input_size: Sequence[int]) -> list[Edit]:
    """The stride edits that must go with dropping the downsampling at ``target``.

    Strided layers on a parallel branch that meets ``target``'s path at the nearest merge (a
    residual block's shortcut) must lose their stride too, or the merge sees two sizes.

    Returns:
        ``set_stride`` edits to 1, empty when ``target`` does not downsample or has no partner.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import coupled_strides
        >>> coupled_strides(torchvision.models.resnet18(), "layer3.0.conv1", (3, 32, 32))
        [SetStride(module='layer3.0.downsample.0', value=(1, 1))]
    """
    try:
        analysis = receptive_field(meta_copy(model), input_size=tuple(input_size))
    except DelveAdvisorError:
        return []
    index = next(
        (i for i, x in enumerate(analysis.layers) if target in (x.node_name, x.module_path)), None
    )
    if index is None:
        return []
    layer = analysis.layers[index]
    if layer.effect != "window" or not any(s > 1 for s in layer.stride):
        return []
    nd = len(layer.stride)
    others = _coupled_strides(analysis.graph, analysis, layer.node_name, index)
    return [SetStride(other, [1] * nd) for other in others if other != target]


def _drops_stride(edit: Edit, model: nn.Module | None) -> bool:
    """Whether ``edit`` may remove a downsampling step (and so need coupled strides)."""
    if model is None:
        return False
    if isinstance(edit, SetStride):
        return True
    if not isinstance(edit, ReplaceWithIdentity):
        return False
    try:
        stride = getattr(model.get_submodule(edit.module), "stride", None)
    except AttributeError:
        return True  # a graph node: let the analysis decide
    values = stride if isinstance(stride, tuple) else (stride,)
    return any(isinstance(v, int) and v > 1 for v in values)


def _apply_one(edit: Edit, work: nn.Module) -> nn.Module:
    try:
        out = edit.apply(work)
    except DelveAdvisorError:
        raise
    except Exception as error:
        raise EditError(
            f"{edit.op} on {edit.module!r} failed: {type(error).__name__}: {error}"
        ) from error
    return work if out is None else out


def _edit_copy(
    model: nn.Module, parsed: Sequence[Edit], size: tuple[int, ...], couple: bool = True
) -> tuple[nn.Module, tuple[int, ...], list[Edit], list[Edit]]:
    """The edited copy, its input size, the edits applied and the coupled ones among them."""
    meta = True
    try:
        expected = _signature(model, size, meta)
    except Exception:  # the forward reads tensor values: check on the real model
        meta = False
        try:
            expected = _signature(model, size, meta)
        except Exception as error:
            raise EditError(
                f"the model does not run at input size {size} before any edit: {error}"
            ) from error
    if couple:  # fast path: a list that needs no coupled edit is checked once, at the end
        work = copy.deepcopy(model)
        new_size = size
        for edit in parsed:
            work = _apply_one(edit, work)
            if isinstance(edit, ResizeInput):
                new_size = (size[0], *edit.value)
        problem = _problem(work, new_size, expected, new_size != size, meta)
        if problem is None:
            return work, new_size, list(parsed), []
        if not isinstance(problem, _LinearMismatch) and not any(
            _drops_stride(e, model) for e in parsed
        ):  # nothing a coupled edit could fix
            raise EditError(f"the model no longer runs after {_names(parsed)}: {problem}")
    work = copy.deepcopy(model)
    applied: list[Edit] = []
    coupled: list[Edit] = []
    new_size = size
    for i, edit in enumerate(parsed):
        pending = [(e.op, e.module) for e in parsed[i + 1 :]]
        previous, previous_size = (meta_copy(work) if couple else None), new_size
        work = _apply_one(edit, work)
        applied.append(edit)
        if isinstance(edit, ResizeInput):
            new_size = (size[0], *edit.value)
        tried_strides = not couple
        for _ in range(8):
            problem = _problem(work, new_size, expected, new_size != size, meta)
            if problem is None or not couple:
                break
            extras: list[Edit] = []
            if isinstance(problem, _LinearMismatch):
                if (ReplaceLinearInput.op, problem.path) not in pending:
                    extras = [ReplaceLinearInput(problem.path, problem.got)]
            elif not tried_strides and _drops_stride(edit, previous):
                tried_strides = True
                done = {(e.op, e.module) for e in applied}
                extras = [
                    e
                    for e in coupled_strides(previous, edit.module, previous_size)
                    if (e.op, e.module) not in done and (e.op, e.module) not in pending
                ]
            if not extras:
                break
            for extra in extras:
                work = _apply_one(extra, work)
                applied.append(extra)
                coupled.append(extra)
    problem = _problem(work, new_size, expected, new_size != size, meta)
    if problem is not None:
        detail = str(problem)
        if isinstance(problem, _LinearMismatch):
            detail = f"the Linear {problem}"
        raise EditError(f"the model no longer runs after {_names(applied)}: {detail}")
    return work, new_size, applied, coupled


def _check_size(input_size: Any) -> tuple[int, ...]:
    if (
        isinstance(input_size, (str, bytes))
        or not isinstance(input_size, Sequence)
        or len(input_size) < 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in input_size)
    ):
        raise InvalidArgumentError(
            f"apply_edits: input_size must be (C, H, W) with positive ints, got {input_size!r}"
        )
    return tuple(int(v) for v in input_size)


def apply_edits(
    model: nn.Module,
    edits: Sequence[EditLike],
    input_size: Sequence[int],
    *,
    before: Prediction | None = None,
) -> EditResult:
    """Applies ``edits`` to a deep copy of ``model``, verifies it and measures before/after.

    Coupled edits are added where an edit needs them: dropping a stride inside a residual
    block also drops the stride of the shortcut that meets it, and a Linear head fed a
    different number of features is re-attached (``replace_linear_input``). The copy must
    return as many tensors as the original, of the same shapes (after a ``resize_input`` only
    their batch and channel dimensions are compared).

    Args:
        model: The model; it is never changed, also when an edit fails.
        edits: :class:`Edit` objects or their plain-data dicts.
        input_size: (C, H, W) the model runs at.
        before: :func:`predict` of ``model`` at ``input_size``, if already measured.

    Returns:
        The :class:`EditResult`: the edited copy, its input size, the edits applied (coupled
        ones included), kept / re-initialised parameter names and before/after predictions.

    Raises:
        EditError: An edit cannot be applied, or the edited copy fails the forward check; the
            message names the edit's module and the reason.
        UnknownNameError: An edit names an unknown op.
        InvalidArgumentError: An edit's fields or ``input_size`` are invalid.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import SetStride, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> result = apply_edits(net, [SetStride("layer2.0.conv1", [1, 1])], (3, 32, 32))
        >>> [e.module for e in result.coupled]
        ['layer2.0.downsample.0']
        >>> result.after.flops > result.before.flops, len(result.reinitialised)
        (True, 0)
    """
    if isinstance(edits, (str, Mapping)) or not isinstance(edits, Sequence):
        raise InvalidArgumentError(
            f"apply_edits: edits must be a list of edits, got {type(edits).__name__}"
        )
    parsed = [edit_from_dict(e) for e in edits]
    size = _check_size(input_size)
    original = {id(p): name for name, p in model.named_parameters()}
    work, new_size, applied, coupled = _edit_copy(model, parsed, size)
    # kept: same name, shape, dtype and values as the original's (meta copies: shape only)
    source = dict(model.named_parameters())
    kept, reinitialised = [], []
    for name, param in work.named_parameters():
        old = source.get(name)
        if (
            old is not None
            and old.shape == param.shape
            and old.dtype == param.dtype
            and (old.is_meta or param.is_meta or torch.equal(old, param))
        ):
            kept.append(name)
        else:
            reinitialised.append(name)
    final = {name for name, _ in work.named_parameters()}
    removed = [name for name in original.values() if name not in final]
    return EditResult(
        model=work,
        input_size=new_size,
        edits=tuple(applied),
        coupled=tuple(coupled),
        kept=tuple(kept),
        reinitialised=tuple(reinitialised),
        removed=tuple(removed),
        original_input_size=size,
        original=model,
        given_before=before,
    )


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise InvalidArgumentError(
        f"edit file {str(path)!r}: unknown suffix {path.suffix!r}; use .json, .yaml or .yml"
    )


def save_edits(path: str | Path, edits: Sequence[EditLike]) -> Path:
    """Writes an edit list as JSON or YAML, chosen by the file suffix.

    Each edit is ``{"op", "module", "value"}`` plain data.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: The suffix is not .json, .yaml or .yml, or an edit is invalid.

    Example:
        >>> import tempfile, pathlib
        >>> from delve_advisor.edits import SetStride, load_edits, save_edits
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "edits.yaml"
        >>> load_edits(save_edits(path, [SetStride("conv1", [1, 1])]))
        [SetStride(module='conv1', value=(1, 1))]
    """
    path = Path(path)
    kind = _format(path)
    data = [edit_from_dict(e).to_dict() for e in edits]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "json":
        path.write_text(json.dumps(data, indent=2) + "\n")
    else:
        import yaml

        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_edits(path: str | Path) -> list[Edit]:
    """Reads an edit list written by :func:`save_edits` (JSON or YAML, by the suffix).

    Raises:
        EditError: The file cannot be read or parsed, or does not hold a list of edits.
        UnknownNameError: An edit names an unknown op.
        InvalidArgumentError: An edit's fields are invalid.

    Example:
        >>> import tempfile, pathlib
        >>> from delve_advisor.edits import load_edits
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "edits.json"
        >>> _ = path.write_text('[{"op": "replace_with_identity", "module": "maxpool"}]')
        >>> load_edits(path)
        [ReplaceWithIdentity(module='maxpool', value=None)]
    """
    path = Path(path)
    kind = _format(path)
    try:
        text = path.read_text()
        if kind == "json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:
        raise EditError(
            f"cannot read edits from {path}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(data, list):
        raise EditError(
            f"{path} must hold a list of edits ({{op, module, value}} objects), got "
            f"{type(data).__name__}"
        )
    return [edit_from_dict(e) for e in data]
