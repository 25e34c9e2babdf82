"""Layer handlers: how a layer's output becomes a rows x features matrix.

A handler is registered per module type and looked up along the MRO, so subclasses of a supported
layer are tracked too. Register your own with :func:`register_layer_handler`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from delve_advisor._registry import TypeRegistry, register_or_decorate
from delve_advisor.exceptions import InvalidArgumentError, UnknownNameError, UnsupportedLayerError

__all__ = [
    "CONV_METHODS",
    "TIMESERIES_METHODS",
    "ConvHandler",
    "HandlerConfig",
    "LayerHandler",
    "LinearHandler",
    "RecurrentHandler",
    "get_layer_handler",
    "list_layer_handlers",
    "register_layer_handler",
    "unregister_layer_handler",
]

CONV_METHODS = ("channelwise", "mean", "max", "median", "flatten")
TIMESERIES_METHODS = ("last_timestep", "timestepwise")
_INTERPOLATION_MODES = (
    "nearest",
    "linear",
    "bilinear",
    "bicubic",
    "trilinear",
    "area",
    "nearest-exact",
)


@dataclass(frozen=True)
class HandlerConfig:
    """Options that shape how outputs become rows; shared by every handler of one tracker.

    Attributes:
        conv_method: One of :data:`CONV_METHODS`.
        timeseries_method: One of :data:`TIMESERIES_METHODS`.
        interpolation_strategy: ``torch.nn.functional.interpolate`` mode used to shrink conv maps
            whose spatial side exceeds ``interpolation_downsampling``; ``None`` disables it.
        interpolation_downsampling: Target spatial side for the interpolation.
        spatial_samples: For ``channelwise``, at most this many random spatial positions per
            batch (the same positions for every sample); ``None`` keeps all.

    Example:
        >>> HandlerConfig().conv_method
        'channelwise'
    """

    conv_method: str = "channelwise"
    timeseries_method: str = "last_timestep"
    interpolation_strategy: str | None = None
    interpolation_downsampling: int = 32
    spatial_samples: int | None = None

    def __post_init__(self) -> None:
        if self.conv_method not in CONV_METHODS:
            raise UnknownNameError(
                f"unknown conv_method {self.conv_method!r}; valid: {', '.join(CONV_METHODS)}"
            )
        if self.timeseries_method not in TIMESERIES_METHODS:
            raise UnknownNameError(
                f"unknown timeseries_method {self.timeseries_method!r}; "
                f"valid: {', '.join(TIMESERIES_METHODS)}"
            )
        if (
            self.interpolation_strategy is not None
            and self.interpolation_strategy not in _INTERPOLATION_MODES
        ):
            raise UnknownNameError(
                f"unknown interpolation_strategy {self.interpolation_strategy!r}; valid: None, "
                + ", ".join(_INTERPOLATION_MODES)
            )
        if int(self.interpolation_downsampling) < 1:
            raise InvalidArgumentError(
                f"interpolation_downsampling must be >= 1, got {self.interpolation_downsampling}"
            )
        if self.spatial_samples is not None and int(self.spatial_samples) < 1:
            raise InvalidArgumentError(
                f"spatial_samples must be None or >= 1, got {self.spatial_samples}"
            )


class LayerHandler(ABC):
    """Turns one module's forward output into a rows x features matrix.

    ``to_rows`` returns a tensor of shape ``(..., features)``: every leading index is a row. It may
    be a strided view of the output (no copy); the accumulator reads it once.

    Subclass it and register the subclass for your module type with
    :func:`register_layer_handler`. ``to_rows`` runs inside a forward hook under
    ``torch.no_grad()``; it must not modify ``output`` in place.

    Example:
        >>> conv = nn.Conv2d(1, 4, 3)
        >>> rows = get_layer_handler(conv).to_rows(conv, torch.zeros(2, 4, 5, 5), HandlerConfig())
        >>> tuple(rows.shape)  # (..., features): every leading index is a row, N * H * W of them
        (2, 25, 4)
    """

    #: Whether the tracker's ``include_conv=False`` excludes this handler's layers.
    is_conv: bool = False

    @abstractmethod
    def to_rows(self, module: nn.Module, output: Any, config: HandlerConfig) -> torch.Tensor:
        """Returns ``output`` as ``(..., features)``; each leading index is one row."""


class LinearHandler(LayerHandler):
    """Linear layers: each leading index (batch, tokens, ...) is a row; out_features columns.

    Example:
        >>> linear = nn.Linear(3, 6)
        >>> tuple(LinearHandler().to_rows(linear, torch.zeros(2, 7, 6), HandlerConfig()).shape)
        (2, 7, 6)
    """

    def to_rows(self, module: nn.Module, output: Any, config: HandlerConfig) -> torch.Tensor:
        return output


class ConvHandler(LayerHandler):
    """Conv (and transposed conv) layers of any spatial rank, reduced by ``conv_method``.

    Example:
        >>> conv = nn.Conv2d(1, 4, 3)
        >>> config = HandlerConfig(conv_method="mean")
        >>> tuple(ConvHandler().to_rows(conv, torch.zeros(2, 4, 5, 5), config).shape)
        (2, 4)
    """

    is_conv = True

    def to_rows(self, module: nn.Module, output: Any, config: HandlerConfig) -> torch.Tensor:
        x = output
        if x.dim() < 3:  # unbatched conv input gives (C, *spatial)
            raise UnsupportedLayerError(
                f"conv output of shape {tuple(x.shape)} has no batch dimension; "
                "track batched inputs (N, C, *spatial)"
            )
        spatial = x.shape[2:]
        if config.interpolation_strategy is not None and max(spatial) > (
            config.interpolation_downsampling
        ):
            size = [min(s, config.interpolation_downsampling) for s in spatial]
            x = torch.nn.functional.interpolate(x, size=size, mode=config.interpolation_strategy)
        n, c = x.shape[:2]
        method = config.conv_method
        if method == "channelwise":
            flat = x.reshape(n, c, -1)
            positions = flat.shape[2]
            if config.spatial_samples is not None and positions > config.spatial_samples:
                index = torch.randperm(positions, device=x.device)[: config.spatial_samples]
                flat = flat[:, :, index]
            return flat.transpose(1, 2)  # (N, positions, C) view; rows are N * positions
        if method == "mean":
            return x.reshape(n, c, -1).mean(dim=2)
        if method == "max":
            return x.reshape(n, c, -1).amax(dim=2)
        if method == "median":
            return x.reshape(n, c, -1).median(dim=2).values
        return x.reshape(n, -1)  # flatten


class RecurrentHandler(LayerHandler):
    """LSTM / GRU / RNN: the output sequence, honouring ``batch_first``.

    ``last_timestep`` gives one row per sequence (for packed sequences, each sequence's own last
    step); ``timestepwise`` gives one row per sequence and time step.

    Example:
        >>> lstm = nn.LSTM(3, 5, batch_first=True)
        >>> output = lstm(torch.zeros(2, 7, 3))
        >>> tuple(RecurrentHandler().to_rows(lstm, output, HandlerConfig()).shape)  # last timestep
        (2, 5)
    """

    def to_rows(self, module: nn.Module, output: Any, config: HandlerConfig) -> torch.Tensor:
        sequence = output[0] if isinstance(output, tuple) else output
        lengths = None
        batch_first = bool(getattr(module, "batch_first", False))
        if isinstance(sequence, PackedSequence):
            sequence, lengths = pad_packed_sequence(sequence, batch_first=True)
            batch_first = True
        if sequence.dim() == 2:  # unbatched (T, H)
            sequence = sequence.unsqueeze(0)
            batch_first = True
        if not batch_first:
            sequence = sequence.transpose(0, 1)  # -> (N, T, H)
        if config.timeseries_method == "timestepwise":
            if lengths is not None:
                mask = torch.arange(sequence.shape[1])[None, :] < lengths[:, None]
                return sequence[mask.to(sequence.device)]
            return sequence.reshape(-1, sequence.shape[-1])
        if lengths is not None:
            index = (lengths - 1).to(sequence.device)
            return sequence[torch.arange(sequence.shape[0], device=sequence.device), index]
        return sequence[:, -1, :]


_HANDLERS: TypeRegistry[LayerHandler] = TypeRegistry(
    "layer handler", list_hint="list_layer_handlers()"
)


def _check_handler(handler: Any) -> LayerHandler:
    if isinstance(handler, type) and issubclass(handler, LayerHandler):
        handler = handler()  # used as a class decorator: register an instance
    if not isinstance(handler, LayerHandler):
        raise UnsupportedLayerError(
            f"handler must be a LayerHandler instance, got {type(handler).__name__}"
        )
    return handler


def register_layer_handler(
    module_type: type[nn.Module], handler: LayerHandler | None = None, *, override: bool = False
) -> Any:
    """Registers how outputs of ``module_type`` (and its subclasses) become rows x features.

    Used directly (``register_layer_handler(MyLayer, MyHandler())``) or as a class decorator on
    the handler class (``@register_layer_handler(MyLayer)``, which registers an instance).

    Args:
        module_type: A subclass of ``torch.nn.Module``.
        handler: An instance of a :class:`LayerHandler` subclass; omit it to get a decorator.
        override: Replace an existing registration for exactly this type.

    Returns:
        ``handler``, or a decorator that registers and returns what it decorates.

    Raises:
        DuplicateRegistrationError: ``module_type`` has a handler and ``override`` is False.
        UnsupportedLayerError: ``module_type`` is not a module type or ``handler`` not a handler.

    Example:
        >>> class Gate(nn.Linear):
        ...     pass
        >>> get_layer_handler(Gate(2, 2)).__class__.__name__  # inherited from nn.Linear
        'LinearHandler'
        >>> @register_layer_handler(Gate)
        ... class GateHandler(LinearHandler):
        ...     pass
        >>> get_layer_handler(Gate(2, 2)).__class__.__name__
        'GateHandler'
        >>> unregister_layer_handler(Gate)
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise UnsupportedLayerError(
            f"module_type must be a torch.nn.Module subclass, got {module_type!r}"
        )
    return register_or_decorate(
        _HANDLERS, module_type, handler, override=override, check=_check_handler
    )


