"""Tracker overhead, measured side by side in one run.

torchvision ResNet-18 (10 classes) at 32x32, batch 128, CPU, every conv and linear layer tracked,
channelwise. Prints:

- training step with our tracker / without (target <= 1.10);
- ``add_saturations()`` for all layers, seconds (target <= 0.2 s);
- the same two figures for delve 0.1.50 when it is installed (``pip install delve==0.1.50
  tensorboardX``; a benchmark-only comparison, not a dependency);
- peak resident memory of a process running the steps, with and without the tracker.

Steps are interleaved (plain, ours, delve, plain, ...) so that drift on a shared machine hits every
variant alike; the median of each is reported.

    python benchmarks/bench_tracker.py [--steps 15] [--batch 128]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch
import torchvision
from torch import nn


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x, y) -> None:
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def _make(seed: int = 0):
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, optimizer


def _ours(model, savedir):
    from delve_advisor import SaturationTracker

    return SaturationTracker(savedir, save_to=[], modules=model, stats=["lsat"])


def _delve(model, savedir):
    from delve import SaturationTracker as DelveTracker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DelveTracker(savedir, save_to="csv", modules=model, stats=["lsat"], device="cpu")


def _time_add_saturations(tracker, model, optimizer, x, y, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        _step(model, optimizer, x, y)
        start = time.perf_counter()
        tracker.add_saturations()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _memory_child(variant: str, steps: int, batch: int) -> None:
    import resource

    model, optimizer = _make()
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    with tempfile.TemporaryDirectory() as tmp:
        tracker = {"plain": lambda m, d: None, "ours": _ours, "delve": _delve}[variant](model, tmp)
        for _ in range(steps):
            _step(model, optimizer, x, y)
        if tracker is not None:
            tracker.add_saturations()
    print(json.dumps({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _peak_memory(variant: str, steps: int, batch: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-child",
            variant,
            "--steps",
            str(steps),
            "--batch",
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["maxrss_mib"]


def main() -> None:
    import logging

    logging.getLogger("delve").setLevel(logging.WARNING)  # delve logs every layer at INFO
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--memory-child", choices=["plain", "ours", "delve"])
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child, 3, args.batch)
        return

    have_delve = importlib.util.find_spec("delve") is not None
    torch.manual_seed(0)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    variants = {"plain": _make(), "ours": _make()}
    if have_delve:
        variants["delve"] = _make()
    tmp = tempfile.TemporaryDirectory()
    trackers = {"ours": _ours(variants["ours"][0], tmp.name + "/ours")}
    if have_delve:
        trackers["delve"] = _delve(variants["delve"][0], tmp.name + "/delve")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.steps + 3):
        for name, (model, optimizer) in variants.items():
            start = time.perf_counter()
            _step(model, optimizer, x, y)
            if i >= 3:  # warm-up
                times[name].append(time.perf_counter() - start)
    step = {name: statistics.median(t) for name, t in times.items()}
    add_sat = {
        name: _time_add_saturations(tracker, *variants[name], x, y)
        for name, tracker in trackers.items()
    }
    for tracker in trackers.values():
        with contextlib.suppress(Exception):
            tracker.close()

    print(
        f"ResNet-18, 32x32, batch {args.batch}, CPU threads {torch.get_num_threads()}, "
        f"{len(trackers['ours'].layer_names)} layers tracked (channelwise)"
    )
    print(f"plain training step                     {step['plain']:.3f} s")
    print(
        f"with delve-advisor tracker              {step['ours']:.3f} s   "
        f"ratio {step['ours'] / step['plain']:.3f}  (target <= 1.10)"
    )
    if have_delve:
        print(
            f"with delve 0.1.50 (last batch only)     {step['delve']:.3f} s   "
            f"ratio {step['delve'] / step['plain']:.3f}"
        )
    print(f"add_saturations(), all layers, ours     {add_sat['ours']:.3f} s  (target <= 0.2 s)")
    if have_delve:
        print(f"add_saturations(), all layers, delve    {add_sat['delve']:.3f} s")
    else:
        print("delve 0.1.50 not installed: no side-by-side figures")
    mem = {v: _peak_memory(v, 3, args.batch) for v in ["plain", "ours"] + (["delve"] * have_delve)}
    print(
        "peak RSS of a 3-step process: "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in mem.items())
        + f"; ours - plain = {mem['ours'] - mem['plain']:+.0f} MiB"
    )


if __name__ == "__main__":
    main()
