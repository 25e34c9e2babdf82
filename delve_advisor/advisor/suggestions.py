"""Suggestions: concrete edits that remove a tail, each with its predicted effect.

Three kinds, ranked in this order (the papers' order of preference):

1. ``drop_downsampling`` — a stride or pooling layer before the border, earliest first. A conv's
   stride becomes 1, a pooling layer becomes ``nn.Identity``; strided convs on a parallel branch
   that meets the same merge (a residual block's shortcut) change together.
2. ``prune_layers`` — the tail's blocks replaced by ``nn.Identity``: a module whose weighted
   layers are all in the tail and whose removal keeps the shapes (a residual block with an
   identity shortcut, a same-width conv); a whole stage may go when the classifier head is
   re-attached to the channels that then reach it.
3. ``resize_input`` — the lowest input resolution at which no layer is unproductive.

Every prediction (parameters, FLOPs at the input size, feasible input range, unproductive count)
is measured on an edited copy: the receptive-field analysis and the FLOP counter run again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
from torch import nn

from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.edits import apply_edits, get_module
from delve_advisor.exceptions import DelveAdvisorError, EditError
from delve_advisor.graph import ReceptiveFieldAnalysis, receptive_field
from delve_advisor.report.prediction import Prediction
from delve_advisor.report.suggestion import Suggestion

__all__ = ["predict", "rf_evidence", "suggest", "weighted_layers"]

logger = logging.getLogger(__name__)

_POOLING = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
)
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


@dataclass(frozen=True)
class _Candidate:
    module: str
    edits: list[dict]
    coupled: list[str]


def weighted_layers(
    analysis: ReceptiveFieldAnalysis, model: nn.Module
) -> tuple[list[str], list[str]]:
    """Splits the model's conv and linear layers into (body, head), forward order.

    The head is every weighted layer whose receptive field is global (after global pooling or
    flattening); the body is the rest, the layers a tail can contain.
    """
    body: list[str] = []
    head: list[str] = []
    seen: set[str] = set()
    for layer in analysis.layers:
        path = layer.module_path
        if path is None or path in seen:
            continue
        module = get_module(model, path)
        if not isinstance(module, _WEIGHTED):
            continue
        seen.add(path)
        (head if layer.is_global else body).append(path)
    return body, head


def rf_evidence(
    analysis: ReceptiveFieldAnalysis, body: Sequence[str], resolution: Sequence[int]
) -> dict[str, bool]:
    """Receptive-field evidence per body layer at ``resolution`` (one int per spatial axis).

    True for an unproductive layer (DESIGN.md), and for a layer with a 1-wide kernel (which never
    adds spatial context itself) that runs downstream of an unproductive layer, i.e. past the
    border.
    """
    unproductive = set(analysis.unproductive(tuple(resolution)))
    graph = analysis.graph
    by_path: dict[str, bool] = {}
    for layer in analysis.layers:
        path = layer.module_path
        if path not in body or path in by_path:
            continue
        if layer.is_spatial:
            by_path[path] = layer.node_name in unproductive
        else:
            by_path[path] = bool(unproductive & nx.ancestors(graph, layer.node_name))
    return {path: by_path.get(path, False) for path in body}


def _input_range(analysis: ReceptiveFieldAnalysis) -> tuple[int, int] | None:
    low, high = analysis.input_range()[0]
    if low is None or high is None or not math.isfinite(high):
        return None
    return int(low), math.ceil(high)


def predict(
    model: nn.Module,
    input_size: Sequence[int],
    analysis: ReceptiveFieldAnalysis | None = None,
) -> tuple[Prediction, ReceptiveFieldAnalysis]:
    """Measures parameters, FLOPs, feasible range and unproductive count of ``model``.

    Returns:
        The prediction and the receptive-field analysis it used.
    """
    if analysis is None:
        analysis = receptive_field(model, input_size=tuple(input_size))
    prediction = Prediction(
        params=count_parameters(model),
        flops=total_flops(model, tuple(input_size), device="meta"),
        input_range=_input_range(analysis),
        unproductive=len(analysis.unproductive(tuple(input_size[1:]))),
        receptive_field={
            layer.module_path: max(layer.r_max)
            for layer in analysis.layers
            if layer.module_path is not None and layer.is_spatial
        },
    )
    return prediction, analysis


def _downsampling_candidates(
    analysis: ReceptiveFieldAnalysis, model: nn.Module, border: Sequence[str], notes: list[str]
) -> list[_Candidate]:
    """Strided convs and pooling layers before the first border layer, earliest first.

    Strided functional ops (``F.max_pool2d`` in a forward) cannot be edited from outside the
    model's code: they are named in ``notes`` instead.
    """
    order = [layer.node_name for layer in analysis.layers]
    first_border = min((order.index(b) for b in border), default=len(order))
    graph = analysis.graph
    found = []
    for index, layer in enumerate(analysis.layers[:first_border]):
        path = layer.module_path
        if layer.effect != "window" or not any(s > 1 for s in layer.stride):
            continue
        if max(layer.kernel) <= 1:  # a shortcut's 1x1 conv: changed with its block, not alone
            continue
        if path is None:
            notes.append(
                f"{layer.node_name} ({layer.op}) downsamples before the border but is a functional "
                "call in forward(); change its stride in the model's code to try it"
            )
            continue
        module = get_module(model, path)
        nd = len(layer.stride)
        if isinstance(module, _POOLING):
            edits = [{"op": "replace_with_identity", "module": path}]
        elif isinstance(module, nn.modules.conv._ConvNd):
            edits = [{"op": "set_stride", "module": path, "value": [1] * nd}]
        else:
            continue
        coupled = _coupled_strides(graph, analysis, layer.node_name, index)
        for other in coupled:
            edits.append({"op": "set_stride", "module": other, "value": [1] * nd})
        found.append(_Candidate(path, edits, coupled))
    return found


def _coupled_strides(
    graph: nx.DiGraph, analysis: ReceptiveFieldAnalysis, name: str, index: int
) -> list[str]:
    """Strided modules on a parallel branch that meets ``name``'s path at the nearest merge."""
    descendants = nx.descendants(graph, name)
    ancestors = nx.ancestors(graph, name)
    for layer in analysis.layers[index + 1 :]:
        if layer.node_name not in descendants or layer.effect != "merge":
            continue
        others = nx.ancestors(graph, layer.node_name) - ancestors - descendants - {name}
        coupled = [
            other.module_path
            for other in analysis.layers
            if other.node_name in others
            and other.module_path is not None
            and other.effect == "window"
            and any(s > 1 for s in other.stride)
        ]
        if coupled:
            return coupled
        if len(layer.inputs) > 1:
            return []
    return []


