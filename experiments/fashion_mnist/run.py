"""Does following the advice beat the model we had? Seeded arms on Fashion-MNIST.

Every arm trains from scratch with the same budget (training subset, epochs, optimiser, batch
size) and is tested on the full 10,000-image Fashion-MNIST test set:

* ``resnet18``: ``baseline`` (torchvision ResNet-18, 1 input channel, 28 px); ``first`` (the
  advisor's first suggestion, applied unattended with ``Suggestion.apply``); ``search`` (the best
  configuration an unattended ``run_search`` finds on the training data, retrained per seed);
  ``prune`` (the report's ``prune_layers`` suggestion, the efficiency arm).
* ``vgg16_bn``: ``baseline`` and ``first`` at 32 px (VGG-16 needs at least 32 px: the 28-px
  images are resized to 32 bilinearly).
* ``matched``: ``baseline`` only, a CNN whose receptive field fits 28 px
  (``delve_advisor.testing.matched_cnn``); the advisor must suggest nothing structural.

The advisor runs once per architecture (``advice.json``); its report picks the edits, nothing is
hand-picked. The advisor and the search see the training subset and a held-out slice of the
*training* set, never the test set. Each run writes ``<out>/<arch>/<arm>/seed<k>.json`` as it
finishes; re-running the same command skips the runs whose file exists.

    python experiments/fashion_mnist/run.py --budget cpu --out experiments/fashion_mnist/results/cpu
    python experiments/fashion_mnist/run.py --budget gpu --device cuda \
        --out experiments/fashion_mnist/results/gpu
    python experiments/fashion_mnist/summarise.py experiments/fashion_mnist/results/cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from delve_advisor import Report, advise, count_parameters, load_data, load_model, total_flops
from delve_advisor.edits import apply_edits, load_edits
from delve_advisor.search import load_recipe, run_search
from delve_advisor.testing import matched_cnn
from delve_advisor.training import evaluate, resolve_device, seed_everything, train_model

logger = logging.getLogger("fashion_mnist")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "FashionMNIST"
RECIPE = HERE / "search.yaml"
SUBSET_SEED = 1234  # the same training subset and held-out slice for every arm and seed
STRUCTURAL = ("drop_downsampling", "prune_layers")

#: The budgets. ``train``: training images (a fixed random subset of the 60,000), ``heldout``:
#: images of the training set the advisor and the search validate on, ``test``: test images
#: (None: all 10,000). ``search_*``: the search's budget (trials, epochs per trial, at most
#: ``search_limit`` images of each of the two splits; None: all of them).
BUDGETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "train": 64,
        "heldout": 32,
        "test": 64,
        "epochs": 1,
        "batch_size": 32,
        "advice_epochs": 1,
        "search_trials": 2,
        "search_epochs": 1,
        "search_limit": None,
        "seeds": [0],
    },
    "cpu": {
        "train": 1000,
        "heldout": 500,
        "test": 1000,
        "epochs": 1,
        "batch_size": 32,
        "advice_epochs": 1,
        "search_trials": 4,
        "search_epochs": 1,
        "search_limit": 500,
        "seeds": [0, 1, 2],
    },
    "gpu": {
        "train": 55000,
        "heldout": 5000,
        "test": None,
        "epochs": 15,
        "batch_size": 128,
        "advice_epochs": 3,
        "search_trials": 16,
        "search_epochs": 5,
        "search_limit": 20000,
        "seeds": [0, 1, 2, 3, 4],
    },
}
LR = 1e-3  # Adam; VGG-16-BN uses VGG_LR: at 1e-3 its loss blows up (results/cpu/log_vgg_lr1e-3.txt)
VGG_LR = 1e-4


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A model factory and the side its images are fed at."""

    build: Callable[[], nn.Module]
    side: int
    arms: tuple[str, ...]
    lr: float = LR


ARCHITECTURES = {
    "resnet18": Architecture(
        lambda: load_model("torchvision:resnet18", num_classes=10, in_channels=1),
        28,
        ("baseline", "first", "prune", "search"),
    ),
    "matched": Architecture(lambda: matched_cnn(width=32), 28, ("baseline",)),
    "vgg16_bn": Architecture(
        lambda: load_model("torchvision:vgg16_bn", num_classes=10, in_channels=1),
        32,
        ("baseline", "first"),
        VGG_LR,
    ),
}


