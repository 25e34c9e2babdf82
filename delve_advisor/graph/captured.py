"""The captured graph: a model's operations in forward order with their real shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import fx

__all__ = ["CapturedGraph", "CapturedNode"]


@dataclass
class CapturedNode:
    """One operation of the captured graph.

    Attributes:
        name: Unique readable name: the module path (``layer2.0.conv1``; ``:k`` for the k-th
            reuse of a module), or ``<enclosing module>.<op>`` for functional ops.
        kind: "input", "module", "function" or "method".
        op: The module's type name or the function's name.
        target: The module, the function, or ``torch.Tensor.<method>``; for autograd capture of a
            functional op, the autograd node.
        module_path: The dotted module path for module calls, else None.
        inputs: Names of the graph nodes feeding this one (parameters and constants excluded).
        args: Positional arguments, tensors replaced by :class:`TensorInfo`.
        kwargs: Keyword arguments, tensors replaced by :class:`TensorInfo`.
        input_shapes: Output shapes of ``inputs``, in the same order.
        output_shape: Shape of the output (the first tensor of a tuple output), or None.
        rule: A rule fixed by the capture itself (autograd capture of functional ops); None means
            the registered rule for ``target``.

    Example:
        >>> import torch
        >>> from delve_advisor.graph import capture_graph
        >>> graph = capture_graph(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), (1, 8, 8))
        >>> node = graph.nodes[-1]
        >>> node.name, node.kind, node.op, node.output_shape
        ('0', 'module', 'Conv2d', (1, 2, 6, 6))
    """

    name: str
    kind: str
    op: str
    target: Any
    module_path: str | None
    inputs: list[str]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shape: tuple[int, ...] | None = None
    rule: Any = None


@dataclass
class CapturedGraph:
    """The nodes of a captured model in forward order and how they were captured.

    Example:
        >>> import torch
        >>> from delve_advisor.graph import capture_graph
        >>> graph = capture_graph(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), (1, 8, 8))
        >>> graph.method, [n.name for n in graph.nodes]
        ('torch.fx', ['input_1', '0'])
    """

    nodes: list[CapturedNode]
    method: str
    input_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)
    #: The traced fx graph (fx captures only), reusable to propagate other input shapes.
    fx_graph: fx.Graph | None = None
