"""The built-in demo: ResNet-18 on synthetic small objects, about 30 s on a 2-core CPU."""

from __future__ import annotations

from pathlib import Path

import torch

from delve_advisor.advisor.advise import advise
from delve_advisor.data import load_data
from delve_advisor.models import load_model
from delve_advisor.report.report import Report

__all__ = ["run_demo"]

DEMO_DATA = "synthetic:n=3000,size=32,val=500"
DEMO_MODEL = "torchvision:resnet18"


def run_demo(
    out: str | Path = "delve-advisor-report",
    *,
    epochs: int = 3,
    device: str = "auto",
    progress: bool | None = None,
    seed: int = 0,
) -> tuple[Report, dict[str, Path]]:
    """Runs :func:`advise` on ResNet-18 and the built-in synthetic data, and saves the report.

    The data are 32×32 images of small objects (7×7 px shapes): a task that needs a small
    receptive field, so the network's last stages form a tail.

    Args:
        out: Folder for the report (JSON, Markdown, HTML, plots).
        epochs: Training epochs.
        device: "auto", "cpu", "cuda", ...
        progress: tqdm bars; None shows them only on a terminal.
        seed: Seed for the data and the model's initialisation.

    Returns:
        The report and the paths of the files written.
    """
    torch.manual_seed(seed)
    data = load_data(DEMO_DATA, batch_size=64, seed=seed)
    model = load_model(DEMO_MODEL, num_classes=data.num_classes, in_channels=data.in_channels)
    report = advise(
        model,
        data,
        input_size=data.input_size,
        epochs=epochs,
        device=device,
        model_name="ResNet-18",
        progress=progress,
    )
    return report, report.save(out)
