"""Cost of applying and verifying every suggestion for ResNet-50, against one forward pass.

ResNet-50 (10 classes, random weights), CPU, batch 1, eval mode. At 224 px the graph-only
advisor finds no tail in ResNet-50, so the suggestions are those it makes at ``--suggest-at``
(default 32 px) and they are applied at 224 px. Prints, in one run:

- one forward pass at 224 px (median of ``--repeats``), seconds;
- applying and verifying every suggestion (``apply_edits``: deep copy, coupled edits, forward
  checks) and measuring its after-prediction (receptive fields, feasible range, FLOPs), seconds;
- the ratio of the two.

    python benchmarks/bench_edits.py [--size 224] [--suggest-at 32] [--repeats 5] [--quick]

``--quick`` runs ResNet-18 at 64 px with one repeat (a smoke test, not a figure).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from delve_advisor.advisor.suggestions import rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import find_tail
from delve_advisor.edits import apply_edits
from delve_advisor.graph import receptive_field


def _forward_seconds(model: torch.nn.Module, size: tuple[int, ...], repeats: int) -> float:
    x = torch.rand(1, *size)
    model.eval()
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--suggest-at", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.model, args.size, args.repeats = "resnet18", 64, 1
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.model, weights=None, num_classes=10)
    size = (3, args.size, args.size)
    small = (3, args.suggest_at, args.suggest_at)
    analysis = receptive_field(model, input_size=small)
    body, _ = weighted_layers(analysis, model)
    tail = find_tail(body, rf_evidence(analysis, body, small[1:]))
    suggestions, _ = suggest(model, analysis, tail.tail, small)
    forward = _forward_seconds(model, size, args.repeats)

    start = time.perf_counter()
    applied = 0
    for s in suggestions:
        result = apply_edits(model, s.edits, size)
        result.after  # noqa: B018 - measured on access
        applied += 1
    editing = time.perf_counter() - start

    print(f"model {args.model}, {applied} suggestions (made at {args.suggest_at} px), {size}")
    print(f"one forward pass:                 {forward:.4f} s (median of {args.repeats})")
    print(f"apply + verify + measure, all:    {editing:.4f} s")
    print(f"ratio (editing / one forward):    {editing / forward:.1f}")


if __name__ == "__main__":
    main()
