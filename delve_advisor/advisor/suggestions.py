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

from delve_advisor._meta import meta_copy
from delve_advisor.edits import (
    Edit,
    EditResult,
    Prediction,
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
    apply_edits,
    get_module,
    output_signature,
    predict,
)
from delve_advisor.exceptions import DelveAdvisorError
from delve_advisor.graph import ReceptiveFieldAnalysis
from delve_advisor.report.suggestion import Suggestion

__all__ = ["predict", "rf_evidence", "suggest", "weighted_layers"]  # predict: from edits

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
_POOLING_FUNCTIONS = frozenset(
    f"{kind}_pool{nd}d" for kind in ("max", "avg") for nd in (1, 2, 3)
) | {"max_pool2d_with_indices"}
_CONV_FUNCTIONS = frozenset({"conv1d", "conv2d", "conv3d"})


@dataclass(frozen=True)
class _Candidate:
    module: str
    edits: tuple[Edit, ...]


def weighted_layers(
    analysis: ReceptiveFieldAnalysis, model: nn.Module
) -> tuple[list[str], list[str]]:
    """Splits the model's conv and linear layers into (body, head), forward order.

    The head is every weighted layer whose receptive field is global (after global pooling or
    flattening); the body is the rest, the layers a tail can contain.

    Args:
        analysis: The model's receptive-field analysis.
        model: The model it was made of.

    Returns:
        ``(body, head)``, module paths in forward order.

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> from delve_advisor.testing import tail_cnn
        >>> model = tail_cnn()
        >>> weighted_layers(receptive_field(model, input_size=(3, 16, 16)), model)
        (['0', '2', '4', '6', '8', '10'], ['14'])
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

    Args:
        analysis: The model's receptive-field analysis.
        body: The body's module paths (from :func:`weighted_layers`).
        resolution: The input resolution, one int per spatial axis.

    Returns:
        Module path -> True where the receptive field says the layer adds nothing.

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> from delve_advisor.testing import tail_cnn
        >>> analysis = receptive_field(tail_cnn(), input_size=(3, 16, 16))
        >>> evidence = rf_evidence(analysis, ["4", "6", "8", "10"], (16, 16))
        >>> [path for path, unproductive in evidence.items() if unproductive]
        ['8', '10']
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


def _downsampling_candidates(
    analysis: ReceptiveFieldAnalysis, model: nn.Module, border: Sequence[str], notes: list[str]
) -> list[_Candidate]:
    """Strided convs and pooling layers before the first border layer, earliest first.

    Modules and functional ops alike: a functional pooling call or strided slice becomes its
    input, a functional conv gets stride 1 (rewritten on an fx copy). The shortcut strides that
    must change with them are added by :func:`apply_edits` as coupled edits.
    """
    order = [layer.node_name for layer in analysis.layers]
    first_border = min((order.index(b) for b in border), default=len(order))
    found = []
    for layer in analysis.layers[:first_border]:
        path = layer.module_path
        if layer.effect != "window" or not any(s > 1 for s in layer.stride):
            continue
        if max(layer.kernel) <= 1 and layer.op != "getitem":  # a shortcut's 1x1 conv
            continue
        nd = len(layer.stride)
        edit: Edit
        if path is None:
            target = layer.node_name
            if layer.kind == "function" and layer.op in _POOLING_FUNCTIONS | {"getitem"}:
                edit = ReplaceWithIdentity(target)
            elif layer.kind == "function" and layer.op in _CONV_FUNCTIONS:
                edit = SetStride(target, [1] * nd)
            else:
                notes.append(
                    f"{layer.node_name} ({layer.op}) downsamples before the border but is a "
                    "functional call no edit can change; change its stride in the model's code"
                )
                continue
        else:
            target = path
            module = get_module(model, path)
            if isinstance(module, _POOLING):
                edit = ReplaceWithIdentity(path)
            elif isinstance(module, nn.modules.conv._ConvNd):
                edit = SetStride(path, [1] * nd)
            else:
                continue
        found.append(_Candidate(target, (edit,)))
    return found


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


#: Removal tries that may fail (break shapes) before prune_layers gives up on the rest.
MAX_FAILED_REMOVALS = 32


def _prune_edits(
    model: nn.Module,
    units: Sequence[str],
    input_size: Sequence[int],
    before: Prediction,
    notes: list[str],
) -> EditResult | None:
    """Removes ``units``; units that cannot go safely are split or left, with a note.

    A removal that changes the channels reaching the head re-attaches it (a coupled edit). After
    :data:`MAX_FAILED_REMOVALS` removals that break the shapes (a DenseNet's concatenations make
    every layer of a dense block one), the rest are left, with a note: each try is a verified copy.
    """
    result: EditResult | None = None
    edits: list[Edit] = []
    pending = list(units)
    failed = 0
    while pending:
        if failed >= MAX_FAILED_REMOVALS:
            notes.append(
                f"prune_layers stopped after {failed} removals that broke the model's shapes; "
                f"not tried: {', '.join(pending)}"
            )
            break
        unit = pending.pop(0)
        trial = [*edits, ReplaceWithIdentity(unit)]
        try:
            result = apply_edits(model, trial, input_size, before=before)
        except DelveAdvisorError:
            result = None
        if result is not None:
            for extra in result.coupled:
                if isinstance(extra, ReplaceLinearInput) and extra not in edits:
                    notes.append(
                        f"removing {unit} changes the channels reaching the head: "
                        f"{extra.module} is re-attached with {extra.value} inputs and must be "
                        "retrained"
                    )
            edits = list(result.edits)
            continue
        failed += 1
        children = [f"{unit}.{name}" for name, _ in get_module(model, unit).named_children()]
        weighted_children = [
            c
            for c in children
            if any(isinstance(m, _WEIGHTED) for m in get_module(model, c).modules())
        ]
        if len(weighted_children) > 1:
            pending = weighted_children + pending
        else:
            notes.append(f"{unit} cannot be removed without changing the model's shapes: kept")
    if not edits:
        return None
    return apply_edits(model, edits, input_size, before=before)


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

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> from delve_advisor.testing import tail_cnn
        >>> model, size = tail_cnn(), (3, 16, 16)
        >>> analysis = receptive_field(model, input_size=size)
        >>> suggestions, notes = suggest(model, analysis, ["8", "10"], size)
        >>> [(s.kind, s.after.unproductive) for s in suggestions]  # doctest: +NORMALIZE_WHITESPACE
        [('drop_downsampling', 1), ('drop_downsampling', 1), ('prune_layers', 0),
         ('resize_input', 0)]
    """
    if not tail:
        return [], []
    notes: list[str] = []
    resolution = tuple(input_size[1:])
    size = tuple(input_size)
    work = _trial_copy(model, size)
    before = predict(work, size, analysis)
    body, _head = weighted_layers(analysis, model)
    border = analysis.border_layers(resolution)
    found: list[tuple[str, list[str], str, tuple[Edit, ...], Prediction]] = []

    for candidate in _downsampling_candidates(analysis, model, border, notes)[:max_downsampling]:
        try:
            result = apply_edits(work, candidate.edits, size, before=before)
        except DelveAdvisorError as error:
            notes.append(f"drop_downsampling at {candidate.module} skipped: {error}")
            continue
        after = result.after
        if after.unproductive >= before.unproductive:
            continue
        coupled = [e.module for e in result.coupled]
        together = f" (with {', '.join(coupled)} on the shortcut)" if coupled else ""
        ratio = after.flops / before.flops if before.flops else math.nan
        rationale = (
            f"{candidate.module} downsamples before the border{together}. Without it the "
            f"receptive field grows more slowly: unproductive layers {before.unproductive} → "
            f"{after.unproductive} at {_size(resolution)}, at ×{ratio:.1f} the FLOPs."
        )
        targets = [candidate.module, *coupled]
        found.append(("drop_downsampling", targets, rationale, result.edits, after))

    units = _prune_units(model, analysis, tail, body)
    prune = _prune_edits(work, units, size, before, notes) if units else None
    if prune is not None:
        after = prune.after
        removed = [e.module for e in prune.edits if isinstance(e, ReplaceWithIdentity)]
        rationale = (
            f"The tail ({len(tail)} layers, from {tail[0]}) adds no spatial context at "
            f"{_size(resolution)}. Removing {', '.join(removed)} saves "
            f"{before.params - after.params:,} parameters "
            f"({100 * (1 - after.params / max(before.params, 1)):.0f} %) and "
            f"{100 * (1 - after.flops / max(before.flops, 1)):.0f} % of the FLOPs."
        )
        found.append(("prune_layers", removed, rationale, prune.edits, after))

    low_high = before.input_range
    lows = [axis[0] for axis in analysis.input_range()]
    if (
        low_high is not None
        and all(low is not None for low in lows)
        and any(low > side for low, side in zip(lows, resolution, strict=False))
    ):
        new_res = [max(int(low), side) for low, side in zip(lows, resolution, strict=False)]
        try:
            resize = apply_edits(work, [ResizeInput(value=new_res)], size, before=before)
            after = resize.after
            rationale = (
                f"At {_size(resolution)} the receptive field outgrows the input from "
                f"{border[0] if border else tail[0]} on. At {_size(new_res)} (the low end of "
                f"the feasible range {low_high[0]}–{low_high[1]}) no layer is unproductive; the "
                f"model is unchanged and costs ×{after.flops / max(before.flops, 1):.1f} FLOPs."
            )
            found.append(("resize_input", ["input"], rationale, resize.edits, after))
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


def _trial_copy(model: nn.Module, size: tuple[int, ...]) -> nn.Module:
    """A meta-device copy to try edits on (no weights copied), or ``model`` when its forward
    pass reads tensor values and cannot run on meta."""
    trial = meta_copy(model)
    try:
        output_signature(trial, size)
    except Exception:
        return model
    return trial


def _size(resolution: Sequence[int]) -> str:
    return "×".join(str(int(v)) for v in resolution) + " px"
