"""Search throughput (trials per hour, 1 and 2 workers) and the training loop's tracker overhead.

1. The quickstart recipe (``recipes/quickstart.yaml``) run twice in fresh run directories, once
   with one worker and once with two against one journal-file study, the same number of trials;
   prints trials per hour for each and the ratio (one run each, not repeated).
2. The shared training loop (``delve_advisor.training.train_model``) on ResNet-18 at 28 px
   (Fashion-MNIST when ``../shared/data/FashionMNIST`` exists, else synthetic), CPU: the same
   epochs without callbacks, with the saturation tracker (``TrackerCallback``, eval tracked in
   the last epoch only), and ``advise()`` as a whole, after ``--warmup`` uncounted runs the three
   alternated ``--repeats`` times in a rotating order;
   prints each run and the ratios of the medians (targets: tracker <= 1.10, ``advise()`` <= 1.10
   of the untracked run).

The lead runs this on an idle machine for figures; ``--quick`` only checks that it runs.

    python benchmarks/bench_search.py [--trials 8] [--epochs 2] [--limit 2048] [--repeats 3]
        [--warmup 1] [--overhead-only] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from delve_advisor.advisor.advise import advise
from delve_advisor.data import load_data
from delve_advisor.models import load_model
from delve_advisor.search import load_recipe, parse_recipe, run_search
from delve_advisor.training import TrackerCallback, seed_everything, train_model

REPO = Path(__file__).resolve().parents[1]
FASHION = REPO.parent / "shared" / "data" / "FashionMNIST"


def _search_rate(recipe_path: Path, trials: int, workers: int, quick: bool) -> float:
    recipe = load_recipe(recipe_path)
    data = recipe.model_dump(exclude={"path"})
    if quick:
        data["data"]["spec"] = "synthetic:n=64,val=32,size=32"
        data["training"]["epochs"] = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        path.write_text(yaml.safe_dump(data))
        recipe = parse_recipe(data, path)
        # the advice is not part of the trial rate: compute it once before timing
        run_search(recipe, n_trials=1, workers=1, out=Path(tmp) / "run", progress=False)
        start = time.perf_counter()
        run_search(
            recipe, n_trials=1 + trials, workers=workers, out=Path(tmp) / "run", progress=False
        )
        seconds = time.perf_counter() - start
    return trials / seconds * 3600


def _model(data):
    seed_everything(0)
    return load_model(
        "torchvision:resnet18", num_classes=data.num_classes, in_channels=data.in_channels
    )


def _overhead(epochs: int, limit: int, repeats: int, warmup: int) -> None:
    """Plain, tracked and advise() runs alternated ``repeats`` times; the median of each.

    One long run each differs by several percent from the next on this machine; alternating
    the three in a rotating order, after ``warmup`` uncounted runs, and taking medians keeps
    drift (thermal, page cache) out of the ratios. The median of the per-round ratios is printed
    too: each round's three runs are neighbours in time.
    """
    spec = f"fashion-mnist:{FASHION}" if (FASHION / "raw").is_dir() else "synthetic:size=28"
    data = load_data(spec, input_size=28, batch_size=64, limit=limit, seed=0)
    common = {"epochs": epochs, "device": "cpu", "seed": 0, "progress": False}
    times: dict[str, list[float]] = {"plain": [], "tracked": [], "advise": []}

    def run(kind: str) -> float:
        if kind == "advise":
            start = time.perf_counter()
            advise(_model(data), data, input_size=28, epochs=epochs, device="cpu", progress=False)
            return time.perf_counter() - start
        callbacks = [TrackerCallback()] if kind == "tracked" else ()
        return train_model(
            _model(data), data.train, data.val, callbacks=callbacks, **common
        ).seconds

    for _ in range(warmup):
        run("plain")  # page cache, allocator and thread pools warm; not counted
    order = list(times)
    for repeat in range(repeats):
        # rotate the order so that no kind always runs first (or last) in a round
        shift = repeat % len(order)
        for kind in order[shift:] + order[:shift]:
            times[kind].append(run(kind))
    plain, tracked, advised = (statistics.median(times[k]) for k in ("plain", "tracked", "advise"))
    print(
        f"{spec.split(':')[0]}, {len(data.train.dataset)} train / {len(data.val.dataset)} val, "
        f"{epochs} epochs, ResNet-18 28 px, CPU threads {torch.get_num_threads()}, "
        f"median of {repeats} alternated runs"
    )
    for key, values in times.items():
        print(f"  {key:8s} runs: " + ", ".join(f"{v:.2f}" for v in values) + " s")
    for key in ("tracked", "advise"):
        ratios = [t / p for t, p in zip(times[key], times["plain"], strict=True)]
        print(
            f"  {key:8s} / plain per round: "
            + ", ".join(f"{r:.3f}" for r in ratios)
            + f" (median {statistics.median(ratios):.3f})"
        )
    print(f"train_model, no callbacks    {plain:7.2f} s")
    print(f"train_model + tracker        {tracked:7.2f} s   ratio {tracked / plain:.3f} (<= 1.10)")
    print(f"advise() total               {advised:7.2f} s   ratio {advised / plain:.3f} (<= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes" / "quickstart.yaml")
    parser.add_argument("--repeats", type=int, default=3, help="alternated overhead runs")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted plain runs first")
    parser.add_argument("--overhead-only", action="store_true", help="skip the trials/hour part")
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks it runs")
    args = parser.parse_args()
    trials, epochs, limit = (2, 1, 128) if args.quick else (args.trials, args.epochs, args.limit)
    repeats = 1 if args.quick else args.repeats
    if not args.overhead_only:
        one = _search_rate(args.recipe, trials, 1, args.quick)
        two = _search_rate(args.recipe, trials, 2, args.quick)
        print(f"quickstart search, {trials} trials: 1 worker {one:8.1f} trials/h")
        print(
            f"quickstart search, {trials} trials: 2 workers {two:8.1f} trials/h "
            f"ratio {two / one:.2f}"
        )
    _overhead(epochs, limit, repeats, 0 if args.quick else args.warmup)


if __name__ == "__main__":
    main()
