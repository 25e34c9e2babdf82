"""Data specifications (``fashion-mnist:DIR``, ``npz:FILE``, ``synthetic``…) → data loaders.

Valid forms (:data:`DATA_SPEC_FORMS`):

``fashion-mnist:DIR``
    The four original IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, gzipped or not), read directly with
    numpy: nothing is downloaded. ``DIR`` may hold the files, or hold ``raw/`` with them
    (torchvision's ``FashionMNIST`` folder), or hold ``FashionMNIST/raw/`` (torchvision's root).
``cifar10:DIR``
    torchvision's layout: ``DIR`` is, or holds, ``cifar-10-batches-py`` with ``data_batch_1``…
    ``data_batch_5`` and ``test_batch``. The pickles are read with an unpickler that only
    rebuilds numpy arrays.
``imagefolder:DIR``
    ``torchvision.datasets.ImageFolder``: one sub-folder per class. When ``DIR`` has ``train/``
    and ``val/`` (or ``valid/``, ``test/``) sub-folders they are the splits, otherwise 10 % of the
    images (seeded) are held out for validation. Images are grey (1 channel) when the first image
    has one band, RGB otherwise; they are resized per image to ``input_size`` (default: the size
    of the first image, which is ``native_size``).
``npz:FILE``
    A numpy ``.npz`` with ``x`` of shape (N, H, W) or (N, H, W, C), uint8 (divided by 255) or
    float (used as is), and integer labels ``y`` of shape (N,). Optional ``x_val``/``y_val`` (or
    ``x_test``/``y_test``) form the validation split; otherwise 10 % are held out (seeded).
``synthetic``, ``synthetic:N``, ``synthetic:n=N,size=S,val=V``
    Built in, deterministic from ``seed``: 10 classes of small shapes (7x7 px: square, frame,
    disc, ring, plus, cross, triangle, horizontal bar, vertical bar, diamond) in a random colour
    at a random position on a noisy background of another colour, RGB, ``S`` x ``S`` (default 32),
    ``N`` training images (default 5000) and ``V`` validation images (default N/5). Small
    receptive fields suffice to classify them.

Which split is which:

- Without ``val_split`` (the default): ``Data.val`` is the source's own held-out split
  (Fashion-MNIST's ``t10k`` files, CIFAR-10's ``test_batch``, the image folder's ``val/``, the
  npz file's ``x_val``/``x_test``, the generated synthetic validation images, or the 10 %
  held out above) and ``Data.test`` is ``None``.
- With ``val_split=f`` (0 < f < 1): ``Data.val`` is a seeded, per-class (stratified) share
  ``f`` of the **training** split, disjoint from the images ``Data.train`` keeps, the same for
  the same seed; the source's own held-out split becomes ``Data.test`` (``None`` where the
  source has none: an npz without ``x_val``/``x_test``, an image folder without ``val/``). Use
  this whenever a choice is made on ``Data.val`` (a search picking its best trial) so that
  ``Data.test`` stays unseen. ``limit`` then caps the training pool *before* the hold-out (so
  train + val = ``limit``) and caps the test split separately (at most ``limit`` too).

Every split becomes a tensor at native size; each batch is scaled to [0, 1], resized to
``input_size`` with ``torch.nn.functional.interpolate`` (bilinear, antialiased when shrinking),
and standardised per channel with the mean and standard deviation of the training split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from delve_advisor._data_readers import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    _read_cifar10,
    _read_fashion_mnist,
    _read_imagefolder,
    _read_npz,
    _resize,
    _stratified_split,
    _subset,
    read_idx,
)
from delve_advisor._data_spec import DATA_SPEC_FORMS, DataSpec, parse_data_spec
from delve_advisor._sizes import image_size
from delve_advisor._synthetic import SYNTHETIC_CLASSES, _read_synthetic, synthetic_objects
from delve_advisor.exceptions import InvalidArgumentError

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_SPEC_FORMS",
    "FASHION_MNIST_CLASSES",
    "SYNTHETIC_CLASSES",
    "Data",
    "DataSpec",
    "load_data",
    "parse_data_spec",
    "read_idx",
    "synthetic_objects",
]

logger = logging.getLogger(__name__)


class _TensorImages(Dataset):
    """Images (N, C, H, W) held in memory at native size, with integer labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.y = torch.from_numpy(np.ascontiguousarray(y))

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


class _BatchTransform:
    """Collates samples and scales, resizes and standardises the batch."""

    def __init__(self, size: tuple[int, int], mean: torch.Tensor, std: torch.Tensor) -> None:
        self.size = size
        self.mean = mean.view(1, -1, 1, 1)
        self.std = std.view(1, -1, 1, 1)

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        x = torch.stack([sample[0] for sample in batch])
        y = torch.stack([sample[1] for sample in batch])
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if tuple(x.shape[-2:]) != self.size:
            x = _resize(x, self.size)
        return (x - self.mean) / self.std, y


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of (N, C, H, W) images scaled to [0, 1]."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    count = 0
    for chunk in x.split(4096):
        values = chunk.to(torch.float64) / scale
        total += values.sum(dim=(0, 2, 3))
        squares += (values * values).sum(dim=(0, 2, 3))
        count += values.numel() // values.shape[1]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return mean.float(), std.float()


