"""Linear probes: how well a logistic regression on each layer's pooled features classifies.

The papers' check that tail layers stop improving the solution: probe accuracy rises through the
productive layers and flattens (or drops) in the tail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from delve_advisor._hooks import Hooks
from delve_advisor._modules import eval_mode
from delve_advisor.edits import get_module

__all__ = ["probe_accuracy"]


def _pooled(module: nn.Module, output: torch.Tensor) -> torch.Tensor:
    """Conv (N, C, *spatial) -> (N, C) by global average; (N, ..., F) -> (N, F) over tokens."""
    if output.dim() <= 2:
        return output
    if isinstance(module, nn.modules.conv._ConvNd):
        return output.flatten(2).mean(dim=2)
    return output.flatten(1, -2).mean(dim=1)


def _collect(
    model: nn.Module, layers: Sequence[str], loader: Iterable, device: torch.device, limit: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    features: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    labels: list[torch.Tensor] = []
    seen = 0
    with Hooks() as hooks:
        for name in layers:

            def hook(module, inputs, output, name=name):
                out = output[0] if isinstance(output, tuple) else output
                features[name].append(_pooled(module, out.detach()).float().cpu())

            hooks.forward(get_module(model, name), hook)
        with eval_mode(model), torch.no_grad():
            for x, y in loader:
                if seen >= limit:
                    break
                take = min(len(y), limit - seen)
                model(x[:take].to(device))
                labels.append(y[:take].cpu())
                seen += take
    return {n: torch.cat(f) for n, f in features.items()}, torch.cat(labels)


def _fit_and_score(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    num_classes: int,
    weight_decay: float,
    steps: int,
) -> float:
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std
    probe = nn.Linear(train_x.shape[1], num_classes)
    optimizer = torch.optim.LBFGS(
        probe.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(probe(train_x), train_y)
        loss = loss + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return float((probe(val_x).argmax(1) == val_y).float().mean())


def probe_accuracy(
    model: nn.Module,
    layers: Sequence[str],
    train_loader: Iterable,
    val_loader: Iterable,
    num_classes: int,
    *,
    device: torch.device | str = "cpu",
    train_samples: int = 2000,
    val_samples: int = 1000,
    weight_decay: float = 1e-4,
    steps: int = 100,
) -> dict[str, float]:
    """Validation accuracy of a logistic-regression probe on each layer's pooled output.

    Conv outputs are averaged over space, token outputs over tokens; features are standardised on
    the training samples; the probe is fit with L-BFGS and an L2 penalty.

    Args:
        model: The (trained) model; its mode is restored and it is not changed.
        layers: Module paths to probe.
        train_loader: Batches (x, y) the probes are fit on.
        val_loader: Batches (x, y) they are scored on.
        num_classes: Number of classes.
        device: Where the model runs.
        train_samples: At most this many training samples.
        val_samples: At most this many validation samples.
        weight_decay: L2 penalty on the probe's weights.
        steps: L-BFGS iterations.

    Returns:
        Layer -> accuracy in [0, 1] (NaN when a layer produced no usable features).

    Example:
        >>> from delve_advisor.data import load_data
        >>> from delve_advisor.testing import matched_cnn
        >>> data = load_data("synthetic:n=64,size=28,val=32", batch_size=32)
        >>> scores = probe_accuracy(matched_cnn(3), ["0"], data.train, data.val, 10, steps=5)
        >>> list(scores), 0.0 <= scores["0"] <= 1.0
        (['0'], True)
    """
    device = torch.device(device)
    train_f, train_y = _collect(model, layers, train_loader, device, train_samples)
    val_f, val_y = _collect(model, layers, val_loader, device, val_samples)
    result = {}
    for name in layers:
        tx, vx = train_f[name], val_f[name]
        if tx.numel() == 0 or not torch.isfinite(tx).all() or not torch.isfinite(vx).all():
            result[name] = math.nan
            continue
        result[name] = _fit_and_score(tx, train_y, vx, val_y, num_classes, weight_decay, steps)
    return result