class _Splits:
    """Loaders of the fixed training subset, the held-out slice and the test set, per side."""

    def __init__(self, data_dir: Path, budget: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.budget = budget
        self._cache: dict[int, Any] = {}

    def indices(self, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng(SUBSET_SEED).permutation(n_train)
        train = order[: self.budget["train"]]
        heldout = order[self.budget["train"] : self.budget["train"] + self.budget["heldout"]]
        return train, heldout

    def get(self, side: int) -> Any:
        """A ``Data`` whose ``train``/``val`` are the subset and the held-out slice, and the test
        loader, at ``side`` px."""
        if side not in self._cache:
            full = load_data(
                f"fashion-mnist:{self.data_dir}",
                input_size=side,
                batch_size=self.budget["batch_size"],
                seed=0,
            )
            train_idx, heldout_idx = self.indices(len(full.train.dataset))
            common = {"batch_size": self.budget["batch_size"], "collate_fn": full.train.collate_fn}
            train = DataLoader(
                Subset(full.train.dataset, train_idx.tolist()),
                shuffle=True,
                generator=torch.Generator().manual_seed(0),
                **common,
            )
            heldout = DataLoader(Subset(full.train.dataset, heldout_idx.tolist()), **common)
            test = full.val
            if self.budget["test"] is not None:
                keep = np.random.default_rng(SUBSET_SEED + 1).permutation(len(full.val.dataset))
                keep = keep[: self.budget["test"]].tolist()
                test = DataLoader(Subset(full.val.dataset, keep), **common)
            data = dataclasses.replace(full, train=train, val=heldout)
            self._cache[side] = (data, test, full)
        return self._cache[side]

    def write_npz(self, path: Path) -> Path:
        """The training subset and held-out slice at native size, for the search's recipe."""
        _, _, full = self.get(28)
        train_idx, heldout_idx = self.indices(len(full.train.dataset))
        x = full.train.dataset.x[:, 0].numpy()
        y = full.train.dataset.y.numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x[train_idx], y=y[train_idx], x_val=x[heldout_idx], y_val=y[heldout_idx])
        return path


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def summarise_report(report: Report) -> dict[str, Any]:
    """The saturation and receptive-field figures of a report, small enough to commit."""
    layers = report.layers
    body = layers[~layers["type"].isin(["Linear"])]
    sat = body["saturation_eval"].astype(float)
    return {
        "headline": report.headline,
        "tail": list(report.tail),
        "tail_length": len(report.tail),
        "unproductive": int(layers["unproductive"].sum()),
        "layers": len(layers),
        "mean_saturation_eval": _finite(float(sat.mean())) if sat.notna().any() else None,
        "median_saturation_eval": _finite(float(sat.median())) if sat.notna().any() else None,
        "suggestions": [
            {
                "rank": s.rank,
                "kind": s.kind,
                "targets": list(s.targets),
                "edits": [dict(e) for e in s.to_dict()["edits"]],
                "before": s.before.to_dict(),
                "after": s.after.to_dict(),
            }
            for s in report.suggestions
        ],
        "per_layer": [
            {
                "name": row["name"],
                "r_min": _finite(float(row["r_min"])),
                "r_max": _finite(float(row["r_max"])),
                "unproductive": bool(row["unproductive"]),
                "saturation_eval": _finite(float(row["saturation_eval"])),
                "in_tail": bool(row["in_tail"]),
            }
            for row in layers.to_dict(orient="records")
        ],
    }


def _advice(name: str, arch: Architecture, splits: _Splits, out: Path, budget: dict, dev: str):
    path = out / name / "advice.json"
    if path.is_file():
        return Report.from_json(path)
    data, _, _ = splits.get(arch.side)
    seed_everything(0)
    start = time.perf_counter()
    report = advise(
        arch.build(),
        data,
        input_size=(1, arch.side, arch.side),
        epochs=budget["advice_epochs"],
        lr=arch.lr,
        device=dev,
        model_name=name,
        progress=False,
    )
    report.meta["experiment_advise_s"] = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json())
    logger.info("[%s] advice: %s", name, report.headline)
    return report


