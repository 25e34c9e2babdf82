"""Parsing of data specifications; the forms are described in :mod:`delve_advisor.data`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from delve_advisor.exceptions import SpecError

DATA_SPEC_FORMS = (
    "valid data specs:\n"
    "  fashion-mnist:DIR     Fashion-MNIST IDX files (.gz or not) in DIR, DIR/raw or "
    "DIR/FashionMNIST/raw\n"
    "  cifar10:DIR           CIFAR-10 python batches in DIR or DIR/cifar-10-batches-py\n"
    "  imagefolder:DIR       one sub-folder per class (optionally under train/ and val/)\n"
    "  npz:FILE              arrays x (N,H,W) or (N,H,W,C), uint8 or float, and integer y\n"
    "  synthetic             built-in small shapes; also synthetic:N or "
    "synthetic:n=N,size=S,val=V"
)

_KINDS = ("fashion-mnist", "cifar10", "imagefolder", "npz", "synthetic")
_SYNTHETIC_KEYS = ("n", "size", "val")


def _spec_error(spec: str, what: str) -> SpecError:
    return SpecError(f"bad data spec {spec!r}: {what}\n{DATA_SPEC_FORMS}")


@dataclass(frozen=True)
class DataSpec:
    """A parsed data specification.

    Attributes:
        kind: One of ``fashion-mnist``, ``cifar10``, ``imagefolder``, ``npz``, ``synthetic``.
        path: The directory or file (``None`` for ``synthetic``).
        options: ``synthetic`` options (``n``, ``size``, ``val``), as ints.
        text: The spec as given.
    """

    kind: str
    path: Path | None
    options: dict[str, int] = field(default_factory=dict)
    text: str = ""


def parse_data_spec(spec: str) -> DataSpec:
    """Parses a data spec without reading any file.

    Args:
        spec: One of the forms in :data:`DATA_SPEC_FORMS`.

    Returns:
        The parsed :class:`DataSpec`.

    Raises:
        SpecError: The spec is malformed; the message names the wrong part and lists the forms.

    Example:
        >>> parse_data_spec("synthetic:n=200,size=24").options
        {'n': 200, 'size': 24}
    """
    if not isinstance(spec, str):
        raise SpecError(
            f"a data spec must be a string, got {type(spec).__name__}\n{DATA_SPEC_FORMS}"
        )
    text = spec.strip()
    if not text:
        raise _spec_error(spec, "it is empty")
    kind, colon, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in _KINDS:
        near = difflib.get_close_matches(kind, _KINDS, n=2, cutoff=0.5)
        nearest = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
        raise _spec_error(spec, f"unknown data kind {kind!r} before ':'{nearest}")
    if kind == "synthetic":
        return DataSpec(kind, None, _parse_synthetic_options(spec, rest.strip()), spec)
    if not colon or not rest.strip():
        what = "a file" if kind == "npz" else "a directory"
        raise _spec_error(spec, f"{what} is missing after '{kind}:'")
    return DataSpec(kind, Path(rest.strip()).expanduser(), {}, spec)


def _parse_synthetic_options(spec: str, rest: str) -> dict[str, int]:
    if not rest:
        return {}
    if "=" not in rest:
        pairs = [("n", rest)]
    else:
        pairs = []
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq:
                raise _spec_error(spec, f"synthetic option {item.strip()!r} is not key=value")
            pairs.append((key.strip(), value))
    options: dict[str, int] = {}
    for key, value in pairs:
        if key not in _SYNTHETIC_KEYS:
            raise _spec_error(
                spec,
                f"unknown synthetic option {key!r}; valid options: {', '.join(_SYNTHETIC_KEYS)}",
            )
        try:
            number = int(value.strip())
        except ValueError:
            raise _spec_error(
                spec, f"synthetic option {key!r} must be a positive integer, got {value.strip()!r}"
            ) from None
        if number < 1:
            raise _spec_error(spec, f"synthetic option {key!r} must be positive, got {number}")
        options[key] = number
    return options