@dataclass
class Data:
    """Training, validation and (optionally) test loaders with what a model needs to know.

    Attributes:
        train: Loader of the training split, shuffled (seeded), batches ``(x, y)`` with ``x``
            standardised float32 (B, C, H, W) at ``input_size`` and ``y`` int64 (B,).
        val: Loader of the validation split, not shuffled: what to evaluate and choose on.
        test: Loader of the source's own held-out split when ``val`` was held out of the
            training split (``load_data(val_split=...)``), not shuffled; ``None`` otherwise.
        in_channels: Channels of ``x``.
        num_classes: Number of classes.
        native_size: (H, W) of the stored images before resizing.
        input_size: (H, W) of the batches.
        name: The spec the data came from.
        classes: Class names, index = label.
        mean: Per-channel mean used for standardisation (of ``train``'s images only, in [0, 1]
            units).
        std: Per-channel standard deviation used for standardisation.

    Example:
        >>> data = load_data("synthetic:n=32,size=16,val=8", batch_size=8)
        >>> data.in_channels, data.num_classes, data.input_size
        (3, 10, (16, 16))
        >>> x, y = next(iter(data.train))
        >>> tuple(x.shape), y.dtype
        ((8, 3, 16, 16), torch.int64)
    """

    train: DataLoader
    val: DataLoader
    in_channels: int
    num_classes: int
    native_size: tuple[int, int]
    input_size: tuple[int, int]
    name: str
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test: DataLoader | None = None


def load_data(
    spec: str,
    *,
    input_size: int | tuple[int, int] | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
    val_split: float | None = None,
) -> Data:
    """Reads the data a spec names and wraps its splits in data loaders.

    Args:
        spec: One of the forms in :data:`DATA_SPEC_FORMS` (see the module docstring).
        input_size: Size of the batches, ``N`` for N x N or ``(H, W)``; ``None`` keeps the native
            size.
        batch_size: Samples per batch.
        limit: At most this many samples per split, a seeded random subset; ``None`` for all.
            With ``val_split`` it caps the training pool before the validation split is held
            out of it (train + val <= ``limit``), and the test split separately.
        seed: Seed of the subsets, the held-out split, the synthetic data and the shuffling.
        num_workers: ``DataLoader`` worker processes.
        val_split: Share (0 < f < 1) of the training split held out, per class and seeded, as
            the validation split; the source's own held-out split then becomes ``Data.test``
            (see the module docstring). ``None`` keeps the source's split as ``Data.val``.

    Returns:
        The :class:`Data`.

    Raises:
        SpecError: The spec is malformed, or a file it names is missing or malformed (the
            message names the path or array).
        InvalidArgumentError: Another argument is out of range (the message names it).

    Example:
        >>> data = load_data("synthetic:n=100,val=20", input_size=28, batch_size=10)
        >>> x, y = next(iter(data.train))
        >>> tuple(x.shape), data.num_classes, data.native_size
        ((10, 3, 28, 28), 10, (32, 32))
        >>> data.test is None  # val is the source's own validation split
        True
        >>> held = load_data("synthetic:n=100,val=20", val_split=0.2, batch_size=10)
        >>> len(held.train.dataset), len(held.val.dataset), len(held.test.dataset)
        (80, 20, 20)
    """
    size = None if input_size is None else image_size(input_size)
    for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{name} must be an int >= {low}, got {value!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive int or None, got {limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentError(f"seed must be an int, got {seed!r}")
    if val_split is not None and (
        isinstance(val_split, bool)
        or not isinstance(val_split, (int, float))
        or not 0 < val_split < 1
    ):
        raise InvalidArgumentError(
            "load_data: val_split must be a float with 0 < val_split < 1 (the share of the "
            f"training split held out for validation) or None, got {val_split!r}"
        )
    parsed = parse_data_spec(spec)
    test = None

    if parsed.kind == "imagefolder":
        train, val, test, mode, native, classes, sample = _read_imagefolder(
            parsed, seed, limit, size, val_split
        )
        in_channels = 1 if mode == "L" else 3
        mean, std = _channel_stats(sample)
        target = size or native
        transform = _BatchTransform(target, mean, std)
    else:
        if parsed.kind == "fashion-mnist":
            arrays = _read_fashion_mnist(parsed)
        elif parsed.kind == "cifar10":
            arrays = _read_cifar10(parsed)
        elif parsed.kind == "npz":
            arrays = _read_npz(parsed, seed, hold_out=val_split is None)
        else:
            arrays = _read_synthetic(parsed, seed)
        train_x, train_y, val_x, val_y, classes = arrays
        if val_split is None:
            train_keep = _subset(len(train_x), limit, seed)
            val_keep = _subset(len(val_x), limit, seed + 1)
            train = _TensorImages(train_x[train_keep], train_y[train_keep])
            val = _TensorImages(val_x[val_keep], val_y[val_keep])
        else:
            pool = _subset(len(train_x), limit, seed)
            keep, held = _stratified_split(train_y[pool], val_split, seed + 2)
            train = _TensorImages(train_x[pool[keep]], train_y[pool[keep]])
            val = _TensorImages(train_x[pool[held]], train_y[pool[held]])
            if val_x is not None:
                test_keep = _subset(len(val_x), limit, seed + 1)
                test = _TensorImages(val_x[test_keep], val_y[test_keep])
        in_channels = int(train_x.shape[1])
        native = (int(train_x.shape[2]), int(train_x.shape[3]))
        target = size or native
        mean, std = _channel_stats(train.x)
        transform = _BatchTransform(target, mean, std)
    generator = torch.Generator().manual_seed(seed)
    common = {"batch_size": batch_size, "num_workers": num_workers, "collate_fn": transform}
    logger.info(
        "data %s: %d train / %d val / %s test samples, %d channels, %s → %s",
        spec,
        len(train),
        len(val),
        "no" if test is None else len(test),
        in_channels,
        native,
        target,
    )
    return Data(
        train=DataLoader(train, shuffle=True, generator=generator, **common),
        val=DataLoader(val, shuffle=False, **common),
        in_channels=in_channels,
        num_classes=len(classes),
        native_size=native,
        input_size=target,
        name=spec,
        classes=tuple(classes),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        test=None if test is None else DataLoader(test, shuffle=False, **common),
    )
