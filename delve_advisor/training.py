"""Short training runs shared by the advisor and the search: one loop, injectable parts.

:func:`train_model` trains a model in place with an injectable optimiser factory, schedule and
loss, for a number of epochs, a time budget and/or a subset of the data, and evaluates it after
every epoch. Loss and accuracy are summed on the device and read once per epoch (no host sync per
batch). Callbacks (:class:`TrainingCallback`) see every epoch: the saturation tracker is one
(:class:`TrackerCallback`), the search's Optuna pruning callback another. On CUDA the forward pass
runs under autocast with a gradient scaler (``amp=True``); on the CPU it runs in float32.

:func:`run_with_tracker` is the advisor's run: :func:`train_model` with a tracker callback.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.saturation import LayerSaturation, SaturationTracker

__all__ = [
    "EpochEnd",
    "RunResult",
    "TrackerCallback",
    "TrainingCallback",
    "TrainingResult",
    "evaluate",
    "progress_bar",
    "resolve_device",
    "run_with_tracker",
    "seed_everything",
    "train_model",
]

logger = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class EpochEnd:
    """What a callback is told after each epoch.

    Attributes:
        epoch: Epochs completed (1 after the first).
        train_loss: Mean training loss of the epoch (NaN/inf when it diverged).
        val_accuracy: Validation accuracy after the epoch (NaN without validation data).
        seconds: Wall time since the run started.
        last: Whether this is the last epoch of the run.
    """

    epoch: int
    train_loss: float
    val_accuracy: float
    seconds: float
    last: bool


class TrainingCallback:
    """Hooks into :func:`train_model`; every method is optional (the defaults do nothing).

    A callback may stop the run by raising; :func:`train_model` calls :meth:`on_end` on every
    callback in a ``finally`` block and re-raises.
    """

    def on_start(self, model: nn.Module) -> None:
        """Called once before the first epoch with the model being trained."""

    def on_eval_start(self, epoch: int, last: bool) -> None:
        """Called before each evaluation pass (``epoch`` counts from 1; ``last`` if predicted)."""

    def on_epoch_end(self, end: EpochEnd) -> None:
        """Called after each epoch's evaluation."""

    def on_end(self) -> None:
        """Called once when the run ends, normally or not."""


class TrackerCallback(TrainingCallback):
    """Runs a :class:`SaturationTracker` along a training run.

    Training passes are tracked every epoch. Evaluation passes are tracked only in the epoch
    :func:`train_model` predicts to be the last (``eval_epochs="last"``, the default: the advisor's
    report reads eval saturation from the last epoch only), or in every epoch
    (``eval_epochs="all"``); ``eval_batches`` bounds the tracked evaluation batches per epoch.

    Args:
        tracker_options: Keyword arguments for :class:`SaturationTracker`.
        eval_epochs: ``"last"`` or ``"all"``.
        eval_batches: At most this many evaluation batches tracked per epoch (None: all).
    """

    def __init__(
        self,
        tracker_options: dict[str, Any] | None = None,
        *,
        eval_epochs: str = "last",
        eval_batches: int | None = None,
    ) -> None:
        if eval_epochs not in ("last", "all"):
            raise InvalidArgumentError(
                f"TrackerCallback eval_epochs must be 'last' or 'all', got {eval_epochs!r}"
            )
        if eval_batches is not None and (not isinstance(eval_batches, int) or eval_batches < 1):
            raise InvalidArgumentError(
                f"TrackerCallback eval_batches must be a positive int or None, got {eval_batches!r}"
            )
        self.options = {"stats": ["lsat", "idim"], **(tracker_options or {})}
        self.eval_epochs = eval_epochs
        self.eval_batches = eval_batches
        self.tracker: SaturationTracker | None = None
        self._tracked_eval = False

    def on_start(self, model: nn.Module) -> None:
        """Attaches the tracker's hooks to ``model``."""
        self.tracker = SaturationTracker("unused", save_to=[], modules=model, **self.options)

    def on_eval_start(self, epoch: int, last: bool) -> None:
        """Pauses the tracker for evaluation passes it should not record."""
        self._tracked_eval = self.eval_epochs == "all" or last
        if self.tracker is not None and not self._tracked_eval:
            self.tracker.stop()

    def eval_batch(self, index: int) -> None:
        """Called before evaluation batch ``index``; pauses after ``eval_batches``."""
        if (
            self.tracker is not None
            and self._tracked_eval
            and self.eval_batches is not None
            and index == self.eval_batches
        ):
            self.tracker.stop()

    def on_epoch_end(self, end: EpochEnd) -> None:
        """Computes the epoch's saturation and resumes recording for the next epoch."""
        if self.tracker is None:
            return
        self.tracker.resume()
        if end.epoch == 0 or math.isfinite(end.train_loss):  # not a diverged epoch's data
            self.tracker.add_saturations()

    def on_end(self) -> None:
        """Removes the tracker's hooks."""
        if self.tracker is not None:
            self.tracker.close()