def _prune_units(
    model: nn.Module, analysis: ReceptiveFieldAnalysis, tail: Sequence[str], body: Sequence[str]
) -> list[str]:
    """The largest modules whose weighted layers are all in the tail, forward order."""
    tail_set = set(tail)
    weighted_under: dict[str, list[str]] = {}
    for path in body:
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            weighted_under.setdefault(".".join(parts[:depth]), []).append(path)
    units: list[str] = []
    for path in tail:
        parts = path.split(".")
        chosen = path
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if all(p in tail_set for p in weighted_under[prefix]):
                chosen = prefix
                break
        if chosen not in units:
            units.append(chosen)
    return units


def _channels_into(analysis: ReceptiveFieldAnalysis, unit: str) -> int | None:
    """Channels of the tensor that enters module ``unit`` (from the traced shapes)."""
    by_name = {layer.node_name: layer for layer in analysis.layers}
    for layer in analysis.layers:
        if layer.module_path and (
            layer.module_path == unit or layer.module_path.startswith(unit + ".")
        ):
            for source in layer.inputs:
                src = by_name.get(source)
                inside = (
                    src is not None
                    and src.module_path is not None
                    and (src.module_path == unit or src.module_path.startswith(unit + "."))
                )
                if src is not None and not inside and src.output_shape:
                    return int(src.output_shape[1])
    return None


def _prune_edits(
    model: nn.Module,
    analysis: ReceptiveFieldAnalysis,
    units: Sequence[str],
    head: Sequence[str],
    input_size: Sequence[int],
    notes: list[str],
) -> list[dict]:
    """Edits that remove ``units``; units that cannot go safely are split or left, with a note."""
    edits: list[dict] = []
    pending = list(units)
    while pending:
        unit = pending.pop(0)
        trial = [*edits, {"op": "replace_with_identity", "module": unit}]
        try:
            apply_edits(model, trial, input_size)
            edits = trial
            continue
        except (EditError, DelveAdvisorError):
            pass
        channels = _channels_into(analysis, unit)
        if head and channels is not None:
            with_head = [e for e in trial if e["op"] != "replace_linear_input"] + [
                {"op": "replace_linear_input", "module": head[0], "value": channels}
            ]
            try:
                apply_edits(model, with_head, input_size)
                edits = with_head
                notes.append(
                    f"removing {unit} changes the channels reaching the head: {head[0]} is "
                    f"re-attached with {channels} inputs and must be retrained"
                )
                continue
            except (EditError, DelveAdvisorError):
                pass
        children = [f"{unit}.{name}" for name, _ in get_module(model, unit).named_children()]
        weighted_children = [
            c
            for c in children
            if any(isinstance(m, _WEIGHTED) for m in get_module(model, c).modules())
        ]
        if weighted_children and len(weighted_children) > 1:
            pending = weighted_children + pending
        else:
            notes.append(f"{unit} cannot be removed without changing the model's shapes: kept")
    return edits


