"""SaturationTracker: records per-layer saturation while a model trains or evaluates."""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from delve_advisor._hooks import Hooks
from delve_advisor.exceptions import (
    InvalidArgumentError,
    NonFiniteActivationWarning,
    UnknownNameError,
    UnsupportedLayerError,
)
from delve_advisor.saturation.covariance import CovarianceAccumulator
from delve_advisor.saturation.handlers import (
    HandlerConfig,
    LayerHandler,
    get_layer_handler,
    list_layer_handlers,
)
from delve_advisor.saturation.result import (
    HISTORY_COLUMNS,
    MODES,
    EpochResult,
    LayerSaturation,
    column_name,
)
from delve_advisor.saturation.spectrum import compute_spectrum
from delve_advisor.saturation.writers import TrackerOutput, create_tracker_output

__all__ = ["CheckLayerSat", "SaturationTracker"]

logger = logging.getLogger(__name__)

VALID_STATS = ("idim", "lsat", "cov", "det", "logdet", "trc", "dtrc", "embed")
MODE_SUFFIXES = {"train": ("train",), "eval": ("eval",)}  # "<stat>_<suffix>" -> modes
_TRACKER_HISTORY_COLUMNS = [*HISTORY_COLUMNS, "status"]  # the one history layout, plus status
_EMBED_ROWS = 1000  # rows kept per layer and mode for the 2-D embedding


class _LayerState:
    """What the tracker keeps for one tracked layer (never stored on the user's module)."""

    __slots__ = ("accumulators", "embed_rows", "forward_calls", "handler", "name", "rows_seen")

    def __init__(self, name: str, handler: LayerHandler, device: torch.device | None) -> None:
        self.name = name
        self.handler = handler
        self.accumulators = {mode: CovarianceAccumulator(device) for mode in MODES}
        self.forward_calls = dict.fromkeys(MODES, 0)
        self.rows_seen = dict.fromkeys(MODES, 0)
        self.embed_rows: dict[str, list[torch.Tensor]] = {mode: [] for mode in MODES}

    def reset(self, mode: str) -> None:
        self.accumulators[mode].reset()
        self.rows_seen[mode] = 0
        self.embed_rows[mode] = []


