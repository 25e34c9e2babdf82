"""Tiny models with known answers, for tests, examples and experiments.

The conformance cases every edit operation must pass are in :mod:`delve_advisor.testing.edits`.
"""

from __future__ import annotations

import pandas as pd
from torch import nn

from delve_advisor.report.report import Report

__all__ = ["matched_cnn", "tail_cnn", "tiny_report"]


def matched_cnn(in_channels: int = 1, width: int = 16, num_classes: int = 10) -> nn.Module:
    """A small CNN whose receptive field fits 28-px inputs: the advisor should find no tail.

    5×5 conv, 2×2 max-pool, 3×3 conv, 2×2 max-pool, 3×3 conv, global average pool, linear. The
    receptive fields are 5, 6, 10, 12 and 20 px (r_max = r_min: one path), so at 28 px no layer
    covers the input and every input map stays larger than the kernel.

    Args:
        in_channels: Input channels.
        width: Channels of the first conv; the next two have twice as many.
        num_classes: Outputs of the linear head.

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> receptive_field(matched_cnn(), (1, 28, 28)).unproductive(28)
        []
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def tail_cnn(in_channels: int = 3, width: int = 8, num_classes: int = 10) -> nn.Module:
    """A small CNN with a tail at 16-px inputs: two stride-2 convs, then four 3×3 convs.

    Receptive fields (r_max = r_min) are 3, 7, 15, 23, 31 and 39 px, so at 16 px the last two
    convs are unproductive. Cheap enough for search tests (one trial well under a second).

    Args:
        in_channels: Input channels.
        width: Channels of every conv.
        num_classes: Outputs of the linear head.

    Returns:
        The model (``nn.Sequential``).

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> analysis = receptive_field(tail_cnn(), input_size=(3, 16, 16))
        >>> len(analysis.unproductive((16, 16)))
        2
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1),
        nn.ReLU(),
    ]
    for _ in range(4):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def tiny_report() -> Report:
    """A one-layer graph-only report at 28 px with no tail: the smallest valid report.

    Returns:
        The report.

    Example:
        >>> tiny_report().status
        'graph_only'
    """
    layers = pd.DataFrame(
        {
            "name": ["conv1"],
            "type": ["Conv2d"],
            "params": [432],
            "flops": [338688],
            "output_shape": [[16, 28, 28]],
            "r_min": [3.0],
            "r_max": [3.0],
            "unproductive": [False],
            "in_tail": [False],
            "evidence": ["neither"],
        }
    )
    return Report(
        layers=layers,
        tail=[],
        suggestions=[],
        meta={"status": "graph_only", "input_size": [1, 28, 28]},
    )
