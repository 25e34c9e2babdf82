"""Tracker outputs: where a tracker's per-epoch statistics go (CSV, npy, plots, TensorBoard, a
stream).

Outputs are registered by name (``"csv"``), the names a tracker's ``save_to`` takes (delve's
names, ``"csvplot"`` included), and users add their own by subclassing :class:`TrackerOutput`
and, optionally, calling :func:`register_tracker_output`. The classes were called writers
before; ``AbstractWriter``, ``CSVWriter``, …, ``register_writer`` and ``list_writers`` remain as
deprecated aliases.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from delve_advisor._deprecation import deprecated_attributes, deprecated_function
from delve_advisor._registry import TypeRegistry, register_or_decorate
from delve_advisor.exceptions import DelveAdvisorError, InvalidArgumentError, UnknownNameError
from delve_advisor.saturation.result import MODES, EpochResult
from delve_advisor.saturation.spectrum import compute_spectrum

__all__ = [
    "CSVOutput",
    "CompositeOutput",
    "NPYOutput",
    "PlotOutput",
    "PrintOutput",
    "TensorBoardOutput",
    "TrackerOutput",
    "create_tracker_output",
    "list_tracker_outputs",
    "load_npy_covariances",
    "recompute_saturation",
    "register_tracker_output",
    "unregister_tracker_output",
]

logger = logging.getLogger(__name__)


class TrackerOutput(ABC):
    """Receives a tracker's results once per epoch and user scalars at any time.

    Args:
        savepath: The tracker's output folder; a writer puts its files inside it.

    Example:
        >>> import torch
        >>> from delve_advisor.saturation import SaturationTracker
        >>> class Epochs(TrackerOutput):
        ...     def __init__(self, savepath=".", **kwargs):
        ...         super().__init__(savepath)
        ...         self.seen = []
        ...     def write(self, result):
        ...         self.seen.append(result.epoch)
        >>> net, out = torch.nn.Sequential(torch.nn.Linear(3, 2)), Epochs()
        >>> with SaturationTracker("unused", save_to=out, modules=net) as tracker:
        ...     _ = net(torch.randn(8, 3))
        ...     _ = tracker.add_saturations()
        >>> out.seen
        [0]
    """

    #: Whether this writer needs the full covariance matrices in the results.
    wants_covariance: bool = False

    def __init__(self, savepath: str | Path = ".", **kwargs: Any) -> None:
        self.savepath = Path(savepath)

    def resume(self, initial_epoch: int) -> None:  # noqa: B027 - optional hook
        """Continues earlier output, dropping what was recorded at or after ``initial_epoch``."""

    @abstractmethod
    def write(self, result: EpochResult) -> None:
        """Records one epoch's results."""

    def add_scalar(self, name: str, value: float, epoch: int) -> None:  # noqa: B027
        """Records a user scalar (loss, accuracy) at ``epoch``."""

    def save(self) -> None:  # noqa: B027
        """Flushes what was recorded to disk."""

    def close(self) -> None:
        """Saves and releases files."""
        self.save()


class CompositeOutput(TrackerOutput):
    """Forwards every call to several writers.

    Example:
        >>> both = CompositeOutput([PrintOutput(), PrintOutput()])
        >>> both.add_scalar("loss", 0.5, epoch=1)
        epoch 1 loss=0.5
        epoch 1 loss=0.5
    """

    def __init__(self, writers: list[TrackerOutput]) -> None:
        super().__init__()
        self.writers = list(writers)
        self.wants_covariance = any(w.wants_covariance for w in self.writers)

    def resume(self, initial_epoch: int) -> None:
        for w in self.writers:
            w.resume(initial_epoch)

    def write(self, result: EpochResult) -> None:
        for w in self.writers:
            w.write(result)

    def add_scalar(self, name: str, value: float, epoch: int) -> None:
        for w in self.writers:
            w.add_scalar(name, value, epoch)

    def save(self) -> None:
        for w in self.writers:
            w.save()

    def close(self) -> None:
        for w in self.writers:
            w.close()