def suggest(
    model: nn.Module,
    analysis: ReceptiveFieldAnalysis,
    tail: Sequence[str],
    input_size: Sequence[int],
    *,
    max_downsampling: int = 2,
) -> tuple[list[Suggestion], list[str]]:
    """Ranked suggestions that remove the tail, with before/after predictions.

    Args:
        model: The model (never changed; edits are tried on copies).
        analysis: Its receptive-field analysis at ``input_size``.
        tail: The tail's layers (module paths), forward order; no tail gives no suggestion.
        input_size: (C, H, W).
        max_downsampling: At most this many ``drop_downsampling`` suggestions, earliest first.

    Returns:
        The suggestions (rank 1 first) and notes on what could not be suggested.
    """
    if not tail:
        return [], []
    notes: list[str] = []
    resolution = tuple(input_size[1:])
    before, _ = predict(model, input_size, analysis)
    body, head = weighted_layers(analysis, model)
    border = analysis.border_layers(resolution)
    found: list[tuple[str, list[str], str, list[dict], Prediction]] = []

    for candidate in _downsampling_candidates(analysis, model, border, notes)[:max_downsampling]:
        try:
            edited = apply_edits(model, candidate.edits, input_size)
            after, _ = predict(edited, input_size)
        except DelveAdvisorError as error:
            notes.append(f"drop_downsampling at {candidate.module} skipped: {error}")
            continue
        if after.unproductive >= before.unproductive:
            continue
        together = (
            f" (with {', '.join(candidate.coupled)} on the shortcut)" if candidate.coupled else ""
        )
        ratio = after.flops / before.flops if before.flops else math.nan
        rationale = (
            f"{candidate.module} downsamples before the border{together}. Without it the "
            f"receptive field grows more slowly: unproductive layers {before.unproductive} → "
            f"{after.unproductive} at {_size(resolution)}, at ×{ratio:.1f} the FLOPs."
        )
        found.append(
            (
                "drop_downsampling",
                [candidate.module, *candidate.coupled],
                rationale,
                candidate.edits,
                after,
            )
        )

    units = _prune_units(model, analysis, tail, body)
    prune = _prune_edits(model, analysis, units, head, input_size, notes) if units else []
    if prune:
        edited = apply_edits(model, prune, input_size)
        after, _ = predict(edited, input_size)
        removed = [e["module"] for e in prune if e["op"] == "replace_with_identity"]
        rationale = (
            f"The tail ({len(tail)} layers, from {tail[0]}) adds no spatial context at "
            f"{_size(resolution)}. Removing {', '.join(removed)} saves "
            f"{before.params - after.params:,} parameters "
            f"({100 * (1 - after.params / max(before.params, 1)):.0f} %) and "
            f"{100 * (1 - after.flops / max(before.flops, 1)):.0f} % of the FLOPs."
        )
        found.append(("prune_layers", removed, rationale, prune, after))

    low_high = before.input_range
    lows = [axis[0] for axis in analysis.input_range()]
    if (
        low_high is not None
        and all(low is not None for low in lows)
        and any(low > size for low, size in zip(lows, resolution, strict=False))
    ):
        new_res = [max(int(low), size) for low, size in zip(lows, resolution, strict=False)]
        new_size = (input_size[0], *new_res)
        try:
            after, _ = predict(model, new_size)
            rationale = (
                f"At {_size(resolution)} the receptive field outgrows the input from "
                f"{border[0] if border else tail[0]} on. At {_size(new_res)} (the low end of "
                f"the feasible range {low_high[0]}–{low_high[1]}) no layer is unproductive; the "
                f"model is unchanged and costs ×{after.flops / max(before.flops, 1):.1f} FLOPs."
            )
            found.append(
                (
                    "resize_input",
                    ["input"],
                    rationale,
                    [{"op": "resize_input", "module": "input", "value": new_res}],
                    after,
                )
            )
        except DelveAdvisorError as error:
            notes.append(f"resize_input skipped: {error}")

    suggestions = [
        Suggestion(
            kind=kind,
            targets=targets,
            rationale=rationale,
            edits=edits,
            before=before,
            after=after,
            rank=rank,
        )
        for rank, (kind, targets, rationale, edits, after) in enumerate(found, start=1)
    ]
    return suggestions, notes


def _size(resolution: Sequence[int]) -> str:
    return "×".join(str(int(v)) for v in resolution) + " px"
