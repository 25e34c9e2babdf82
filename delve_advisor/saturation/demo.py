"""A self-contained saturation demo: a small CNN on synthetic data, tracked for a few epochs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from delve_advisor.saturation.tracker import SaturationTracker

__all__ = ["run_tracker_demo"]


def _synthetic_batches(num_batches: int, batch_size: int, seed: int) -> list[tuple]:
    """Two-class images: a bright square in the left or right half of a noisy 16x16 image."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(num_batches):
        x = 0.1 * torch.randn(batch_size, 1, 16, 16, generator=generator)
        y = torch.randint(0, 2, (batch_size,), generator=generator)
        rows = torch.randint(0, 12, (batch_size,), generator=generator)
        cols = torch.randint(0, 4, (batch_size,), generator=generator) + 8 * y
        for i in range(batch_size):
            x[i, 0, rows[i] : rows[i] + 4, cols[i] : cols[i] + 4] += 1.0
        batches.append((x, y))
    return batches


def run_tracker_demo(out: str | Path, epochs: int = 2, seed: int = 0) -> str:
    """Trains a small CNN for ``epochs`` with a tracker writing CSV and plots into ``out``.

    Returns:
        A short text: final eval saturation per layer and where the files are.
    """
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Linear(16, 2),
    )
    train, test = _synthetic_batches(20, 32, seed), _synthetic_batches(5, 32, seed + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    out = Path(out)
    with SaturationTracker(
        out, save_to=["csv", "plot"], modules=model, stats=["lsat", "idim"]
    ) as tracker:
        for _ in range(epochs):
            model.train()
            for x, y in train:
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in test)
            tracker.add_scalar("eval-accuracy", correct / 160)
            tracker.add_saturations()
        history = tracker.history
    last = history[
        (history.epoch == history.epoch.max())
        & (history.stat == "lsat")
        & (history["mode"] == "eval")
    ]
    lines = [f"{row.layer}: {100 * row.value:.0f} % saturated" for row in last.itertuples()]
    return "\n".join([*lines, f"files in {out.resolve()}"])