class CSVOutput(TrackerOutput):
    """One wide CSV file, ``<savepath>/saturation.csv``: a row per epoch, a column per value.

    Columns are delve's (``train-saturation_layer1.0.conv1``), separated by ``;`` as delve does,
    with the epoch as index. Columns that appear in later epochs are filled with NaN before.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from delve_advisor.saturation import SaturationTracker
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with SaturationTracker(tmp, save_to="csv", modules=net) as tracker:
        ...         _ = net(torch.randn(8, 3))
        ...         _ = tracker.add_saturations()
        ...     sorted(p.name for p in Path(tmp).iterdir())
        ['saturation.csv']
    """

    filename = "saturation.csv"

    def __init__(self, savepath: str | Path = ".", **kwargs: Any) -> None:
        super().__init__(savepath)
        self.path = self.savepath / self.filename
        self._rows: dict[int, dict[str, float]] = {}

    def resume(self, initial_epoch: int) -> None:
        if not self.path.exists():
            logger.info("no CSV to resume at %s; starting a new one", self.path)
            return
        frame = pd.read_csv(self.path, sep=";", index_col=0)
        for epoch, row in frame.iterrows():
            if int(epoch) < initial_epoch:
                self._rows[int(epoch)] = {k: v for k, v in row.items() if not pd.isna(v)}

    def write(self, result: EpochResult) -> None:
        row = self._rows.setdefault(result.epoch, {})
        row.update(result.scalar_values())
        for mode, value in result.averages.items():
            row[f"average-{mode}-sat"] = value

    def add_scalar(self, name: str, value: float, epoch: int) -> None:
        self._rows.setdefault(epoch, {})[name] = float(value)

    def to_dataframe(self) -> pd.DataFrame:
        """The wide table as it will be written."""
        frame = pd.DataFrame.from_dict(self._rows, orient="index").sort_index()
        frame.index.name = "epoch"
        return frame

    def save(self) -> None:
        if not self._rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.to_dataframe().to_csv(self.path, sep=";")


_EPOCH_FILE = re.compile(r"_epoch(\d+)\.npy$")


class NPYOutput(TrackerOutput):
    """A folder per value under ``<savepath>/npy/`` holding ``<key>_epoch<E>.npy`` files.

    This writer keeps the full covariance matrices (``train-covariance-matrix_<layer>``),
    from which :func:`recompute_saturation` gives idim and saturation at any other threshold.

    Example:
        >>> import tempfile, torch
        >>> from delve_advisor.saturation import SaturationTracker
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with SaturationTracker(tmp, save_to="npy", modules=net, stats=["lsat"]) as tracker:
        ...         _ = net(torch.randn(8, 3))
        ...         _ = tracker.add_saturations()
        ...     sorted(load_npy_covariances(tmp))
        [('train', '0', 0)]
    """

    wants_covariance = True

    def __init__(self, savepath: str | Path = ".", **kwargs: Any) -> None:
        super().__init__(savepath)
        self.root = self.savepath / "npy"

    def _file(self, key: str, epoch: int) -> Path:
        return self.root / key / f"{key}_epoch{epoch}.npy"

    def resume(self, initial_epoch: int) -> None:
        if not self.root.exists():
            return
        for path in self.root.glob("*/*.npy"):
            match = _EPOCH_FILE.search(path.name)
            if match and int(match.group(1)) >= initial_epoch:
                path.unlink()

    def _save_value(self, key: str, value: Any, epoch: int) -> None:
        path = self._file(key, epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(value))

    def write(self, result: EpochResult) -> None:
        for key, value in result.values.items():
            self._save_value(key, value, result.epoch)
        for record in result.records.values():
            cov = record.stats.get("cov")
            key = f"{record.mode}-covariance-matrix_{record.layer}"
            if cov is not None and key not in result.values:
                self._save_value(key, cov, result.epoch)

    def add_scalar(self, name: str, value: float, epoch: int) -> None:
        self._save_value(name, value, epoch)


