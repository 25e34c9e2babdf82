"""Times receptive-field analysis against one forward pass of the same model, side by side.

Run: ``PYTHONPATH=. python benchmarks/bench_receptive_field.py [--repeats 5]``. Prints the best
of ``repeats`` for each (analysis: trace + one shape-recording forward + the per-layer pass) and
their ratio, all measured in this one run on this machine.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
import torchvision

from delve_advisor import receptive_field

_log = logging.getLogger("bench_receptive_field")


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _log.info("torch %s, %d threads", torch.__version__, torch.get_num_threads())
    _log.info("%-10s %12s %12s %8s", "model", "analysis s", "forward s", "ratio")
    for name in ("resnet18", "resnet152"):
        model = getattr(torchvision.models, name)().eval()
        x = torch.rand(1, 3, args.size, args.size)
        with torch.no_grad():
            model(x)  # warm-up

        def forward(model=model, x=x) -> None:
            with torch.no_grad():
                model(x)

        def analyze(model=model) -> None:
            receptive_field(model, (3, args.size, args.size))

        analyze()  # warm-up
        t_fwd = _best(forward, args.repeats)
        t_rf = _best(analyze, args.repeats)
        _log.info("%-10s %12.3f %12.3f %8.2f", name, t_rf, t_fwd, t_rf / t_fwd)


if __name__ == "__main__":
    main()
