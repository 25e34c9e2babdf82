"""Short training (or evaluation) runs with the saturation tracker on."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.saturation import LayerSaturation, SaturationTracker

__all__ = ["RunResult", "resolve_device", "run_with_tracker"]

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; anything else is checked.

    Raises:
        InvalidArgumentError: The device string is invalid or the device is not available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidArgumentError(
            f"invalid device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(
            f"device {device!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'"
        )
    return resolved


@dataclass
class RunResult:
    """What a tracked run measured.

    Attributes:
        status: "ok", "eval_only" or "diverged".
        status_detail: One sentence for the report.
        epochs: Epochs completed.
        saturation: (mode, layer) -> the last epoch's :class:`LayerSaturation`.
        history: The tracker's history (long format).
        train_loss: Mean training loss per epoch.
        val_accuracy: Validation accuracy per epoch.
        seconds: Wall time of the run (training, evaluation and tracking).
    """

    status: str
    status_detail: str
    epochs: int
    saturation: dict[tuple[str, str], LayerSaturation]
    history: pd.DataFrame
    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _progress(iterable: Iterable, enabled: bool | None, **kwargs: Any) -> Iterable:
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(iterable, disable=disable, leave=False, **kwargs)


def _evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    max_batches: int | None,
    progress: bool | None,
) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for i, (x, y) in enumerate(_progress(loader, progress, desc="eval")):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += int(y.numel())
    return correct / total if total else math.nan


def run_with_tracker(
    model: nn.Module,
    train_loader: Iterable | None,
    val_loader: Iterable,
    *,
    epochs: int = 3,
    train: bool = True,
    device: torch.device | str = "cpu",
    lr: float = 1e-3,
    max_batches: int | None = None,
    progress: bool | None = None,
    tracker_options: dict[str, Any] | None = None,
) -> RunResult:
    """Trains ``model`` in place for ``epochs`` (Adam) with a tracker, evaluating each epoch.

    With ``train=False`` the model is only evaluated once. Training stops at the first non-finite
    loss and the result says so (status ``"diverged"``). Pass a copy if the model must not change.

    Args:
        model: The model, already on ``device``.
        train_loader: Batches ``(x, y)`` for training (ignored when ``train`` is False).
        val_loader: Batches ``(x, y)`` for evaluation.
        epochs: Training epochs.
        train: Train, or only evaluate.
        device: Where the batches go.
        lr: Adam's learning rate.
        max_batches: At most this many batches per epoch and split (None: all).
        progress: Show tqdm bars; None shows them only on a terminal.
        tracker_options: Extra keyword arguments for :class:`SaturationTracker`.

    Returns:
        The run's measurements.
    """
    if train and train_loader is None:
        raise InvalidArgumentError("train=True needs training data")
    if epochs < 1:
        raise InvalidArgumentError(f"epochs must be >= 1, got {epochs}")
    options = {"stats": ["lsat", "idim"], **(tracker_options or {})}
    start = time.perf_counter()
    losses: list[float] = []
    accuracies: list[float] = []
    status, detail, done = ("ok", "", 0) if train else ("eval_only", "evaluated only", 0)
    tracker = SaturationTracker("unused", save_to=[], modules=model, **options)
    try:
        if not train:
            accuracies.append(_evaluate(model, val_loader, device, max_batches, progress))
            tracker.add_saturations()
            done = 0
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            for epoch in _progress(range(epochs), progress, desc="epochs"):
                model.train()
                total, count = 0.0, 0
                for i, (x, y) in enumerate(_progress(train_loader, progress, desc="train")):
                    if max_batches is not None and i >= max_batches:
                        break
                    x, y = x.to(device), y.to(device)
                    optimizer.zero_grad(set_to_none=True)
                    loss = nn.functional.cross_entropy(model(x), y)
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        status = "diverged"
                        detail = (
                            f"the training loss became {value} in epoch {epoch + 1}, batch "
                            f"{i + 1}; saturation is from the last completed epoch (none if it "
                            f"was the first). Lower the learning rate (lr={lr}) or check the data."
                        )
                        break
                    loss.backward()
                    optimizer.step()
                    total, count = total + value * len(y), count + len(y)
                if status == "diverged":
                    break
                losses.append(total / max(count, 1))
                accuracies.append(_evaluate(model, val_loader, device, max_batches, progress))
                tracker.add_saturations()
                done = epoch + 1
                logger.info(
                    "epoch %d: train loss %.4f, val accuracy %.3f",
                    done,
                    losses[-1],
                    accuracies[-1],
                )
            if status == "ok":
                detail = f"trained {done} epoch(s); last val accuracy {accuracies[-1]:.3f}"
    finally:
        tracker.close()
    last = tracker.last_result
    history = tracker.history
    if status == "diverged":  # drop the partial epoch's values, which include the bad batch
        history = history[history["epoch"] < done]
    return RunResult(
        status=status,
        status_detail=detail,
        epochs=done,
        saturation=dict(last.records) if last is not None else {},
        history=history,
        train_loss=losses,
        val_accuracy=accuracies,
        seconds=time.perf_counter() - start,
    )
