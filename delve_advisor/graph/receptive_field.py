"""Receptive fields per layer, unproductive layers, border layers and the feasible input range.

All definitions follow ``DESIGN.md`` and are computed per spatial axis (h, w) in one pass over
the captured graph in forward (topological) order; see ``docs/receptive-field.md``.
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from delve_advisor._deprecation import warn_deprecated
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError, UnknownNameError
from delve_advisor.graph import rules as R
from delve_advisor.graph.capture import (
    CapturedGraph,
    CapturedNode,
    capture_graph,
    reshape_graph,
)

if TYPE_CHECKING:
    import networkx
    import pandas
    from matplotlib.figure import Figure

__all__ = ["LayerReceptiveField", "ReceptiveFieldAnalysis", "receptive_field"]

_log = logging.getLogger(__name__)
_AXIS_NAMES = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}


@dataclass(frozen=True)
class LayerReceptiveField:
    """The receptive field of one node of the graph; every tuple has one entry per axis (h, w).

    Attributes:
        node_name: The graph node's name: the module path (``layer4.1.conv2``), ``path:k`` for
            the k-th reuse of a module, or ``<enclosing module>.<op>`` for functional ops
            (``layer1.0.add``). The layer's module, when it is one, is ``module_path``. (Called
            ``name`` before; ``name`` still reads it, with a DeprecationWarning.)
        op: The module's type name (``Conv2d``) or the function's name (``max_pool2d``).
        kind: "input", "module", "function" or "method".
        module_path: The dotted module path for module calls, else None.
        effect: What the rule did: "input", "window", "transposed", "upsample", "global",
            "pointwise" or "merge".
        inputs: Names of the nodes feeding this one.
        kernel: Kernel size (1 for non-window ops).
        stride: Stride (1 for non-window ops; the upsampling factor for transposed convs).
        dilation: Dilation (1 for non-window ops).
        r_min: Smallest receptive field over all paths from the input, in input pixels
            (``math.inf`` when global).
        r_max: Largest receptive field over all paths.
        jump: Input pixels between neighbouring outputs.
        input_r_min: Smallest r_min over this node's inputs.
        input_map: Spatial size of the input feature map at ``input_size`` (None if not spatial).
        output_shape: Full output shape at ``input_size``, batch of 1 included.
        is_global: Every output sees the whole input (r = ∞).
        misaligned: A merge whose inputs have different jumps.
        is_spatial: A window or transposed op with kernel > 1 on some axis.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Conv2d(2, 2, 3))
        >>> layer = receptive_field(net, (1, 16, 16)).layer("1")
        >>> layer.module_path, layer.r_max, layer.jump
        ('1', (7, 7), (2, 2))
    """

    node_name: str
    op: str
    kind: str
    module_path: str | None
    effect: str
    inputs: tuple[str, ...]
    kernel: tuple[int, ...]
    stride: tuple[float, ...]
    dilation: tuple[int, ...]
    r_min: tuple[float, ...]
    r_max: tuple[float, ...]
    jump: tuple[float, ...]
    input_r_min: tuple[float, ...]
    input_map: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    is_global: bool = False
    misaligned: bool = False
    is_spatial: bool = False

    @property
    def name(self) -> str:
        """Deprecated: the graph node's name, now :attr:`node_name`."""
        warn_deprecated("LayerReceptiveField.name", "LayerReceptiveField.node_name", stacklevel=3)
        return self.node_name


@dataclass
class _State:
    r_min: tuple[float, ...]
    r_max: tuple[float, ...]
    jump: tuple[float, ...]
    axes: tuple[int, ...] | None
    is_global: bool


def _merge(states: list[_State], gate: bool) -> tuple[_State, bool]:
    """Combines input states: min of r_min, max of r_max; returns (state, misaligned)."""
    if gate and any(not s.is_global for s in states):
        states = [s for s in states if not s.is_global]
    local = [s for s in states if not s.is_global and s.axes is not None] or states
    nd = len(states[0].r_min)
    r_min = tuple(min(s.r_min[a] for s in states) for a in range(nd))
    r_max = tuple(max(s.r_max[a] for s in states) for a in range(nd))
    jumps = {tuple(round(j, 9) for j in s.jump) for s in local}
    axes = next((s.axes for s in states if s.axes is not None), None)
    state = _State(r_min, r_max, local[0].jump, axes, all(s.is_global for s in states))
    return state, len(jumps) > 1


