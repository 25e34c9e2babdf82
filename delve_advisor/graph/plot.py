"""Figures of a receptive-field analysis: r per layer, and the graph itself."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from delve_advisor.graph.receptive_field import ReceptiveFieldAnalysis

__all__ = ["draw_graph", "plot_receptive_field"]


def plot_receptive_field(
    analysis: ReceptiveFieldAnalysis, resolution: tuple[int, ...], path: str | None = None
) -> Figure:
    """Plots r_min and r_max of every spatial layer in forward order, one panel per axis.

    The resolution is drawn as a horizontal line; unproductive layers are marked in red. Global
    values (r = ∞) are drawn at the top edge of the panel.

    Args:
        analysis: The analysis.
        resolution: Input resolution, one value per axis.
        path: Where to save a PNG, or None.

    Returns:
        The figure (``matplotlib.figure.Figure``, no pyplot state).
    """
    from matplotlib.figure import Figure

    layers = analysis.spatial_layers
    bad = set(analysis.unproductive(resolution))
    nd = len(resolution)
    fig = Figure(figsize=(max(6.0, 0.12 * len(layers) + 3), 3.2 * nd))
    axes = fig.subplots(nd, 1, squeeze=False)[:, 0]
    names = ("h", "w") if nd == 2 else tuple(f"axis {a}" for a in range(nd))
    x = list(range(len(layers)))
    for a, ax in enumerate(axes):
        finite = [v for layer in layers for v in (layer.r_max[a],) if math.isfinite(v)]
        top = max([*finite, resolution[a]], default=1) * 1.1
        r_min = [min(layer.r_min[a], top) for layer in layers]
        r_max = [min(layer.r_max[a], top) for layer in layers]
        ax.plot(x, r_max, "-o", ms=3, label="r_max")
        ax.plot(x, r_min, "-s", ms=3, label="r_min")
        ax.axhline(resolution[a], color="k", ls="--", lw=1, label=f"resolution {resolution[a]}")
        marked = [i for i, layer in enumerate(layers) if layer.name in bad]
        if marked:
            ax.scatter(
                marked, [r_max[i] for i in marked], color="red", zorder=3, label="unproductive"
            )
        ax.set_ylabel(f"receptive field ({names[a]}), px")
        ax.legend(loc="upper left", fontsize=7)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels([layer.name for layer in layers], rotation=90, fontsize=6)
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
