"""Figures of a receptive-field analysis: r per layer, and the graph itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from delve_advisor._deprecation import deprecated_attributes, deprecated_function

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from delve_advisor.graph.receptive_field import ReceptiveFieldAnalysis

__all__ = ["draw_graph", "draw_receptive_field", "plot_analysis"]


_UNPRODUCTIVE_COLOUR = "#d62728"
_GLOBAL_COLOUR = "#9467bd"


def draw_receptive_field(
    ax: Axes,
    r_min: Sequence[float],
    r_max: Sequence[float],
    unproductive: Sequence[bool],
    resolution: int | None,
    *,
    legend: bool = True,
    axis_name: str = "",
) -> None:
    """Draws r_min and r_max against depth on ``ax``: the one receptive-field drawing.

    Used by :meth:`ReceptiveFieldAnalysis.plot` (one panel per axis) and by the report's plots.
    Global layers (r = ∞) are triangles at the top; unproductive layers are red squares; the
    input resolution is a dotted line.

    Args:
        ax: The matplotlib axes.
        r_min: Smallest receptive field per layer (``inf`` for global layers).
        r_max: Largest receptive field per layer.
        unproductive: Whether each layer is unproductive at ``resolution``.
        resolution: The input resolution to mark, or None.
        legend: Draw the legend.
        axis_name: Appended to the y label (``"h"``, ``"w"``), or empty.

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> inf = float("inf")
        >>> draw_receptive_field(ax, [3.0, 7.0, inf], [3.0, 9.0, inf], [False, True, False], 8)
        >>> [line.get_label() for line in ax.get_lines()]
        ['r_max', 'r_min', 'input size 8 px']
    """
    r_min = np.asarray(r_min, dtype=float)
    r_max = np.asarray(r_max, dtype=float)
    unproductive = np.asarray(unproductive, dtype=bool)
    x = np.arange(len(r_max))
    finite = np.concatenate([r_min[np.isfinite(r_min)], r_max[np.isfinite(r_max)]])
    top = max([*finite.tolist(), resolution or 1, 1.0]) * 1.6
    ax.set_yscale("log")
    for values, style, label in ((r_max, "-", "r_max"), (r_min, "--", "r_min")):
        shown = np.where(np.isfinite(values), values, np.nan)
        colour = "#444444" if label == "r_max" else "#888888"
        ax.plot(x, shown, style, marker="o", ms=3, color=colour, label=label)
    is_global = np.isinf(r_max)
    if is_global.any():
        ax.scatter(
            x[is_global],
            np.full(int(is_global.sum()), top / 1.25),
            marker="^",
            color=_GLOBAL_COLOUR,
            zorder=3,
            label="global (∞)",
        )
    if unproductive.any():
        y = np.where(np.isfinite(r_min), r_min, top / 1.25)[unproductive]
        ax.scatter(
            x[unproductive],
            y,
            marker="s",
            s=36,
            facecolors="none",
            edgecolors=_UNPRODUCTIVE_COLOUR,
            linewidths=1.5,
            zorder=4,
            label="unproductive",
        )
    if resolution:
        ax.axhline(
            resolution,
            color=_UNPRODUCTIVE_COLOUR,
            lw=1.2,
            ls=":",
            label=f"input size {resolution} px",
        )
    ax.set_ylim(0.8, top)
    ax.set_ylabel(f"receptive field{f' ({axis_name})' if axis_name else ''} (px)")
    ax.grid(axis="y", which="major", alpha=0.3)
    if legend:
        ax.legend(loc="upper left", fontsize=8)


def plot_analysis(
    analysis: ReceptiveFieldAnalysis, resolution: tuple[int, ...], path: str | None = None
) -> Figure:
    """Plots r_min and r_max of every spatial layer in forward order, one panel per axis.

    The drawing is :func:`draw_receptive_field`, the same as in a report's plots.

    Args:
        analysis: The analysis.
        resolution: Input resolution, one value per axis.
        path: Where to save a PNG, or None.

    Returns:
        The figure (``matplotlib.figure.Figure``, no pyplot state).

    Example:
        >>> import torch
        >>> from delve_advisor.graph import receptive_field
        >>> analysis = receptive_field(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), (1, 8, 8))
        >>> len(plot_analysis(analysis, (8, 8)).axes)
        2
    """
    from matplotlib.figure import Figure

    layers = analysis.spatial_layers
    bad = set(analysis.unproductive(resolution))
    nd = len(resolution)
    fig = Figure(figsize=(max(6.0, 0.12 * len(layers) + 3), 3.2 * nd))
    axes = fig.subplots(nd, 1, squeeze=False)[:, 0]
    names = ("h", "w") if nd == 2 else tuple(f"axis {a}" for a in range(nd))
    flags = [layer.node_name in bad for layer in layers]
    for a, ax in enumerate(axes):
        draw_receptive_field(
            ax,
            [layer.r_min[a] for layer in layers],
            [layer.r_max[a] for layer in layers],
            flags,
            resolution[a],
            axis_name=names[a],
        )
    axes[-1].set_xticks(list(range(len(layers))))
    axes[-1].set_xticklabels([layer.node_name for layer in layers], rotation=90, fontsize=6)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format="png", dpi=120)
    return fig


def draw_graph(analysis: ReceptiveFieldAnalysis, path: str | None = None) -> Any:
    """Draws the dataflow graph, labelled with each node's r_max.

    Uses the ``graphviz`` package when installed (returns a ``graphviz.Digraph``), otherwise
    networkx's layout on a matplotlib figure (returns the figure).

    Args:
        analysis: The analysis.
        path: Where to save a PNG, or None.
    """
    graph = analysis.graph
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        dot = graphviz.Digraph(format="png")
        for name, data in graph.nodes(data=True):
            record = data["record"]
            dot.node(name, f"{name}\\n{record.op} r_max={record.r_max}")
        for source, target in graph.edges:
            dot.edge(source, target)
        if path is not None:
            dot.render(outfile=path, cleanup=True)
        return dot

    import networkx as nx
    from matplotlib.figure import Figure

    order = {name: i for i, name in enumerate(graph.nodes)}
    depth: dict[str, int] = {}
    for name in nx.topological_sort(graph):
        depth[name] = 1 + max((depth[p] for p in graph.predecessors(name)), default=-1)
    rows: dict[int, int] = {}
    pos = {}
    for name in sorted(graph.nodes, key=order.__getitem__):
        d = depth[name]
        pos[name] = (rows.get(d, 0), -d)
        rows[d] = rows.get(d, 0) + 1
    fig = Figure(figsize=(max(4, 1.5 * max(rows.values(), default=1)), 0.4 * len(rows) + 2))
    ax = fig.subplots()
    labels = {n: f"{n}\nr={graph.nodes[n]['record'].r_max[0]}" for n in graph.nodes}
    nx.draw_networkx(graph, pos, ax=ax, labels=labels, node_size=80, font_size=5, arrows=True)
    ax.set_axis_off()
    if path is not None:
        fig.savefig(path, format="png", dpi=120)
    return fig


# One plot_receptive_field in the package (a report's, delve_advisor.report.plots); this one
# was renamed plot_analysis.
__getattr__ = deprecated_attributes(
    __name__,
    {
        "plot_receptive_field": (
            deprecated_function(
                plot_analysis,
                "delve_advisor.graph.plot.plot_receptive_field",
                "delve_advisor.graph.plot.plot_analysis",
            ),
            "delve_advisor.graph.plot.plot_analysis",
        )
    },
)