def load_npy_covariances(savepath: str | Path) -> dict[tuple[str, str, int], np.ndarray]:
    """Loads every covariance an :class:`NPYOutput` saved under ``savepath``.

    Returns:
        ``(mode, layer, epoch)`` -> covariance matrix.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     load_npy_covariances(tmp)  # nothing saved yet
        {}
    """
    root = Path(savepath) / "npy"
    found: dict[tuple[str, str, int], np.ndarray] = {}
    for path in sorted(root.glob("*-covariance-matrix_*/*.npy")):
        match = _EPOCH_FILE.search(path.name)
        mode, _, layer = path.parent.name.partition("-covariance-matrix_")
        if match and mode in MODES:
            found[(mode, layer, int(match.group(1)))] = np.load(path)
    return found


def recompute_saturation(
    covariance: np.ndarray | str | Path, threshold: float = 0.99
) -> dict[str, float]:
    """Recomputes idim and saturation from a saved covariance at a new threshold.

    Args:
        covariance: A covariance matrix, or the path of a ``.npy`` file an NPYOutput saved.
        threshold: The share of variance to explain, in (0, 1].

    Returns:
        ``{"idim": ..., "lsat": ...}``; NaN for a matrix with NaN entries.

    Example:
        >>> recompute_saturation(np.diag([50.0, 40.0, 10.0, 0.0]), threshold=0.85)
        {'idim': 2, 'lsat': 0.5}
    """
    matrix = np.load(covariance) if isinstance(covariance, (str, Path)) else covariance
    matrix = np.asarray(matrix, dtype=np.float64)
    if not np.isfinite(matrix).all():
        return {"idim": math.nan, "lsat": math.nan}
    spectrum = compute_spectrum(matrix)
    return {"idim": spectrum.idim(threshold), "lsat": spectrum.lsat(threshold)}


