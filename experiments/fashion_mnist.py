"""Full advisor runs on Fashion-MNIST: ResNet-18 and a small matched CNN at 28 px, VGG-16 at 32.

The runs recorded in docs/advisor.md. Each writes a report folder under --out and prints its
headline, timing and final accuracy.

    python experiments/fashion_mnist.py --data ../shared/data/FashionMNIST --out runs/fmnist \
        [--epochs 5] [--device auto] [--limit N] [--models resnet18 vgg16 matched]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from delve_advisor import load_data, load_model
from delve_advisor.advisor.advise import advise
from delve_advisor.testing import matched_cnn

RUNS = {
    "resnet18": (lambda: load_model("torchvision:resnet18", num_classes=10, in_channels=1), 28),
    "vgg16": (lambda: load_model("torchvision:vgg16", num_classes=10, in_channels=1), 32),
    "matched": (lambda: matched_cnn(width=32), 28),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the FashionMNIST folder")
    parser.add_argument("--out", default="runs/fmnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--models", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args()
    summary = {}
    for name in args.models:
        factory, size = RUNS[name]
        torch.manual_seed(0)
        data = load_data(
            f"fashion-mnist:{args.data}",
            input_size=size,
            batch_size=args.batch_size,
            limit=args.limit,
            seed=0,
        )
        start = time.perf_counter()
        report = advise(
            factory(),
            data,
            input_size=size,
            epochs=args.epochs,
            lr=args.lr,
            device=args.device,
            probes=True,
            model_name=name,
            progress=False,
        )
        elapsed = time.perf_counter() - start
        report.save(Path(args.out) / name)
        summary[name] = {
            "headline": report.headline,
            "tail": report.tail,
            "first_suggestion": report.suggestions[0].to_dict() if report.suggestions else None,
            "val_accuracy": report.meta.get("val_accuracy"),
            "seconds": round(elapsed, 1),
            "device": report.meta["device"],
            "lr": args.lr,
        }
        print(f"[{name}] {elapsed:.0f} s, val accuracy {report.meta.get('val_accuracy')}")
        print(f"[{name}] {report.headline}", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