def _search(splits: _Splits, out: Path, budget: dict, dev: str, work: Path) -> dict[str, Any]:
    """Runs (or resumes) the unattended search and keeps its small outputs in ``out/search``.

    The search reuses the experiment's ResNet-18 advice (``advice.json``, the same model, data
    and advice budget) instead of running the advisor a second time: ``run_search`` takes the
    report it finds in its run directory.
    """
    done = out / "resnet18" / "search" / "best.json"
    if done.is_file():
        return {**json.loads(done.read_text()), "out": done.parent}
    npz = splits.write_npz(work / "search-data.npz")
    recipe = load_recipe(RECIPE)
    recipe = recipe.model_copy(
        update={
            "data": recipe.data.model_copy(
                update={
                    "spec": f"npz:{npz}",
                    "batch_size": budget["batch_size"],
                    "limit": budget["search_limit"],
                }
            ),
            "training": recipe.training.model_copy(
                update={"epochs": budget["search_epochs"], "lr": LR, "device": dev}
            ),
            "advice": recipe.advice.model_copy(update={"epochs": budget["advice_epochs"]}),
            "n_trials": budget["search_trials"],
        }
    )
    run_dir = work / "search"
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "advice.json").is_file():
        shutil.copy(out / "resnet18" / "advice.json", run_dir / "advice.json")
    start = time.perf_counter()
    result = run_search(recipe, out=run_dir, progress=False)
    seconds = time.perf_counter() - start
    keep = done.parent
    keep.mkdir(parents=True, exist_ok=True)
    for kind in ("csv", "best_edits", "markdown"):
        if kind in result.paths:
            shutil.copy(result.paths[kind], keep / result.paths[kind].name)
    best_input = None
    import pandas as pd

    trials = pd.read_csv(result.paths["csv"])
    if result.best:
        row = trials[trials["number"] == result.best[0]["number"]]
        if "user_attrs_input_size" in row and not row.empty:
            best_input = json.loads(str(row["user_attrs_input_size"].iloc[0]).replace("'", '"'))
    summary = {
        "trials": result.trials,
        "best": result.best,
        "best_input_size": best_input,
        "best_edits": json.loads((keep / "best_edits.json").read_text())
        if (keep / "best_edits.json").is_file()
        else None,
        "seconds": seconds,
        "budget": {
            "n_trials": budget["search_trials"],
            "epochs": budget["search_epochs"],
            "train": budget["train"],
            "heldout": budget["heldout"],
            "limit": budget["search_limit"],
        },
    }
    _write_json(done, summary)
    return {**summary, "out": keep}


def _edited(name: str, arm: str, arch: Architecture, report: Report, search: dict | None):
    """(model, input side, edits, kind) for an arm, built after the seed was set."""
    model = arch.build()
    size = (1, arch.side, arch.side)
    if arm == "baseline":
        return model, size, [], "baseline"
    if arm == "first":
        if not report.suggestions:
            return None
        suggestion = report.suggestions[0]
        result = suggestion.apply(model, report.meta["input_size"])
        return result.model, result.input_size, [e.to_dict() for e in result.edits], suggestion.kind
    if arm == "prune":
        prune = [s for s in report.suggestions if s.kind == "prune_layers"]
        if not prune:
            return None
        result = prune[0].apply(model, report.meta["input_size"])
        return result.model, result.input_size, [e.to_dict() for e in result.edits], "prune_layers"
    if arm == "search":
        if search is None or search.get("best_edits") is None:
            return None
        edits = load_edits(search["out"] / "best_edits.json")
        result = apply_edits(model, edits, size)
        if search.get("best_input_size") and tuple(search["best_input_size"]) != result.input_size:
            raise RuntimeError(
                f"search picked input size {search['best_input_size']}, which the edits do not set"
            )
        return result.model, result.input_size, [e.to_dict() for e in result.edits], "search"
    raise ValueError(f"unknown arm {arm!r} for {name}")