def _clean(value: float) -> float:
    return int(value) if math.isfinite(value) and value == int(value) else value


class ReceptiveFieldAnalysis:
    """Receptive fields of every node of a model's graph at one input size.

    Built by :func:`receptive_field`. ``layers`` lists one :class:`LayerReceptiveField` per node
    in forward order (the input first); ``graph`` is the dataflow as a ``networkx.DiGraph``.

    Attributes:
        input_size: ``(C, H, W)`` the analysis was traced with.
        capture_method: "torch.fx" or "autograd", the capture that recorded the graph.
        warnings: Assumptions the analysis had to make (unknown modules, unknown shape changes).
        layers: The records, forward order.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Conv2d(2, 2, 3))
        >>> analysis = receptive_field(net, (1, 16, 16))
        >>> [layer.node_name for layer in analysis.layers]
        ['input_1', '0', '1']
        >>> analysis.layer("1").r_max, analysis.unproductive(16)
        ((7, 7), [])
    """

    def __init__(
        self,
        model: nn.Module,
        input_size: tuple[int, ...],
        captured: CapturedGraph,
        leaf_modules: tuple[type, ...] = (),
    ) -> None:
        self.input_size = tuple(input_size)
        self.capture_method = captured.method
        self.capture_notes = list(captured.notes)
        self.warnings: list[str] = []
        self._model = model
        self._leaf_modules = leaf_modules
        self._nd = len(input_size) - 1
        self.layers: list[LayerReceptiveField] = self._analyze(captured.nodes)
        self._by_name = {layer.node_name: layer for layer in self.layers}
        self._maps_cache: dict[tuple[int, ...], dict[str, tuple[int, ...] | None]] = {
            self.input_size[1:]: {layer.node_name: layer.input_map for layer in self.layers}
        }
        self._graph: networkx.DiGraph | None = None
        self._captured: CapturedGraph | None = captured
        self._shape_model: nn.Module | None = None

    # ------------------------------------------------------------------ the one pass

    def _rule_for(self, node: CapturedNode) -> R.Rule | None:
        if node.rule is not None:
            return node.rule
        key = type(node.target) if node.kind == "module" else node.target
        try:
            return R.get_rf_rule(key)
        except TypeError:
            return None

    def _unknown(self, node: CapturedNode, ctx: R.RuleContext) -> R.RFOp:
        in_shape = ctx.input_shapes[0] if ctx.input_shapes else None
        if node.kind == "module":
            key = type(node.target)
            self.warnings.append(
                f"unknown module '{node.name}' ({key.__module__}.{key.__qualname__}) treated as "
                "pointwise; if it changes the receptive field, register a rule with "
                f"delve_advisor.register_rf_rule({key.__qualname__}, WindowOp(kernel=..., "
                "stride=...)) or another op (GlobalOp(), UpsampleOp(...), ...)"
            )
            if ctx.axes is None or in_shape is None:
                return R.PointwiseOp()
            axes = R.infer_axes(in_shape, ctx.axes, ctx.output_shape)
            if (
                axes is None
                and ctx.output_shape is not None
                and len(ctx.output_shape) == len(in_shape)
            ):
                axes = ctx.axes
            return R.GlobalOp() if axes is None else R.PointwiseOp(axes=axes)
        if ctx.axes is None or in_shape is None:
            return R.PointwiseOp()
        axes = R.infer_axes(in_shape, ctx.axes, ctx.output_shape)
        if axes is not None and [in_shape[a] for a in ctx.axes] == [
            ctx.output_shape[a] for a in axes
        ]:
            return R.PointwiseOp(axes=axes)
        self.warnings.append(
            f"unknown op '{node.name}' ({node.op}) changes the shape {tuple(in_shape)} → "
            f"{ctx.output_shape}; treated as {'pointwise' if axes else 'global'}. Register a "
            f"rule with delve_advisor.register_rf_rule(<the function>, ...) to model it."
        )
        return R.GlobalOp() if axes is None else R.PointwiseOp(axes=axes)

    def _analyze(self, nodes: list[CapturedNode]) -> list[LayerReceptiveField]:
        nd = self._nd
        ones = (1,) * nd
        states: dict[str, _State] = {}
        records: list[LayerReceptiveField] = []
        for node in nodes:
            if node.kind == "input":
                state = _State(ones, ones, ones, tuple(range(2, 2 + nd)), False)
                states[node.name] = state
                records.append(self._record(node, "input", state, state, None, ones, False))
                continue
            inputs = [states[n] for n in node.inputs]
            primary = next((s for s in inputs if s.axes is not None), inputs[0])
            ctx = R.RuleContext(
                target=node.target,
                args=node.args,
                kwargs=node.kwargs,
                input_shapes=node.input_shapes,
                output_shape=node.output_shape,
                axes=primary.axes,
                nd=nd,
            )
            if primary.axes is not None and node.input_shapes:
                first = node.inputs.index(next(n for n in node.inputs if states[n] is primary))
                ctx.input_shapes = [node.input_shapes[first]] + [
                    s for i, s in enumerate(node.input_shapes) if i != first
                ]
            rule = self._rule_for(node)
            op = R.resolve_rule(rule, ctx) if rule is not None else self._unknown(node, ctx)
            base, misaligned = _merge(inputs, gate=isinstance(op, R.MergeOp) and op.gate)
            state, effect, kernel, stride, dilation = self._apply(op, base, nd)
            out = node.output_shape
            if state.axes is not None and (out is None or len(out) <= max(state.axes)):
                state.axes = None
            if state.axes is None and primary.axes is not None and not state.is_global:
                inf = (math.inf,) * nd
                state = _State(inf, inf, state.jump, None, True)
                effect = "global"
            states[node.name] = state
            in_map = None
            if primary.axes is not None and ctx.input_shapes:
                in_map = tuple(ctx.input_shapes[0][a] for a in primary.axes)
            records.append(
                self._record(
                    node,
                    effect,
                    state,
                    base,
                    in_map,
                    kernel,
                    misaligned and isinstance(op, R.MergeOp),
                    stride,
                    dilation,
                )
            )
        return records

    @staticmethod
    def _apply(op: R.RFOp, base: _State, nd: int) -> tuple:
        ones = (1,) * nd
        if isinstance(op, (R.WindowOp, R.TransposedOp)):
            k = R._per_axis(op.kernel, nd, "kernel")
            s = R._per_axis(op.stride, nd, "stride")
            d = R._per_axis(op.dilation, nd, "dilation")
            if isinstance(op, R.WindowOp):
                grow = tuple(d[a] * (k[a] - 1) * base.jump[a] for a in range(nd))
                jump = tuple(base.jump[a] * s[a] for a in range(nd))
                effect = "window"
            else:
                ext = tuple(d[a] * (k[a] - 1) + 1 for a in range(nd))
                grow = tuple((math.ceil(ext[a] / s[a]) - 1) * base.jump[a] for a in range(nd))
                jump = tuple(base.jump[a] / s[a] for a in range(nd))
                effect = "transposed"
            r_min = tuple(base.r_min[a] + grow[a] for a in range(nd))
            r_max = tuple(base.r_max[a] + grow[a] for a in range(nd))
            state = _State(r_min, r_max, jump, base.axes, base.is_global)
            return state, effect, tuple(int(v) for v in k), s, tuple(int(v) for v in d)
        if isinstance(op, R.UpsampleOp):
            f = R._per_axis(op.scale, nd, "scale")
            grow = tuple(op.extra * base.jump[a] for a in range(nd))
            r_min = tuple(base.r_min[a] + grow[a] for a in range(nd))
            r_max = tuple(base.r_max[a] + grow[a] for a in range(nd))
            jump = tuple(base.jump[a] / f[a] for a in range(nd))
            return (
                _State(r_min, r_max, jump, base.axes, base.is_global),
                "upsample",
                ones,
                ones,
                ones,
            )
        if isinstance(op, R.GlobalOp):
            inf = (math.inf,) * nd
            return _State(inf, inf, base.jump, base.axes, True), "global", ones, ones, ones
        if isinstance(op, R.MergeOp):
            return base, "merge", ones, ones, ones
        axes = op.axes if op.axes is not None else base.axes
        state = _State(base.r_min, base.r_max, base.jump, axes, base.is_global)
        return state, "pointwise", ones, ones, ones

    def _record(
        self,
        node: CapturedNode,
        effect: str,
        state: _State,
        base: _State,
        in_map: tuple[int, ...] | None,
        kernel: tuple[int, ...],
        misaligned: bool,
        stride: tuple[float, ...] | None = None,
        dilation: tuple[int, ...] | None = None,
    ) -> LayerReceptiveField:
        ones = (1,) * self._nd
        return LayerReceptiveField(
            node_name=node.name,
            op=node.op,
            kind=node.kind,
            module_path=node.module_path,
            effect=effect,
            inputs=tuple(node.inputs),
            kernel=kernel,
            stride=tuple(_clean(v) for v in (stride or ones)),
            dilation=dilation or ones,
            r_min=tuple(_clean(v) for v in state.r_min),
            r_max=tuple(_clean(v) for v in state.r_max),
            jump=tuple(_clean(v) for v in state.jump),
            input_r_min=tuple(_clean(v) for v in base.r_min),
            input_map=in_map,
            output_shape=node.output_shape,
            is_global=state.is_global,
            misaligned=misaligned,
            is_spatial=effect in ("window", "transposed") and any(k > 1 for k in kernel),
        )

    # ------------------------------------------------------------------ queries

    def layer(self, name: str) -> LayerReceptiveField:
        """Returns the record of the node called ``name``.

        Raises:
            UnknownNameError: No node has that name; the message lists the nearest names.
        """
        if name not in self._by_name:
            near = difflib.get_close_matches(name, list(self._by_name), n=3)
            raise UnknownNameError(
                f"no layer {name!r} in the graph; the nearest are {near}; list them with "
                "[layer.node_name for layer in analysis.layers]"
            )
        return self._by_name[name]

    @property
    def spatial_layers(self) -> list[LayerReceptiveField]:
        """The window and transposed ops with kernel > 1, forward order."""
        return [layer for layer in self.layers if layer.is_spatial]

    @property
    def graph(self) -> networkx.DiGraph:
        """The dataflow as a ``networkx.DiGraph``; node attribute ``record`` holds the layer."""
        if self._graph is None:
            import networkx as nx

            graph = nx.DiGraph()
            for layer in self.layers:
                graph.add_node(layer.node_name, record=layer, op=layer.op, effect=layer.effect)
                for source in layer.inputs:
                    graph.add_edge(source, layer.node_name)
            self._graph = graph
        return self._graph

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per layer; per-axis fields become columns ``<field>_<axis>`` (``r_max_h``)."""
        import pandas as pd

        axis_names = _AXIS_NAMES.get(self._nd, tuple(f"a{i}" for i in range(self._nd)))
        per_axis = ("kernel", "stride", "dilation", "r_min", "r_max", "jump", "input_r_min")
        rows = []
        for layer in self.layers:
            row: dict[str, Any] = {}
            for key, value in asdict(layer).items():
                if key in per_axis:
                    for axis, v in zip(axis_names, value, strict=False):
                        row[f"{key}_{axis}"] = v
                else:
                    row["name" if key == "node_name" else key] = value  # column name kept
            rows.append(row)
        return pd.DataFrame(rows)

    def _resolution(self, resolution: int | Sequence[int] | None) -> tuple[int, ...]:
        if resolution is None:
            return self.input_size[1:]
        if isinstance(resolution, int):
            values: tuple[int, ...] = (resolution,) * self._nd
        else:
            values = tuple(resolution)
        if len(values) != self._nd or not all(isinstance(v, int) and v > 0 for v in values):
            raise InvalidArgumentError(
                f"resolution must be a positive int or {self._nd} positive ints (one per spatial "
                f"axis); got {resolution!r}"
            )
        return values

    def _maps_at(self, resolution: tuple[int, ...]) -> dict[str, tuple[int, ...] | None]:
        """Input feature-map sizes of every node, from real shapes at ``resolution``.

        The traced fx graph is reused and shapes are propagated on a meta-device copy of the
        model (no arithmetic); when that is not possible the model is captured again.
        """
        if resolution not in self._maps_cache:
            size = (self.input_size[0], *resolution)
            captured = self._reshaped(size)
            if captured is None:
                captured = capture_graph(
                    self._model, size, self._leaf_modules, method=self.capture_method
                )
            other = ReceptiveFieldAnalysis.__new__(ReceptiveFieldAnalysis)
            other._nd, other.warnings = self._nd, []
            layers = other._analyze(captured.nodes)
            self._maps_cache[resolution] = {layer.node_name: layer.input_map for layer in layers}
        return self._maps_cache[resolution]

    def _reshaped(self, size: tuple[int, ...]) -> CapturedGraph | None:
        """The capture at ``size`` through the cached fx graph on a meta copy, or None."""
        if self._captured is None or self._captured.fx_graph is None:
            return None
        if self._shape_model is None:
            try:
                self._shape_model = copy.deepcopy(self._model).to("meta")
            except Exception:  # a model that cannot be copied or moved: capture again instead
                self._captured = None
                return None
        try:
            return reshape_graph(self._shape_model, self._captured, size)
        except InputSizeError:
            raise
        except Exception as exc:  # an op without a meta kernel: capture again instead
            _log.info("shape propagation on the meta device failed (%s); re-capturing", exc)
            self._captured = None
            return None

    @staticmethod
    def _axis_flags(
        layer: LayerReceptiveField, res: tuple[int, ...], in_map: tuple[int, ...] | None
    ) -> list[bool | None]:
        """Per axis: None if kernel 1 there, else whether the layer adds no context on it."""
        flags: list[bool | None] = []
        for a, k in enumerate(layer.kernel):
            if k <= 1:
                flags.append(None)
                continue
            covered = layer.input_r_min[a] >= res[a] and layer.r_min[a] > res[a]
            small = in_map is not None and in_map[a] <= k
            flags.append(covered or small)
        return flags

    def _unproductive_set(self, res: tuple[int, ...]) -> list[str]:
        maps = self._maps_at(res)
        out = []
        for layer in self.layers:
            if not layer.is_spatial:
                continue
            if any(self._axis_flags(layer, res, maps.get(layer.node_name))):
                out.append(layer.node_name)
        return out

    def unproductive(self, resolution: int | Sequence[int] | None = None) -> list[str]:
        """Names of the layers that add no spatial context at resolution ``i``, forward order.

        A spatial layer is unproductive at ``i = (i_h, i_w)`` when, on at least one axis ``a``
        with kernel ``k_a > 1``::

            (min over inputs of r_min_a ≥ i_a  and  own r_min_a > i_a)  or  m_a ≤ k_a

        where ``m_a`` is the size of its input feature map along ``a`` from the real traced
        shapes at ``i`` (the model is run again, once per new resolution, and cached). The test
        is separate per axis, so a layer that adds context along ``w`` but none along ``h`` is
        unproductive; for square inputs and square kernels both axes give the same answer.

        Args:
            resolution: ``i`` as one int (every axis) or one per axis; None uses ``input_size``.

        Raises:
            InvalidArgumentError: ``resolution`` is not positive ints, one per axis.
            InputSizeError: The model cannot run at ``resolution``.
        """
        return self._unproductive_set(self._resolution(resolution))

    def border_layers(self, resolution: int | Sequence[int] | None = None) -> list[str]:
        """The first unproductive layer on each path (no unproductive ancestor), forward order.

        Args:
            resolution: As for :meth:`unproductive`.

        Raises:
            InvalidArgumentError: ``resolution`` is not positive ints, one per axis.
            InputSizeError: The model cannot run at ``resolution``.
        """
        bad = set(self.unproductive(resolution))
        tainted: dict[str, bool] = {}
        border = []
        for layer in self.layers:
            after_bad = any(tainted[p] or p in bad for p in layer.inputs)
            tainted[layer.node_name] = after_bad
            if layer.node_name in bad and not after_bad:
                border.append(layer.node_name)
        return border

    def _axis_ok(self, axis: int, size: int) -> bool:
        """No layer is unproductive along ``axis`` at ``size`` (other axes at input_size)."""
        res = list(self.input_size[1:])
        res[axis] = size
        res_t = tuple(res)
        for layer in self.spatial_layers:  # the graph-only criterion first: no forward pass
            if (
                layer.kernel[axis] > 1
                and layer.input_r_min[axis] >= size
                and layer.r_min[axis] > size
            ):
                return False
        try:
            maps = self._maps_at(res_t)
        except InputSizeError:
            return False
        for layer in self.spatial_layers:
            m = maps.get(layer.node_name)
            if layer.kernel[axis] > 1 and m is not None and m[axis] <= layer.kernel[axis]:
                return False
        return True

    def input_range(self) -> tuple[tuple[int | None, float | None], ...]:
        """The feasible input range per axis: ``((low_h, high_h), (low_w, high_w))``.

        For axis ``a`` (the other axes held at ``input_size``):

        - ``high_a`` = max ``r_max_a`` over spatial layers with finite ``r_max_a`` (None if none);
        - ``low_a`` = the lowest ``i_a ≥ 1`` at which no layer with ``k_a > 1`` satisfies
          ``(input r_min_a ≥ i_a and r_min_a > i_a) or m_a ≤ k_a`` (the per-axis test of
          :meth:`unproductive`; sizes where the model cannot run count as unproductive), or
          None when no size up to ``4 · max(high_a, input size_a)`` qualifies.

        Because :meth:`unproductive` tests each axis separately, no layer is unproductive at
        ``(i_h, i_w)`` exactly when ``i_a ≥ low_a`` on every axis.
        Found by bisection, exact because both conditions only get easier to meet as
        ``i_a`` shrinks.
        """
        result = []
        for axis in range(self._nd):
            finite = [
                layer.r_max[axis]
                for layer in self.spatial_layers
                if math.isfinite(layer.r_max[axis])
            ]
            high = max(finite) if finite else None
            limit = math.ceil(4 * max(high or 1, self.input_size[1 + axis]))
            hi = self.input_size[1 + axis]  # search up from the traced size: small forwards first
            while not self._axis_ok(axis, hi):
                if hi >= limit:
                    break
                hi = min(2 * hi, limit)
            if not self._axis_ok(axis, hi):
                result.append((None, high))
                continue
            lo = 0  # invariant: ok(hi), not ok(lo) (size 0 is never ok)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._axis_ok(axis, mid):
                    hi = mid
                else:
                    lo = mid
            result.append((hi, high))
        return tuple(result)

    # ------------------------------------------------------------------ figures

    def plot(
        self, resolution: int | Sequence[int] | None = None, path: str | None = None
    ) -> Figure:
        """Plots r_min and r_max per spatial layer with the resolution line (PNG if ``path``).

        Args:
            resolution: Input resolution to mark; None uses ``input_size``.
            path: Where to save the figure as PNG, or None.

        Returns:
            The matplotlib figure.
        """
        from delve_advisor.graph.plot import plot_analysis

        return plot_analysis(self, self._resolution(resolution), path)

    def draw(self, path: str | None = None) -> Any:
        """Draws the graph: a graphviz ``Digraph`` if graphviz is installed, else a figure.

        Args:
            path: Where to save the drawing (PNG), or None.
        """
        from delve_advisor.graph.plot import draw_graph

        return draw_graph(self, path)

    def __repr__(self) -> str:
        return (
            f"ReceptiveFieldAnalysis(input_size={self.input_size}, layers={len(self.layers)}, "
            f"capture_method={self.capture_method!r}, warnings={len(self.warnings)})"
        )


def _check_input_size(input_size: Any) -> tuple[int, ...]:
    try:
        values = tuple(input_size)
    except TypeError:
        values = ()
    if not 2 <= len(values) <= 4 or not all(isinstance(v, int) and v > 0 for v in values):
        raise InvalidArgumentError(
            "input_size must be (C, H, W) (or (C, L), (C, D, H, W)) positive ints without the "
            f"batch dimension; got {input_size!r}"
        )
    return values


def receptive_field(
    model: nn.Module,
    input_size: Sequence[int] = (3, 224, 224),
    *,
    leaf_modules: Sequence[type] = (),
    capture: str | None = None,
) -> ReceptiveFieldAnalysis:
    """Computes the receptive field of every layer of ``model`` from its graph.

    The model is traced (``torch.fx``; the autograd graph of one forward pass if fx fails) and
    run once on a random input of shape ``(1, *input_size)`` on its own device and dtype, in
    eval mode; it is not modified and every module's train/eval flag is restored.

    Args:
        model: The model.
        input_size: ``(C, H, W)`` without the batch dimension.
        leaf_modules: Module types to keep as one node (a rule may be registered for them).
        capture: "torch.fx" or "autograd" to force a capture method; None picks.

    Returns:
        The analysis.

    Raises:
        InvalidArgumentError: ``model`` is not a module or ``input_size`` is malformed.
        InputSizeError: The input is too small; the message names the layer where it vanishes.
        GraphCaptureError: No capture method can record the model's graph.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, dilation=4), torch.nn.ReLU())
        >>> rf = receptive_field(net, (3, 32, 32))
        >>> rf.layer("0").r_max
        (9, 9)
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    size = _check_input_size(input_size)
    if capture not in (None, "torch.fx", "autograd"):
        raise InvalidArgumentError(
            f"capture must be None, 'torch.fx' or 'autograd'; got {capture!r}"
        )
    leaves = tuple(leaf_modules)
    captured = capture_graph(model, size, leaves, method=capture)
    analysis = ReceptiveFieldAnalysis(model, size, captured, leaves)
    for message in analysis.warnings:
        _log.warning(message)
    return analysis
