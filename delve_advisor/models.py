"""Model specifications (``torchvision:resnet18``, ``package.module:factory``) → ``nn.Module``.

Two forms are accepted:

``torchvision:NAME``
    Any classification builder of ``torchvision.models`` (see :func:`list_model_specs`), always
    built with ``weights=None``: nothing is downloaded. ``num_classes`` is passed to the builder.
    torchvision models take 3 input channels; for another count (grey images: 1) the *stem* is
    adapted: the first ``Conv2d`` that runs in the forward pass (found by a forward pre-hook on
    a probe input, not by attribute names) is replaced by a ``Conv2d`` with ``in_channels``
    inputs and otherwise the same hyper-parameters (out channels, kernel, stride, padding,
    dilation, groups, bias, padding mode, device, dtype). Its weights are copied cyclically from
    the original input channels (channel ``c`` takes original channel ``c mod 3``), so the
    model's own initialisation scheme carries over.

``package.module:factory``
    ``factory`` is imported from ``package.module`` and called; ``num_classes=`` and
    ``in_channels=`` are passed only when requested, and only if the factory accepts them (a
    parameter of that name or ``**kwargs``), otherwise the spec is refused with an error that
    says so. ``factory`` may be a dotted attribute path (``pkg.mod:Class.create``).

A checkpoint (``checkpoint=FILE``) is read with ``torch.load(..., weights_only=True)``: either a
state dict, or a dict holding one under ``"state_dict"`` or ``"model"``. A ``"module."`` prefix on
every key (saved from ``DataParallel``) is removed when the model has no such prefix.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from delve_advisor._failures import SIZE_ERROR_TYPES, is_input_size_error, name_failing_module
from delve_advisor._hooks import Hooks
from delve_advisor._modules import device_and_dtype, eval_mode, module_uses, replace_module
from delve_advisor._sizes import image_size
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError, SpecError

__all__ = [
    "MODEL_SPEC_FORMS",
    "ModelSpec",
    "check_compatibility",
    "list_model_specs",
    "load_model",
    "parse_model_spec",
]

MODEL_SPEC_FORMS = (
    "valid model specs:\n"
    "  torchvision:NAME          a torchvision classification model, built with weights=None "
    "(names: delve_advisor.list_model_specs())\n"
    "  package.module:factory    a callable returning an nn.Module, e.g. mypkg.nets:build_net"
)

_PROBE_SIZE = 224  # spatial size of the probe input used to find the stem convolution


class _StemFound(Exception):
    """Raised by the probe hook to stop the forward pass at the first convolution."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model specification.

    Attributes:
        source: ``"torchvision"`` or ``"factory"``.
        module: The module to import (``"torchvision.models"`` for torchvision specs).
        name: The builder name or the (possibly dotted) attribute path of the factory.
        text: The spec as given.
    """

    source: str
    module: str
    name: str
    text: str


def _spec_error(spec: str, what: str) -> SpecError:
    return SpecError(f"bad model spec {spec!r}: {what}\n{MODEL_SPEC_FORMS}")


def _torchvision_models() -> Any:
    """``torchvision.models``, imported when a spec needs it (it costs ~2 s to import)."""
    import torchvision.models

    return torchvision.models


def _torchvision_names() -> list[str]:
    models = _torchvision_models()
    return sorted(models.list_models(module=models))


def list_model_specs() -> list[str]:
    """Lists the ``torchvision:NAME`` specs that :func:`load_model` can build.

    Returns:
        Sorted specs such as ``"torchvision:resnet18"``; any ``package.module:factory`` is valid
        besides these.

    Example:
        >>> "torchvision:resnet18" in list_model_specs()
        True
    """
    return [f"torchvision:{name}" for name in _torchvision_names()]


def _is_dotted_identifier(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def parse_model_spec(spec: str) -> ModelSpec:
    """Parses a model spec without importing or building anything.

    Args:
        spec: ``torchvision:NAME`` or ``package.module:factory``.

    Returns:
        The parsed :class:`ModelSpec`.

    Raises:
        SpecError: The spec is malformed; the message names the wrong part and lists the forms.
            ``torchvision:NAME`` that names no torchvision builder is a ``SpecError`` too, whose
            message lists the nearest names.
    """
    if not isinstance(spec, str):
        raise SpecError(
            f"a model spec must be a string, got {type(spec).__name__}\n{MODEL_SPEC_FORMS}"
        )
    text = spec.strip()
    if not text:
        raise _spec_error(spec, "it is empty")
    if ":" not in text:
        hint = ""
        if text in _torchvision_names():
            hint = f" (did you mean 'torchvision:{text}'?)"
        raise _spec_error(spec, f"no ':' separating the source from the name{hint}")
    left, _, right = text.partition(":")
    if ":" in right:
        raise _spec_error(spec, f"more than one ':' (in {right!r})")
    if not left:
        raise _spec_error(spec, "the part before ':' (torchvision or package.module) is empty")
    if not right:
        raise _spec_error(spec, f"the part after '{left}:' (the model or factory name) is empty")
    if left == "torchvision":
        names = _torchvision_names()
        if right not in names:
            near = difflib.get_close_matches(right, names, n=5, cutoff=0.5)
            nearest = f"; the nearest are {', '.join(near)}" if near else ""
            raise SpecError(
                f"bad model spec {spec!r}: {right!r} is not a torchvision classification model"
                f"{nearest} — list them with delve_advisor.list_model_specs()"
            )
        return ModelSpec("torchvision", "torchvision.models", right, spec)
    if not _is_dotted_identifier(left):
        raise _spec_error(spec, f"{left!r} before ':' is not a dotted Python module path")
    if not _is_dotted_identifier(right):
        raise _spec_error(spec, f"{right!r} after ':' is not a Python name")
    return ModelSpec("factory", left, right, spec)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return True
        if parameter.name == name and parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            return True
    return False


def _build_from_factory(
    parsed: ModelSpec, num_classes: int | None, in_channels: int | None
) -> nn.Module:
    spec = parsed.text
    try:
        target: Any = importlib.import_module(parsed.module)
    except ImportError as error:
        raise _spec_error(spec, f"cannot import module {parsed.module!r}: {error}") from error
    walked = parsed.module
    for part in parsed.name.split("."):
        if not hasattr(target, part):
            candidates = [n for n in dir(target) if not n.startswith("_")]
            near = difflib.get_close_matches(part, candidates, n=5, cutoff=0.5)
            nearest = f"; the nearest are {', '.join(near)}" if near else ""
            raise _spec_error(spec, f"{walked!r} has no attribute {part!r}{nearest}")
        target = getattr(target, part)
        walked = f"{walked}.{part}"
    if not callable(target):
        raise _spec_error(spec, f"{walked!r} is a {type(target).__name__}, not a callable factory")
    kwargs: dict[str, int] = {}
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is None:
            continue
        if not _accepts(target, key):
            raise _spec_error(
                spec,
                f"factory {walked!r} does not accept {key}= (add a '{key}' parameter to it, "
                f"or leave {key} unset)",
            )
        kwargs[key] = value
    model = target(**kwargs)
    if not isinstance(model, nn.Module):
        raise _spec_error(
            spec, f"factory {walked!r} returned a {type(model).__name__}, not an nn.Module"
        )
    return model


def _first_conv(
    model: nn.Module, in_channels: int = 3, size: int = _PROBE_SIZE
) -> nn.Conv2d | None:
    """The first ``Conv2d`` reached by a forward pass, or ``None`` when none runs first.

    The forward pass runs on a zero probe (eval mode, no gradients, modes restored) and is
    stopped at the first convolution's pre-hook, so its cost is that of the layers before it.
    A failure before any conv that says the probe does not fit (its size or channels) means
    "no stem found"; any other failure is re-raised with a note naming the module that raised
    it.
    """
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return None
    found: list[nn.Conv2d] = []
    running: list[str] = []

    def enter(path: str) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            running.append(path)
            if isinstance(module, nn.Conv2d):
                found.append(module)
                raise _StemFound

        return hook

    device, dtype = device_and_dtype(model)
    with Hooks() as hooks:
        for path, module in model.named_modules():
            hooks.forward_pre(module, enter(path or type(model).__name__))
        try:
            with eval_mode(model), torch.no_grad():
                model(torch.zeros(1, in_channels, size, size, device=device, dtype=dtype))
        except _StemFound:
            pass
        except Exception as exc:
            if is_input_size_error(exc):  # the probe does not fit: no stem to read
                return None
            where = running[-1] if running else type(model).__name__
            name_failing_module(exc, where, "stem probing")
            raise
    return found[0] if found else None


def _adapt_stem(model: nn.Module, in_channels: int, spec: str) -> None:
    stem = _first_conv(model)
    if stem is None:
        raise _spec_error(
            spec,
            f"cannot adapt the model to in_channels={in_channels}: no Conv2d runs first in its "
            "forward pass",
        )
    if stem.in_channels == in_channels:
        return
    if stem.groups != 1:
        raise _spec_error(
            spec,
            f"cannot adapt the stem convolution to in_channels={in_channels}: it has groups="
            f"{stem.groups}",
        )
    new = nn.Conv2d(
        in_channels,
        stem.out_channels,
        stem.kernel_size,  # type: ignore[arg-type]
        stride=stem.stride,  # type: ignore[arg-type]
        padding=stem.padding,  # type: ignore[arg-type]
        dilation=stem.dilation,  # type: ignore[arg-type]
        groups=stem.groups,
        bias=stem.bias is not None,
        padding_mode=stem.padding_mode,
        device=stem.weight.device,
        dtype=stem.weight.dtype,
    )
    with torch.no_grad():
        index = torch.arange(in_channels, device=stem.weight.device) % stem.in_channels
        new.weight.copy_(stem.weight[:, index])
        if stem.bias is not None:
            new.bias.copy_(stem.bias)
    new.train(stem.training)
    paths = module_uses(model, stem)
    if not paths:
        raise _spec_error(spec, "the stem convolution is not a registered submodule of the model")
    replace_module(model, paths[0], new)


def _load_checkpoint(model: nn.Module, checkpoint: str | os.PathLike) -> None:
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise SpecError(f"checkpoint file {path!r} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        raise SpecError(
            f"checkpoint {path!r} cannot be read with torch.load(weights_only=True): {error}. "
            "Save the model with torch.save(model.state_dict(), FILE)."
        ) from error
    state = loaded
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                state = loaded[key]
                break
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SpecError(
            f"checkpoint {path!r} holds a {type(loaded).__name__} that is not a state dict "
            "(a dict of tensors, or a dict with one under 'state_dict' or 'model')"
        )
    expected = model.state_dict()
    if (
        state
        and all(k.startswith("module.") for k in state)
        and not any(k.startswith("module.") for k in expected)
    ):
        state = {k[len("module.") :]: v for k, v in state.items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or mismatched:

        def show(keys: list[str]) -> str:
            head = ", ".join(keys[:8])
            return head + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches: {show(mismatched)}")
        raise SpecError(
            f"checkpoint {path!r} does not match {type(model).__name__}: "
            + "; ".join(parts)
            + " — check num_classes / in_channels and the model spec"
        )
    model.load_state_dict(state, strict=True)


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgumentError(f"{name} must be a positive int or None, got {value!r}")


def load_model(
    spec: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> nn.Module:
    """Builds the model a spec names, optionally adapted and loaded from a checkpoint.

    Args:
        spec: ``torchvision:NAME`` or ``package.module:factory`` (see the module docstring).
        num_classes: Number of outputs; passed to the builder or factory. ``None`` keeps the
            builder's default (1000 for torchvision).
        in_channels: Input channels. For torchvision models a value other than 3 replaces the
            stem convolution (the first ``Conv2d`` to run); for a factory it is passed on.
        checkpoint: A file saved with ``torch.save(state_dict)``, loaded after the model is
            built and adapted, with ``weights_only=True``.

    Returns:
        The model, in train mode as its builder left it.

    Raises:
        SpecError: The spec is malformed, its module or factory cannot be found or does not
            accept the arguments, the stem cannot be adapted, or the checkpoint is missing,
            unreadable or does not match (the message names the missing/unexpected keys).
        InvalidArgumentError: ``num_classes`` or ``in_channels`` is not a positive int.

    Example:
        >>> model = load_model("torchvision:resnet18", num_classes=10, in_channels=1)
        >>> model.conv1.in_channels, model.fc.out_features
        (1, 10)
    """
    _check_count("num_classes", num_classes)
    _check_count("in_channels", in_channels)
    parsed = parse_model_spec(spec)
    if parsed.source == "torchvision":
        kwargs: dict[str, Any] = {"weights": None}
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        try:
            model = _torchvision_models().get_model(parsed.name, **kwargs)
        except (TypeError, ValueError) as error:
            raise _spec_error(
                spec, f"torchvision refused the arguments {kwargs}: {error}"
            ) from error
        if in_channels is not None and in_channels != 3:
            _adapt_stem(model, in_channels, spec)
    else:
        model = _build_from_factory(parsed, num_classes, in_channels)
    if checkpoint is not None:
        _load_checkpoint(model, checkpoint)
    return model


def _logits(output: Any) -> torch.Tensor | None:
    """The class scores in a model output (a tensor, ``.logits`` of a named tuple, or item 0)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def check_compatibility(
    model: nn.Module,
    in_channels: int,
    num_classes: int,
    input_size: int | tuple[int, int],
) -> None:
    """Checks, before any training, that a model accepts the data's images and classes.

    Runs one forward pass on a batch of two zero images in eval mode without gradients; every
    module's train/eval flag is restored afterwards and nothing else changes.

    Args:
        model: The model.
        in_channels: Channels of the data's images.
        num_classes: Number of classes of the data.
        input_size: The data's image size, ``N`` for N x N or ``(H, W)``.

    Raises:
        InputSizeError: The model's stem takes another number of channels, or the model cannot
            run on images of this size (the message carries the model's own error).
        SpecError: The model does not output ``(batch, num_classes)`` scores.
        InvalidArgumentError: An argument is malformed.

    Example:
        >>> model = load_model("torchvision:resnet18", num_classes=10)
        >>> check_compatibility(model, 1, 10, 32)
        Traceback (most recent call last):
        ...
        delve_advisor.exceptions.InputSizeError: model expects 3 channels, data has 1 — pass ...
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"expected an nn.Module, got {type(model).__name__}")
    _check_count("in_channels", in_channels)
    _check_count("num_classes", num_classes)
    size = image_size(input_size)
    stem = _first_conv(model, in_channels=in_channels, size=max(size))
    if stem is not None and stem.in_channels != in_channels:
        raise InputSizeError(
            f"model expects {stem.in_channels} channels, data has {in_channels} — pass "
            f"in_channels={in_channels} / --in-channels {in_channels}"
        )
    device, dtype = device_and_dtype(model)
    try:
        with eval_mode(model), torch.no_grad():
            output = model(torch.zeros(2, in_channels, *size, device=device, dtype=dtype))
    except SIZE_ERROR_TYPES as error:
        if not is_input_size_error(error):
            raise
        raise InputSizeError(
            f"{type(model).__name__} cannot run on images of {in_channels} channels and size "
            f"{size[0]}x{size[1]}: {error}"
        ) from error
    logits = _logits(output)
    if logits is None or logits.dim() != 2 or logits.shape[0] != 2:
        shape = tuple(logits.shape[1:]) if logits is not None else type(output).__name__
        raise SpecError(
            f"model outputs {shape} per sample, expected {num_classes} class scores — "
            "it must end with a classifier"
        )
    if logits.shape[1] != num_classes:
        raise SpecError(
            f"model outputs {logits.shape[1]} classes, data has {num_classes} — pass "
            f"num_classes={num_classes} / --num-classes {num_classes}"
        )