@dataclass
class TrainingResult:
    """What :func:`train_model` measured.

    Attributes:
        status: ``"ok"``, ``"eval_only"`` or ``"diverged"``.
        status_detail: One sentence.
        epochs: Epochs completed with a finite loss.
        train_loss: Mean training loss per completed epoch.
        val_accuracy: Validation accuracy per completed epoch (one entry when only evaluated).
        seconds: Wall time of the run.
        device: Where it ran.
        stopped_by: ``"epochs"``, ``"time_budget"`` or ``"diverged"``.
    """

    status: str
    status_detail: str
    epochs: int
    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    stopped_by: str = "epochs"


def progress_bar(iterable: Iterable | None, enabled: bool | None, **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable``; ``enabled=None`` shows it only when stderr is a terminal."""
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(iterable, disable=disable, leave=False, **kwargs)


def _batches(
    loader: Iterable, max_batches: int | None, max_samples: int | None
) -> Iterator[tuple[int, Any, Any]]:
    seen = 0
    for i, (x, y) in enumerate(loader):
        if (max_batches is not None and i >= max_batches) or (
            max_samples is not None and seen >= max_samples
        ):
            return
        if max_samples is not None and seen + len(y) > max_samples:
            x, y = x[: max_samples - seen], y[: max_samples - seen]
        seen += len(y)
        yield i, x, y


def _autocast(device: torch.device, amp: bool) -> Any:
    return torch.autocast(device_type="cuda", enabled=amp and device.type == "cuda")


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    *,
    max_batches: int | None = None,
    max_samples: int | None = None,
    amp: bool = True,
    progress: bool | None = None,
    callbacks: Sequence[TrainingCallback] = (),
) -> float:
    """Accuracy of ``model`` on ``loader`` (argmax of the logits), summed on the device.

    Returns:
        The share of correct predictions, NaN for an empty loader.
    """
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    with torch.no_grad():
        for i, x, y in _batches(
            progress_bar(loader, progress, desc="eval"), max_batches, max_samples
        ):
            for callback in callbacks:
                if isinstance(callback, TrackerCallback):
                    callback.eval_batch(i)
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(x)
            correct += (logits.argmax(dim=1) == y).sum()
            total += int(y.numel())
    return int(correct) / total if total else math.nan


def _check_budget(name: str, value: Any, kind: type = int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise InvalidArgumentError(
            f"{name} must be a positive {kind.__name__} or None, got {value!r}"
        )
    if value <= 0:
        raise InvalidArgumentError(f"{name} must be > 0 or None, got {value!r}")


def train_model(
    model: nn.Module,
    train_loader: Iterable | None,
    val_loader: Iterable | None,
    *,
    epochs: int = 3,
    train: bool = True,
    optimizer: OptimizerFactory | None = None,
    lr: float = 1e-3,
    scheduler: SchedulerFactory | None = None,
    loss: LossFunction | None = None,
    device: torch.device | str = "auto",
    max_batches: int | None = None,
    max_samples: int | None = None,
    time_budget_s: float | None = None,
    callbacks: Sequence[TrainingCallback] = (),
    seed: int | None = None,
    amp: bool = True,
    progress: bool | None = None,
) -> TrainingResult:
    """Trains ``model`` in place and evaluates it after every epoch.

    The run stops after ``epochs``, or after the first epoch that ends past ``time_budget_s``, or
    at the end of the first epoch whose mean loss is not finite (status ``"diverged"``). Pass a
    copy if the model must not change. With ``train=False`` the model is only evaluated once.

    Args:
        model: The model; it is moved to ``device``.
        train_loader: Batches ``(x, y)`` for training (ignored when ``train`` is False).
        val_loader: Batches ``(x, y)`` for evaluation; None skips evaluation.
        epochs: At most this many epochs.
        train: Train, or only evaluate.
        optimizer: Factory ``params -> Optimizer``; None is Adam with ``lr``.
        lr: Learning rate of the default optimiser.
        scheduler: Factory ``optimizer -> scheduler``; its ``step()`` runs after each epoch.
        loss: ``loss(logits, targets)``; None is cross-entropy.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        max_batches: At most this many batches per epoch and split (None: all).
        max_samples: At most this many samples per epoch and split (None: all).
        time_budget_s: Stop after the first epoch that ends past this many seconds.
        callbacks: :class:`TrainingCallback` objects, called in order.
        seed: Seeds Python, NumPy and torch (and the loaders' shuffling generators, when they
            have one) before the run, so that a CPU run repeats exactly; None leaves them.
        amp: Mixed precision (autocast + gradient scaler) when the device is CUDA; ignored on
            the CPU.
        progress: tqdm bars for epochs and batches; None shows them only on a terminal.

    Returns:
        The :class:`TrainingResult`.

    Raises:
        InvalidArgumentError: An argument is out of range.

    Example:
        >>> from delve_advisor.testing import matched_cnn
        >>> batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))] * 2
        >>> result = train_model(matched_cnn(), batches, batches, epochs=2, device="cpu", seed=0)
        >>> result.status, result.epochs, len(result.val_accuracy)
        ('ok', 2, 2)
    """
    if train and train_loader is None:
        raise InvalidArgumentError("train_model: train=True needs training data (train_loader)")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidArgumentError(f"train_model: epochs must be an int >= 1, got {epochs!r}")
    _check_budget("train_model: max_batches", max_batches)
    _check_budget("train_model: max_samples", max_samples)
    _check_budget("train_model: time_budget_s", time_budget_s, float)
    dev = resolve_device(device)
    if seed is not None:
        seed_everything(seed)
        for loader in (train_loader, val_loader):
            generator = getattr(loader, "generator", None)
            if isinstance(generator, torch.Generator):
                generator.manual_seed(seed)
    loss_fn = loss or nn.functional.cross_entropy
    model.to(dev)
    start = time.perf_counter()
    losses: list[float] = []
    accuracies: list[float] = []
    status, detail, stopped_by, done = "ok", "", "epochs", 0

    def run_eval(epoch: int, last: bool) -> float:
        for callback in callbacks:
            callback.on_eval_start(epoch, last)
        if val_loader is None:
            return math.nan
        return evaluate(
            model,
            val_loader,
            dev,
            max_batches=max_batches,
            max_samples=max_samples,
            amp=amp,
            progress=progress,
            callbacks=callbacks,
        )

    try:
        for callback in callbacks:
            callback.on_start(model)
        if not train:
            accuracies.append(run_eval(1, True))
            for callback in callbacks:
                callback.on_epoch_end(
                    EpochEnd(0, math.nan, accuracies[-1], time.perf_counter() - start, True)
                )
            status, detail = "eval_only", "evaluated only"
        else:
            params = [p for p in model.parameters() if p.requires_grad]
            opt = optimizer(params) if optimizer is not None else torch.optim.Adam(params, lr=lr)
            schedule = scheduler(opt) if scheduler is not None else None
            scaler = torch.amp.GradScaler("cuda", enabled=amp and dev.type == "cuda")
            for epoch in progress_bar(range(epochs), progress, desc="epochs"):
                model.train()
                total = torch.zeros((), dtype=torch.float64, device=dev)
                count = 0
                batches = progress_bar(train_loader, progress, desc="train")
                for _, x, y in _batches(batches, max_batches, max_samples):
                    x = x.to(dev, non_blocking=True)
                    y = y.to(dev, non_blocking=True)
                    opt.zero_grad(set_to_none=True)
                    with _autocast(dev, amp):
                        value = loss_fn(model(x), y)
                    scaler.scale(value).backward()
                    scaler.step(opt)
                    scaler.update()
                    total += value.detach().double() * len(y)
                    count += len(y)
                mean = float(total) / max(count, 1)
                elapsed = time.perf_counter() - start
                per_epoch = elapsed / (epoch + 1)
                out_of_time = time_budget_s is not None and elapsed + per_epoch > time_budget_s
                last = epoch + 1 == epochs or out_of_time or not math.isfinite(mean)
                if not math.isfinite(mean):
                    status, stopped_by = "diverged", "diverged"
                    detail = (
                        f"the training loss became {mean} in epoch {epoch + 1}; saturation is "
                        "from the last completed epoch (none if it was the first). Lower the "
                        f"learning rate (lr={lr}) or check the data."
                    )
                    for callback in callbacks:
                        callback.on_epoch_end(EpochEnd(epoch + 1, mean, math.nan, elapsed, True))
                    break
                accuracies.append(run_eval(epoch + 1, last))
                losses.append(mean)
                done = epoch + 1
                if schedule is not None:
                    schedule.step()
                elapsed = time.perf_counter() - start
                logger.info(
                    "epoch %d: train loss %.4f, val accuracy %.3f", done, mean, accuracies[-1]
                )
                timed_out = time_budget_s is not None and elapsed >= time_budget_s
                for callback in callbacks:
                    callback.on_epoch_end(
                        EpochEnd(done, mean, accuracies[-1], elapsed, last or timed_out)
                    )
                if timed_out and done < epochs:
                    stopped_by = "time_budget"
                    break
            if status == "ok":
                detail = f"trained {done} epoch(s); last val accuracy {accuracies[-1]:.3f}"
    finally:
        for callback in callbacks:
            callback.on_end()
    return TrainingResult(
        status=status,
        status_detail=detail,
        epochs=done,
        train_loss=losses,
        val_accuracy=accuracies,
        seconds=time.perf_counter() - start,
        device=str(dev),
        stopped_by=stopped_by,
    )


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

    Example:
        >>> import torch
        >>> from delve_advisor.testing import tail_cnn
        >>> batches = [(torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)))] * 2
        >>> result = run_with_tracker(tail_cnn(), None, batches, train=False, progress=False)
        >>> result.status, result.epochs, result.train_loss, len(result.val_accuracy)
        ('eval_only', 0, [], 1)
        >>> first_conv = result.saturation[("eval", "0")]  # (mode, layer) -> LayerSaturation
        >>> first_conv.status, 0 <= first_conv.scalar("lsat") <= 1
        ('ok', True)
        >>> list(result.history.columns)
        ['epoch', 'mode', 'layer', 'stat', 'value', 'status']
    """

    status: str
    status_detail: str
    epochs: int
    saturation: dict[tuple[str, str], LayerSaturation]
    history: pd.DataFrame
    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


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
    eval_epochs: str = "last",
    **training: Any,
) -> RunResult:
    """Trains ``model`` in place with :func:`train_model` and a saturation tracker on.

    Training passes are tracked every epoch; the evaluation pass only in the last epoch (the
    one the report reads), unless ``eval_epochs="all"``. With ``train=False`` the model is only
    evaluated once. A non-finite epoch loss ends the run with status ``"diverged"``; saturation
    is then from the last completed epoch. Pass a copy if the model must not change.

    Args:
        model: The model.
        train_loader: Batches ``(x, y)`` for training (ignored when ``train`` is False).
        val_loader: Batches ``(x, y)`` for evaluation.
        epochs: Training epochs.
        train: Train, or only evaluate.
        device: Where the model and batches go.
        lr: Adam's learning rate (unless ``training`` passes an ``optimizer`` factory).
        max_batches: At most this many batches per epoch and split (None: all).
        progress: Show tqdm bars; None shows them only on a terminal.
        tracker_options: Extra keyword arguments for :class:`SaturationTracker`.
        eval_epochs: Track evaluation passes in the ``"last"`` epoch or in ``"all"``.
        **training: More keyword arguments for :func:`train_model` (``optimizer``, ``loss``,
            ``seed``, ``callbacks`` run after the tracker, ...).

    Returns:
        The run's measurements.

    Example:
        >>> import torch
        >>> from delve_advisor.testing import tail_cnn
        >>> batches = [(torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)))] * 2
        >>> result = run_with_tracker(tail_cnn(), batches, batches, epochs=2, seed=0,
        ...                           progress=False)
        >>> result.status, result.epochs, len(result.train_loss), len(result.val_accuracy)
        ('ok', 2, 2, 2)
        >>> sorted(layer for mode, layer in result.saturation if mode == "eval")  # convs, head
        ['0', '10', '14', '2', '4', '6', '8']
        >>> history = result.history  # long format: one row per epoch, mode, layer and stat
        >>> sorted(history["epoch"].unique().tolist()), sorted(history["stat"].unique())
        ([0, 1], ['idim', 'lsat'])
    """
    tracking = TrackerCallback(tracker_options, eval_epochs=eval_epochs)
    extra = list(training.pop("callbacks", ()))
    result = train_model(
        model,
        train_loader,
        val_loader,
        epochs=epochs,
        train=train,
        device=device,
        lr=lr,
        max_batches=max_batches,
        progress=progress,
        callbacks=[tracking, *extra],
        **training,
    )
    tracker = tracking.tracker
    last = tracker.last_result if tracker is not None else None
    history = tracker.history if tracker is not None else pd.DataFrame()
    if result.status == "diverged" and not history.empty:
        history = history[history["epoch"] < result.epochs]
    return RunResult(
        status=result.status,
        status_detail=result.status_detail,
        epochs=result.epochs,
        saturation=dict(last.records) if last is not None else {},
        history=history,
        train_loss=result.train_loss,
        val_accuracy=result.val_accuracy,
        seconds=result.seconds,
    )