def run_arm(
    name: str,
    arm: str,
    seed: int,
    arch: Architecture,
    report: Report,
    search: dict | None,
    splits: _Splits,
    budget: dict,
    dev: str,
    out: Path,
) -> dict[str, Any] | None:
    """Trains and tests one arm with one seed; writes and returns its record."""
    path = out / name / arm / f"seed{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    seed_everything(seed)
    built = _edited(name, arm, arch, report, search)
    if built is None:
        _write_json(out / name / arm / "skipped.json", {"reason": "no such suggestion"})
        return None
    model, size, edits, kind = built
    if arm == "search" and resolve_device(dev).type == "cpu":
        # The same edits, seed and budget as an arm already run: the same computation (training
        # on the CPU repeats exactly), so its record is reused instead of training it again.
        for other in ("baseline", "first", "prune"):
            other_path = out / name / other / f"seed{seed}.json"
            if other_path.is_file():
                record = json.loads(other_path.read_text())
                if record["edits"] == edits:
                    record.update(arm="search", kind=kind, copied_from=other)
                    _write_json(path, record)
                    logger.info("[%s/search seed %d] same edits as %s: reused", name, seed, other)
                    return record
    data, test, _ = splits.get(int(size[1]))
    params = count_parameters(model)
    flops = total_flops(model, size)
    result = train_model(
        model,
        data.train,
        None,
        epochs=budget["epochs"],
        lr=arch.lr,
        device=dev,
        seed=seed,
        progress=False,
    )
    device = resolve_device(dev)
    start = time.perf_counter()
    test_acc = evaluate(model, test, device, progress=False)
    test_s = time.perf_counter() - start
    heldout_acc = evaluate(model, data.val, device, progress=False)
    record: dict[str, Any] = {
        "arch": name,
        "arm": arm,
        "kind": kind,
        "seed": seed,
        "edits": edits,
        "input_size": list(size),
        "params": params,
        "flops": flops,
        "test_accuracy": test_acc,
        "heldout_accuracy": heldout_acc,
        "train_loss": result.train_loss,
        "train_s": result.seconds,
        "test_s": test_s,
        "status": result.status,
        "budget": {k: budget[k] for k in ("train", "heldout", "test", "epochs", "batch_size")},
        "lr": arch.lr,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    if seed == min(budget["seeds"]):
        # The trained model's own report (evaluation only): saturation and receptive fields after.
        start = time.perf_counter()
        after = advise(
            model,
            data,
            input_size=size,
            train=False,
            device=dev,
            model_name=f"{name}/{arm}",
            progress=False,
        )
        record["report"] = summarise_report(after)
        record["report_s"] = time.perf_counter() - start
    _write_json(path, record)
    logger.info(
        "[%s/%s seed %d] test accuracy %.4f, %.0f s, %s FLOPs",
        name,
        arm,
        seed,
        test_acc,
        result.seconds,
        f"{flops:,}",
    )
    return record


def _check_matched(report: Report, out: Path) -> None:
    """Records whether the advisor suggested anything structural for the matched CNN."""
    structural = [s.kind for s in report.suggestions if s.kind in STRUCTURAL]
    check = {"structural_suggestions": structural, "tail": list(report.tail), "ok": not structural}
    _write_json(out / "matched" / "check.json", check)
    if structural:
        logger.error("matched CNN got structural suggestions: %s", structural)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", choices=list(BUDGETS), default="cpu")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the FashionMNIST folder")
    parser.add_argument("--out", type=Path, default=None, help="default results/<budget>")
    parser.add_argument("--work", type=Path, default=None, help="search run folder (not kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--arms", nargs="+", default=None, help="only these arms")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    budget = dict(BUDGETS[args.budget])
    if args.seeds is not None:
        budget["seeds"] = args.seeds
    out = args.out or HERE / "results" / args.budget
    work = args.work or ROOT / "runs" / "fashion_mnist" / args.budget
    splits = _Splits(args.data, budget)
    _write_json(
        out / "budget.json",
        {"budget": args.budget, **budget, "lr": LR, "vgg_lr": VGG_LR, "device": args.device},
    )
    start = time.perf_counter()
    search = None
    # Architecture-major: ResNet-18 (the main table) gets all its seeds first; within an
    # architecture, every arm gets seed 0 before any arm gets seed 1. The advice and the search
    # run when an arm first needs them.
    for name in args.archs:
        arch = ARCHITECTURES[name]
        report = _advice(name, arch, splits, out, budget, args.device)
        if name == "matched":
            _check_matched(report, out)
        for seed in budget["seeds"]:
            for arm in arch.arms:
                if args.arms is not None and arm not in args.arms:
                    continue
                if arm == "search" and search is None:
                    search = _search(splits, out, budget, args.device, work)
                run_arm(name, arm, seed, arch, report, search, splits, budget, args.device, out)
    logger.info("all runs done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
