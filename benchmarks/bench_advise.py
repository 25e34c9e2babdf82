"""Overhead of advise() beyond the training it runs, measured side by side in one run.

ResNet-18 (1 input channel) on Fashion-MNIST at 28x28 (or the synthetic set when the files are
absent), CPU. Runs the same budget twice — a plain training loop with evaluation, then advise()
with the same epochs, batches and optimiser — and prints:

- plain training + evaluation, seconds;
- advise() in total, and split into its tracked run and the analysis around it (receptive
  field, FLOPs, tail, suggestions measured on edited copies);
- the ratios advise / plain (target: overhead beyond the training <= 10 %).

    python benchmarks/bench_advise.py [--epochs 2] [--limit 4096] [--data SPEC]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from delve_advisor import load_data, load_model
from delve_advisor.advisor.advise import advise

FASHION = Path(__file__).resolve().parents[2] / "shared" / "data" / "FashionMNIST"


def _plain(model, data, epochs: int, lr: float) -> float:
    start = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for x, y in data.train:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, _ in data.val:
                model(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=4096)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    spec = args.data or (
        f"fashion-mnist:{FASHION}" if (FASHION / "raw").is_dir() else "synthetic:size=28"
    )
    data = load_data(spec, batch_size=64, limit=args.limit, seed=0)
    torch.manual_seed(0)
    model = load_model(
        "torchvision:resnet18", num_classes=data.num_classes, in_channels=data.in_channels
    )
    plain = _plain(
        load_model(
            "torchvision:resnet18", num_classes=data.num_classes, in_channels=data.in_channels
        ),
        data,
        args.epochs,
        1e-3,
    )
    start = time.perf_counter()
    report = advise(model, data, input_size=data.input_size, epochs=args.epochs, progress=False)
    total = time.perf_counter() - start
    run = report.meta["run_s"]
    analysis = total - run
    print(
        f"{spec.split(':')[0]}, {len(data.train.dataset)} train / {len(data.val.dataset)} val "
        f"images, {args.epochs} epochs, ResNet-18, CPU threads {torch.get_num_threads()}"
    )
    print(f"plain training + evaluation         {plain:7.2f} s")
    print(f"advise() total                      {total:7.2f} s   ratio {total / plain:.3f}")
    print(f"  tracked run (train + eval)        {run:7.2f} s   ratio {run / plain:.3f}")
    print(
        f"  analysis (RF, FLOPs, suggestions) {analysis:7.2f} s   "
        f"{100 * analysis / plain:.1f} % of the plain training"
    )
    print(f"overhead beyond the training: {100 * (total / plain - 1):.1f} % (target <= 10 %)")
    print(report.headline)


if __name__ == "__main__":
    main()