def _parse_stats(stats: str | list[str] | tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Statistic name -> the modes it is reported in, from delve-style stat names.

    ``"lsat"`` is reported in both modes (train and eval passes, as delve does); ``"lsat_eval"``
    (delve's name) in eval mode and ``"lsat_train"`` in train mode. A stat given in several forms
    is reported in the union of their modes. Order follows the first mention.
    """
    names = [stats] if isinstance(stats, str) else list(stats)
    modes: dict[str, set[str]] = {}
    unknown = []
    for name in names:
        base, _, suffix = str(name).partition("_")
        if base not in VALID_STATS or (suffix and suffix not in MODE_SUFFIXES):
            unknown.append(name)
            continue
        modes.setdefault(base, set()).update(MODE_SUFFIXES[suffix] if suffix else MODES)
    if unknown:
        raise UnknownNameError(
            f"unknown stat(s) {unknown} in stats; valid: {', '.join(VALID_STATS)}, each also "
            "as '<stat>_eval' (only on eval passes, delve's form) or '<stat>_train'"
        )
    if not modes:
        raise InvalidArgumentError(f"stats is empty; choose from {', '.join(VALID_STATS)}")
    return {stat: frozenset(m) for stat, m in modes.items()}


def _caller_namespaces() -> list[dict[str, Any]]:
    """Locals, then globals, of each calling frame outside delve_advisor, innermost first."""
    namespaces: list[dict[str, Any]] = []
    frame = sys._getframe(1)
    while frame is not None:
        if not frame.f_globals.get("__name__", "").startswith("delve_advisor"):
            namespaces += [frame.f_locals, frame.f_globals]
        frame = frame.f_back
    return namespaces


def _find_parent(layers: list[nn.Module]) -> dict[int, str] | None:
    """id(module) -> qualified name in the caller's outermost module that holds all ``layers``.

    Looks at the variables of the code that constructs the tracker (locals, then globals; then
    those of its callers, until a holder is found), as delve users pass
    ``[model.linear1, model.linear2]`` with ``model`` in scope. In one namespace the outermost
    holder wins, so that names are those the whole model gives (``layer1.0.conv1``, not
    ``0.conv1`` because ``block = model.layer1`` is also in scope). None when none is found.
    """
    wanted = {id(m) for m in layers}
    seen: set[int] = set()
    for namespace in _caller_namespaces():
        best: tuple[int, dict[int, str]] | None = None
        for value in list(namespace.values()):
            if not isinstance(value, nn.Module) or id(value) in wanted or id(value) in seen:
                continue
            seen.add(id(value))
            paths = {id(m): name for name, m in value.named_modules() if name}
            if wanted <= paths.keys() and (best is None or len(paths) > best[0]):
                best = (len(paths), paths)
        if best is not None:
            return best[1]
    return None


def _list_roots(modules: list[nn.Module] | tuple[nn.Module, ...]) -> list[tuple[str, nn.Module]]:
    """Names for modules given as a list: their path in a parent found in the caller's scope, or
    delve's ``Module-<position>-<class>``."""
    for i, module in enumerate(modules):
        if not isinstance(module, nn.Module):
            raise InvalidArgumentError(
                f"modules[{i}] is a {type(module).__name__}, not an nn.Module; pass layers, "
                "a model, or a dict name -> module"
            )
    paths = _find_parent(list(modules))
    if paths is not None:
        return [(paths[id(m)], m) for m in modules]
    return [(f"Module-{i}-{type(m).__name__}", m) for i, m in enumerate(modules)]


def _collect_layers(
    modules: nn.Module | list[nn.Module] | dict[str, nn.Module],
) -> dict[str, nn.Module]:
    """Qualified name -> leaf module for everything under ``modules`` that has a handler."""
    if isinstance(modules, nn.Module):
        roots: list[tuple[str, nn.Module]] = [("", modules)]
    elif isinstance(modules, dict):
        roots = list(modules.items())
    elif isinstance(modules, (list, tuple)):
        roots = _list_roots(modules)
    else:
        raise InvalidArgumentError(
            f"modules must be an nn.Module, a list of modules or a dict name -> module, "
            f"got {type(modules).__name__}"
        )
    found: dict[str, nn.Module] = {}
    for prefix, root in roots:
        if not isinstance(root, nn.Module):
            raise InvalidArgumentError(
                f"modules[{prefix!r}] is a {type(root).__name__}, not an nn.Module"
            )
        for name, module in root.named_modules(prefix=prefix):
            if get_layer_handler(module) is not None:
                found[name or type(module).__name__] = module
    return found


class SaturationTracker:
    """Records the saturation of a model's layers from forward hooks, delve-compatibly.

    Accepts delve 0.1.50's constructor arguments with the meaning its documentation gives them;
    the deliberate differences (all defects of delve fixed, ``device`` following the model) are
    listed in ``docs/saturation.md``. Statistics are accumulated over every recorded batch until
    ``add_saturations()`` (which resets them when ``reset_covariance`` is true). Train and eval
    passes are tracked separately by each layer's ``training`` flag.

    Args:
        savefile: Output folder for the writers (created when a writer writes).
        save_to: Writer name(s) (``"csv"``, ``"npy"``, ``"plot"``, ``"tensorboard"``, ``"print"``,
            delve's ``"csvplot"``), :class:`TrackerOutput` instances, or a list of these.
        modules: The model (or a list / dict of modules) whose supported layers are tracked.
            Layers are named by their qualified module name (``layer1.0.conv1``); layers given
            as a list by their name in the model that holds them all, when the calling code
            has that model in a variable (``[model.linear1, model.linear2]`` gives ``linear1``,
            ``linear2``), else delve's ``Module-<position>-<class>`` (``Module-0-Linear``).
        layer_filter: Receives the dict qualified name -> module and returns the ones to track.
        writer_args: Extra keyword arguments for writers created from names.
        log_interval: Record every ``log_interval``-th forward call of each layer, counted per
            mode (the first call is recorded).
        max_samples: At most this many rows per layer and mode between resets.
        stats: Statistics to compute: ``idim``, ``lsat``, ``cov``, ``det``, ``logdet``, ``trc``,
            ``dtrc``, ``embed``, each reported for train and eval passes; delve's
            ``<stat>_eval`` form (``lsat_eval``) reports it for eval passes only and
            ``<stat>_train`` for train passes only, unless the plain name is given too.
        layerwise_sat: Write per-layer values to the writers.
        reset_covariance: Reset the accumulated covariance after every ``add_saturations()``.
        average_sat: Also write the average saturation over layers, per mode.
        ignore_layer_names: Qualified names not to track.
        include_conv: Track conv layers (``False`` keeps only linear and recurrent layers).
        conv_method: ``channelwise`` (default), ``mean``, ``max``, ``median`` or ``flatten``.
        timeseries_method: ``last_timestep`` (default) or ``timestepwise``.
        sat_threshold: delta, the share of variance the intrinsic dimension explains.
        nosave: Compute everything but write nothing.
        verbose: Log every layer's values at INFO level after each ``add_saturations()``.
        device: Where the covariance sums live; ``None`` (default) uses each layer's own device.
        initial_epoch: The epoch of the first ``add_saturations()``; when > 0 the writers continue
            their files, dropping rows recorded at or after this epoch.
        interpolation_strategy: ``F.interpolate`` mode to shrink conv maps larger than
            ``interpolation_downsampling`` before they are recorded; ``None`` disables it.
        interpolation_downsampling: The spatial side conv maps are shrunk to.
        spatial_samples: For ``channelwise``, at most this many random positions per batch.

    Raises:
        UnknownNameError: An unknown stat, conv_method, timeseries_method or writer name.
        UnsupportedLayerError: ``modules`` holds nothing trackable.
        InvalidArgumentError: Any other argument out of range.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with SaturationTracker("runs/demo", save_to=[], modules=model, stats=["lsat"]) as t:
        ...     _ = model(torch.randn(32, 4))
        ...     values = t.add_saturations()
        >>> sorted(values)
        ['train-saturation_0', 'train-saturation_2']
    """

    def __init__(
        self,
        savefile: str | Path = "runs/saturation",
        save_to: str | TrackerOutput | list[str | TrackerOutput] | None = "csv",
        modules: nn.Module | list[nn.Module] | dict[str, nn.Module] | None = None,
        layer_filter: Callable[[dict[str, nn.Module]], dict[str, nn.Module]] | None = None,
        writer_args: dict[str, Any] | None = None,
        log_interval: int = 1,
        max_samples: int | None = None,
        stats: list[str] | tuple[str, ...] = ("lsat",),
        layerwise_sat: bool = True,
        reset_covariance: bool = True,
        average_sat: bool = False,
        ignore_layer_names: list[str] | tuple[str, ...] = (),
        include_conv: bool = True,
        conv_method: str = "channelwise",
        timeseries_method: str = "last_timestep",
        sat_threshold: float = 0.99,
        nosave: bool = False,
        verbose: bool = False,
        device: str | torch.device | None = None,
        initial_epoch: int = 0,
        interpolation_strategy: str | None = None,
        interpolation_downsampling: int = 32,
        spatial_samples: int | None = None,
    ) -> None:
        if modules is None:
            raise InvalidArgumentError("modules is required: pass the model to track")
        stat_modes = _parse_stats(stats)
        if int(log_interval) < 1:
            raise InvalidArgumentError(f"log_interval must be >= 1, got {log_interval}")
        if max_samples is not None and int(max_samples) < 1:
            raise InvalidArgumentError(f"max_samples must be None or >= 1, got {max_samples}")
        if not (0.0 < float(sat_threshold) <= 1.0):
            raise InvalidArgumentError(f"sat_threshold must be in (0, 1], got {sat_threshold}")
        if int(initial_epoch) < 0:
            raise InvalidArgumentError(f"initial_epoch must be >= 0, got {initial_epoch}")
        self.config = HandlerConfig(
            conv_method=conv_method,
            timeseries_method=timeseries_method,
            interpolation_strategy=interpolation_strategy,
            interpolation_downsampling=int(interpolation_downsampling),
            spatial_samples=spatial_samples,
        )
        self.stats = list(stat_modes)
        self.stat_modes = stat_modes
        self._recorded_modes = frozenset().union(*stat_modes.values())
        self._keep_embed = "embed" in stat_modes  # read by the hook on every batch
        self.savefile = Path(savefile)
        self.log_interval = int(log_interval)
        self.max_samples = None if max_samples is None else int(max_samples)
        self.layerwise_sat = layerwise_sat
        self.reset_covariance = reset_covariance
        self.average_sat = average_sat
        self.threshold = float(sat_threshold)
        self.nosave = nosave
        self.verbose = verbose
        self.device = torch.device(device) if device is not None else None
        self.epoch = int(initial_epoch)
        self.initial_epoch = int(initial_epoch)

        candidates = _collect_layers(modules)
        ignored = set(ignore_layer_names)
        candidates = {n: m for n, m in candidates.items() if n not in ignored}
        if not include_conv:
            candidates = {n: m for n, m in candidates.items() if not get_layer_handler(m).is_conv}
        if layer_filter is not None:
            candidates = dict(layer_filter(dict(candidates)))
        if not candidates:
            raise UnsupportedLayerError(
                f"nothing to track in {type(modules).__name__}: no layer of a supported type "
                f"({', '.join(list_layer_handlers())}) is left after include_conv, "
                "ignore_layer_names and layer_filter; register a handler for your layer type "
                "with delve_advisor.register_layer_handler(type, handler)"
            )
        self._modules = candidates
        self._states = {
            name: _LayerState(name, get_layer_handler(module), self.device)
            for name, module in candidates.items()
        }
        self._forward_order: list[str] = []
        self._forward_set: set[str] = set()
        self._warned_non_finite: set[tuple[str, str]] = set()
        self._records: list[dict[str, Any]] = []
        self.last_result: EpochResult | None = None
        self._recording = True
        self._hooks = Hooks()  # kept across calls until close()
        self.writer = create_tracker_output([] if nosave else save_to, self.savefile, writer_args)
        if self.initial_epoch > 0 and not nosave:
            self.writer.resume(self.initial_epoch)
        for name, module in candidates.items():
            self._hooks.forward(module, self._make_hook(name))

    # ------------------------------------------------------------------ recording
    @property
    def layer_names(self) -> list[str]:
        """Tracked layers, in forward order once a forward pass has run (module order before)."""
        seen = set(self._forward_order)
        return self._forward_order + [n for n in self._modules if n not in seen]

    def _make_hook(self, name: str) -> Callable[..., None]:
        state = self._states[name]

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if not self._recording:
                return
            mode = "train" if module.training else "eval"
            if mode not in self._recorded_modes:
                return
            calls = state.forward_calls[mode]
            state.forward_calls[mode] = calls + 1
            if calls % self.log_interval:
                return
            if name not in self._forward_set:
                self._forward_order.append(name)
                self._forward_set.add(name)
            budget = None
            if self.max_samples is not None:
                budget = self.max_samples - state.rows_seen[mode]
                if budget <= 0:
                    return
            with torch.no_grad():
                rows = state.handler.to_rows(module, output, self.config)
                num_rows = rows.numel() // rows.shape[-1] if rows.shape[-1] else 0
                if budget is not None and num_rows > budget:
                    rows = rows.reshape(-1, rows.shape[-1])[:budget]
                    num_rows = budget
                state.accumulators[mode].update(rows)
                state.rows_seen[mode] += num_rows
                if self._keep_embed:
                    kept = sum(r.shape[0] for r in state.embed_rows[mode])
                    if kept < _EMBED_ROWS:
                        flat = rows.reshape(-1, rows.shape[-1])[: _EMBED_ROWS - kept]
                        state.embed_rows[mode].append(flat.detach().to("cpu", torch.float64))

        return hook

    def is_recording(self) -> bool:
        """Whether forward passes are being recorded."""
        return self._recording

    def stop(self) -> None:
        """Pauses recording; hooks stay but do nothing."""
        self._recording = False

    def resume(self) -> None:
        """Resumes recording after :meth:`stop`."""
        self._recording = True

    # ------------------------------------------------------------------ statistics
    def _layer_result(self, name: str, mode: str) -> LayerSaturation:
        state = self._states[name]
        acc = state.accumulators[mode]
        if acc.num_rows == 0:
            return LayerSaturation(
                name,
                mode,
                "no data",
                0,
                acc.num_features or 0,
                dict.fromkeys(self._scalar_stats(mode), math.nan),
            )
        d = acc.num_features
        if not acc.is_finite():
            if (mode, name) not in self._warned_non_finite:
                self._warned_non_finite.add((mode, name))
                warnings.warn(
                    f"layer {name!r} produced NaN or infinite activations in {mode} mode; its "
                    "statistics are NaN until the covariance is reset. Check the learning rate "
                    "and the inputs.",
                    NonFiniteActivationWarning,
                    stacklevel=3,
                )
            return LayerSaturation(
                name,
                mode,
                "non-finite",
                acc.num_rows,
                d,
                dict.fromkeys(self._scalar_stats(mode), math.nan),
            )
        rows = acc.rows()  # while fewer rows than features: the spectrum needs no d x d matrix
        wants_cov = self.writer.wants_covariance or any(
            stat in ("cov", "embed") for stat in self._mode_stats(mode)
        )
        cov = acc.covariance() if rows is None or wants_cov else None
        spectrum = compute_spectrum(cov, rows=rows)
        status = "dead" if spectrum.is_dead else "ok"
        values: dict[str, Any] = {}
        for stat in self._mode_stats(mode):
            if stat == "idim":
                values[stat] = spectrum.idim(self.threshold)
            elif stat == "lsat":
                values[stat] = spectrum.lsat(self.threshold)
            elif stat == "trc":
                values[stat] = spectrum.trc()
            elif stat == "dtrc":
                values[stat] = spectrum.dtrc()
            elif stat == "det":
                values[stat] = spectrum.det()
            elif stat == "logdet":
                values[stat] = spectrum.logdet()
            elif stat == "cov":
                values[stat] = cov.cpu().numpy()
            elif stat == "embed":
                values[stat] = self._embed(state, mode, cov)
        if self.writer.wants_covariance and "cov" not in values:
            values["cov"] = cov.cpu().numpy()
        return LayerSaturation(name, mode, status, acc.num_rows, d, values, spectrum.eigenvalues)

    def _mode_stats(self, mode: str) -> list[str]:
        return [s for s in self.stats if mode in self.stat_modes[s]]

    def _scalar_stats(self, mode: str) -> list[str]:
        return [s for s in self._mode_stats(mode) if s not in ("cov", "embed")]

    @staticmethod
    def _embed(state: _LayerState, mode: str, cov: torch.Tensor) -> np.ndarray:
        samples = torch.cat(state.embed_rows[mode]) if state.embed_rows[mode] else None
        if samples is None:
            return np.zeros((0, 2))
        _, vectors = torch.linalg.eigh(cov.cpu())
        top = vectors[:, -2:].flip(1) if vectors.shape[1] >= 2 else vectors[:, -1:]
        mean = state.accumulators[mode].mean().cpu()
        return ((samples - mean) @ top).numpy()

    def add_saturations(self, save: bool = True) -> dict[str, Any]:
        """Computes every statistic for the epoch, writes it, and starts the next epoch.

        Layers without recorded data give NaN entries with status ``"no data"`` (never an
        exception); layers with no variance have status ``"dead"`` (idim 0, saturation 0).

        Args:
            save: Ask the writers to flush their files.

        Returns:
            delve-style dict ``"<mode>-<stat-name>_<layer>"`` -> value (NaN when no data).
        """

        def has_data(mode: str) -> bool:
            return any(s.accumulators[mode].num_rows for s in self._states.values())

        modes = [m for m in MODES if self._mode_stats(m) and has_data(m)]
        if not modes:
            logger.warning(
                "add_saturations() called before any recorded forward pass in the modes the "
                "stats ask for (%s); every entry is 'no data'",
                ", ".join(sorted(self._recorded_modes)),
            )
            modes = [m for m in MODES if self._mode_stats(m)][:1]
        layers = self.layer_names
        records: dict[tuple[str, str], LayerSaturation] = {}
        values: dict[str, Any] = {}
        averages: dict[str, float] = {}
        for mode in modes:
            sats = []
            for name in layers:
                record = self._layer_result(name, mode)
                records[(mode, name)] = record
                for stat, value in record.stats.items():
                    if mode in self.stat_modes.get(stat, ()):
                        values[column_name(mode, stat, name)] = value
                    if np.ndim(value) == 0:
                        self._records.append(
                            {
                                "epoch": self.epoch,
                                "mode": mode,
                                "layer": name,
                                "stat": stat,
                                "value": float(value),
                                "status": record.status,
                            }
                        )
                if record.status in ("ok", "dead"):
                    sats.append(record.scalar("lsat") if "lsat" in record.stats else math.nan)
                if self.verbose:
                    logger.info(
                        "epoch %d %s %s: %s %s",
                        self.epoch,
                        mode,
                        name,
                        record.status,
                        {k: v for k, v in record.stats.items() if np.ndim(v) == 0},
                    )
            if self.average_sat and sats:
                averages[mode] = (
                    float(np.nanmean(sats)) if not all(map(math.isnan, sats)) else math.nan
                )
        result = EpochResult(
            self.epoch, layers, records, values if self.layerwise_sat else {}, averages
        )
        self.last_result = result
        if not self.nosave:
            self.writer.write(result)
            if save:
                self.writer.save()
        if self.reset_covariance:
            for state in self._states.values():
                for mode in MODES:
                    state.reset(mode)
        else:
            for state in self._states.values():
                for mode in MODES:
                    state.rows_seen[mode] = 0
        self.epoch += 1
        return values

    def add_scalar(self, name: str, value: float) -> None:
        """Records a user scalar (loss, accuracy) for the current epoch in history and writers."""
        self._records.append(
            {
                "epoch": self.epoch,
                "mode": "",
                "layer": "",
                "stat": name,
                "value": float(value),
                "status": "ok",
            }
        )
        if not self.nosave:
            self.writer.add_scalar(name, float(value), self.epoch)

    @property
    def history(self) -> pd.DataFrame:
        """Every value recorded so far, long format: epoch, mode, layer, stat, value, status.

        User scalars from :meth:`add_scalar` have empty ``mode`` and ``layer``.
        """
        return pd.DataFrame(self._records, columns=_TRACKER_HISTORY_COLUMNS)

    def save(self) -> None:
        """Flushes the writers."""
        if not self.nosave:
            self.writer.save()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Removes every hook from the model and closes the writers. Safe to call twice."""
        self._hooks.remove()
        if not self.nosave:
            self.writer.close()

    def __enter__(self) -> SaturationTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SaturationTracker(layers={self.layer_names!r}, epoch={self.epoch})"


class CheckLayerSat(SaturationTracker):
    """delve's former name of :class:`SaturationTracker`, kept for scripts written against delve.

    Warns with a ``DeprecationWarning`` when constructed; takes the same arguments.

    Example:
        >>> import warnings
        >>> from torch import nn
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     tracker = CheckLayerSat("unused", save_to=[], modules=nn.Linear(4, 2))
        >>> isinstance(tracker, SaturationTracker), caught[0].category.__name__
        (True, 'DeprecationWarning')
        >>> tracker.close()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "CheckLayerSat is delve's old name; use SaturationTracker (same arguments)",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