class PlotOutput(TrackerOutput):
    """A PNG per epoch, ``<savepath>/plots/saturation_epoch<E>.png``: saturation per layer.

    Layers are in forward order; train and eval side by side; dead layers and layers with no data
    are labelled instead of being drawn as 0 %.

    Example:
        >>> "plot" in list_tracker_outputs()  # save_to="plot" makes a PlotOutput
        True
    """

    def __init__(self, savepath: str | Path = ".", dpi: int = 100, **kwargs: Any) -> None:
        super().__init__(savepath)
        self.root = self.savepath / "plots"
        self.dpi = dpi

    def path_for(self, epoch: int) -> Path:
        """Where the plot of ``epoch`` goes."""
        return self.root / f"saturation_epoch{epoch:04d}.png"

    def write(self, result: EpochResult) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        layers = result.layers
        modes = result.modes or ["train"]
        width = 0.8 / len(modes)
        fig = Figure(figsize=(max(6.0, 0.35 * len(layers) + 2), 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        colours = {"train": "tab:blue", "eval": "tab:orange"}
        for m_index, mode in enumerate(modes):
            xs = np.arange(len(layers)) + (m_index - (len(modes) - 1) / 2) * width
            heights = []
            for layer in layers:
                record = result.records.get((mode, layer))
                value = record.scalar("lsat") if record is not None else math.nan
                heights.append(100 * value if math.isfinite(value) else 0.0)
                if record is not None and record.status != "ok":
                    ax.text(
                        xs[len(heights) - 1],
                        1,
                        record.status,
                        rotation=90,
                        fontsize=7,
                        ha="center",
                        va="bottom",
                    )
            ax.bar(xs, heights, width=width, label=mode, color=colours.get(mode))
        ax.set_xticks(np.arange(len(layers)))
        ax.set_xticklabels(layers, rotation=90, fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_ylabel("saturation (%)")
        ax.set_title(f"Layer saturation, epoch {result.epoch}")
        ax.legend(loc="upper right")
        fig.tight_layout()
        self.root.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.path_for(result.epoch), dpi=self.dpi)


class TensorBoardOutput(TrackerOutput):
    """Scalars to TensorBoard under ``<savepath>/tensorboard``, with ``global_step`` = epoch.

    Needs the ``tensorboard`` package (``pip install 'delve-advisor[tensorboard]'``).

    Example:
        >>> "tensorboard" in list_tracker_outputs()  # save_to="tensorboard" makes one
        True
    """

    def __init__(self, savepath: str | Path = ".", **kwargs: Any) -> None:
        super().__init__(savepath)
        self.log_dir = self.savepath / "tensorboard"
        self._writer = None
        self._purge_step: int | None = None

    def _summary_writer(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:  # pragma: no cover - depends on the environment
                raise DelveAdvisorError(
                    "the 'tensorboard' writer needs the tensorboard package: "
                    "pip install 'delve-advisor[tensorboard]'"
                ) from error
            self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=self._purge_step)
        return self._writer

    def resume(self, initial_epoch: int) -> None:
        self._purge_step = initial_epoch

    def write(self, result: EpochResult) -> None:
        writer = self._summary_writer()
        for key, value in result.scalar_values().items():
            writer.add_scalar(key, value, global_step=result.epoch)
        for mode, value in result.averages.items():
            writer.add_scalar(f"average-{mode}-sat", value, global_step=result.epoch)

    def add_scalar(self, name: str, value: float, epoch: int) -> None:
        self._summary_writer().add_scalar(name, value, global_step=epoch)

    def save(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class PrintOutput(TrackerOutput):
    """Writes each epoch's values as text lines to a stream (standard output by default).

    Example:
        >>> PrintOutput().add_scalar("accuracy", 0.875, epoch=2)
        epoch 2 accuracy=0.875
    """

    def __init__(
        self, savepath: str | Path = ".", stream: TextIO | None = None, **kwargs: Any
    ) -> None:
        super().__init__(savepath)
        self.stream = stream

    def _emit(self, line: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(line + "\n")

    def write(self, result: EpochResult) -> None:
        for (mode, layer), record in result.records.items():
            parts = [
                f"{k}={record.scalar(k):.4g}" for k in record.stats if np.ndim(record.stats[k]) == 0
            ]
            self._emit(f"epoch {result.epoch} {mode} {layer}: {record.status} " + " ".join(parts))
        for mode, value in result.averages.items():
            self._emit(f"epoch {result.epoch} average-{mode}-sat={value:.4g}")

    def add_scalar(self, name: str, value: float, epoch: int) -> None:
        self._emit(f"epoch {epoch} {name}={value:.6g}")


_OUTPUTS: TypeRegistry[type[TrackerOutput] | tuple[str, ...]] = TypeRegistry(
    "tracker output", list_hint="list_tracker_outputs()"
)


def _check_output(output: Any) -> type[TrackerOutput]:
    if not (isinstance(output, type) and issubclass(output, TrackerOutput)):
        raise InvalidArgumentError(
            f"a tracker output must be a TrackerOutput subclass, got {output!r}"
        )
    return output


def register_tracker_output(
    name: str, output: type[TrackerOutput] | None = None, *, override: bool = False
) -> Any:
    """Makes ``output`` available to trackers as ``save_to=name``.

    Used directly or as a class decorator (``@register_tracker_output("jsonl")``).

    Args:
        name: The name ``save_to`` accepts.
        output: A :class:`TrackerOutput` subclass; omit it to get a decorator.
        override: Replace an existing output of that name instead of raising.

    Returns:
        ``output``, or a decorator that registers and returns the class.

    Raises:
        DuplicateRegistrationError: ``name`` is taken and ``override`` is False.
        InvalidArgumentError: ``output`` is not a :class:`TrackerOutput` subclass.

    Example:
        >>> @register_tracker_output("silent")
        ... class SilentOutput(TrackerOutput):
        ...     def write(self, result):
        ...         pass
        >>> "silent" in list_tracker_outputs()
        True
        >>> unregister_tracker_output("silent")
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"a tracker output name must be a non-empty string, got {name!r}"
        )
    return register_or_decorate(_OUTPUTS, name, output, override=override, check=_check_output)


def unregister_tracker_output(name: str) -> None:
    """Removes the output registered under ``name``.

    Raises:
        UnknownNameError: No output has that name; the message lists the registered ones.

    Example:
        >>> _ = register_tracker_output("quiet", PrintOutput)
        >>> unregister_tracker_output("quiet")
        >>> "quiet" in list_tracker_outputs()
        False
    """
    _OUTPUTS.unregister(name)


def list_tracker_outputs() -> list[str]:
    """The names accepted by ``save_to``, sorted.

    Example:
        >>> list_tracker_outputs()[:3]
        ['csv', 'csvplot', 'csvplotting']
    """
    return sorted(str(k) for k in _OUTPUTS)


def create_tracker_output(
    save_to: str | TrackerOutput | list[str | TrackerOutput] | None,
    savepath: str | Path,
    writer_args: dict[str, Any] | None = None,
) -> TrackerOutput:
    """Builds the writer(s) a tracker's ``save_to`` names.

    Args:
        save_to: A writer name, a writer instance, or a list of either.
        savepath: The tracker's output folder.
        writer_args: Extra keyword arguments for writers created from a name.

    Raises:
        UnknownNameError: A name is not registered; the message lists the valid names.
    """
    if save_to is None:
        return CompositeOutput([])
    if isinstance(save_to, TrackerOutput):
        return save_to
    if isinstance(save_to, (list, tuple)):
        return CompositeOutput([create_tracker_output(s, savepath, writer_args) for s in save_to])
    entry = _OUTPUTS.lookup(save_to) if isinstance(save_to, str) else None
    if entry is None:
        raise UnknownNameError(
            f"unknown tracker output {save_to!r} in save_to; valid: "
            f"{', '.join(list_tracker_outputs())}, or a TrackerOutput instance, or a list of these"
        )
    if isinstance(entry, tuple):  # alias for several writers, as delve's "csvplot"
        return create_tracker_output(list(entry), savepath, writer_args)
    return entry(savepath, **(writer_args or {}))


for _name, _writer in (
    ("csv", CSVOutput),
    ("npy", NPYOutput),
    ("plot", PlotOutput),
    ("tensorboard", TensorBoardOutput),
    ("print", PrintOutput),
):
    register_tracker_output(_name, _writer)
for _alias in ("csvplot", "csvplotting", "plotcsv"):  # delve 0.1.50's names for CSV + plots
    _OUTPUTS.register(_alias, ("csv", "plot"))
_OUTPUTS.register("tb", ("tensorboard",))  # delve 0.1.50's short name

# The former names (before issue 7 these were "writers"): deprecated aliases that warn. The
# classes are the same objects, so subclasses of AbstractWriter keep working.
_FORMER = {
    "AbstractWriter": TrackerOutput,
    "CSVWriter": CSVOutput,
    "NPYWriter": NPYOutput,
    "PlotWriter": PlotOutput,
    "TensorBoardWriter": TensorBoardOutput,
    "PrintWriter": PrintOutput,
    "CompositeWriter": CompositeOutput,
    "register_writer": register_tracker_output,
    "list_writers": list_tracker_outputs,
    "create_writer": create_tracker_output,
}
DEPRECATED_NAMES = {
    old: (
        deprecated_function(new, old, f"delve_advisor.saturation.{new.__name__}")
        if not isinstance(new, type)
        else new,
        f"delve_advisor.saturation.{new.__name__}",
    )
    for old, new in _FORMER.items()
}
__getattr__ = deprecated_attributes(__name__, DEPRECATED_NAMES)