def unregister_layer_handler(module_type: type[nn.Module]) -> None:
    """Removes the handler registered for exactly ``module_type``.

    Raises:
        UnknownNameError: ``module_type`` has no handler of its own; the message lists the
            registered types.

    Example:
        >>> class Gate(nn.Linear):
        ...     pass
        >>> _ = register_layer_handler(Gate, ConvHandler())
        >>> unregister_layer_handler(Gate)
        >>> type(get_layer_handler(Gate(2, 2))).__name__  # nn.Linear's handler again
        'LinearHandler'
    """
    _HANDLERS.unregister(module_type)


def get_layer_handler(module: nn.Module) -> LayerHandler | None:
    """Returns the handler for ``module``'s type (nearest along the MRO), or ``None``.

    Example:
        >>> type(get_layer_handler(nn.Conv2d(1, 1, 3))).__name__
        'ConvHandler'
    """
    return _HANDLERS.lookup(type(module))


def list_layer_handlers() -> list[str]:
    """Names of the module types that have a handler.

    Example:
        >>> "torch.nn.modules.linear.Linear" in list_layer_handlers()
        True
    """
    return _HANDLERS.names()


register_layer_handler(nn.Linear, LinearHandler())
register_layer_handler(nn.Bilinear, LinearHandler())
register_layer_handler(nn.modules.conv._ConvNd, ConvHandler())
register_layer_handler(nn.RNNBase, RecurrentHandler())
