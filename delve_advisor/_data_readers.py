"""Readers of the stored data sets named by data specs (see :mod:`delve_advisor.data`).

Each reader returns ``(train_x, train_y, val_x, val_y, classes)`` with images as uint8 or
float32 arrays of shape (N, C, H, W) and int64 labels (``val_*`` is the source's own
validation or test split); the image folder reader returns datasets. ``_stratified_split`` holds
a validation split out of the training split (``load_data(val_split=...)``).
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from delve_advisor._data_spec import DataSpec, _spec_error
from delve_advisor.exceptions import InvalidArgumentError, SpecError

logger = logging.getLogger(__name__)

_HOLD_OUT = 0.1

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (the MNIST format), gzipped or not.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32; the data follow in big-endian C order. Gzip is recognised by its magic bytes.

    Args:
        path: The file.

    Returns:
        The array, in native byte order.

    Raises:
        SpecError: The file is missing, truncated or not an IDX file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpecError(f"cannot read IDX file {str(path)!r}: {error}") from error
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise SpecError(f"IDX file {str(path)!r} is not a valid gzip file: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise SpecError(
            f"{str(path)!r} is not an IDX file (its header is {raw[:4].hex() or 'empty'}, "
            "expected 00 00 <type> <ndim>)"
        )
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SpecError(f"IDX file {str(path)!r} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise SpecError(
            f"IDX file {str(path)!r} holds {len(raw) - header} data bytes, its header "
            f"{shape} of {dtype} needs {count * dtype.itemsize}"
        )
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def _find_file(folders: Sequence[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _read_fashion_mnist(spec: DataSpec) -> tuple[Any, ...]:
    root = spec.path
    assert root is not None  # set by parse_data_spec for this kind
    if not root.is_dir():
        raise _spec_error(spec.text, f"directory {str(root)!r} does not exist")
    folders = [root, root / "raw", root / "FashionMNIST" / "raw"]
    stems = {
        "train_x": "train-images-idx3-ubyte",
        "train_y": "train-labels-idx1-ubyte",
        "val_x": "t10k-images-idx3-ubyte",
        "val_y": "t10k-labels-idx1-ubyte",
    }
    arrays = {}
    for key, stem in stems.items():
        found = _find_file(folders, stem)
        if found is None:
            tried = ", ".join(str(f / (stem + "[.gz]")) for f in folders)
            raise _spec_error(
                spec.text, f"Fashion-MNIST file {stem}[.gz] not found; looked for {tried}"
            )
        arrays[key] = read_idx(found)
    for split in ("train", "val"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise _spec_error(
                spec.text,
                f"Fashion-MNIST {split} images {x.shape} and labels {y.shape} do not match "
                "(expected (N, 28, 28) and (N,))",
            )
    return (
        arrays["train_x"][:, None],
        arrays["train_y"].astype(np.int64),
        arrays["val_x"][:, None],
        arrays["val_y"].astype(np.int64),
        FASHION_MNIST_CLASSES,
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, refusing every other class."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _read_cifar_batch(spec: DataSpec, path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError) as error:
        raise _spec_error(
            spec.text, f"cannot read CIFAR-10 batch {str(path)!r}: {error}"
        ) from error
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise _spec_error(spec.text, f"CIFAR-10 batch {str(path)!r} has no 'data' and 'labels'")
    return batch


def _read_cifar10(spec: DataSpec) -> tuple[Any, ...]:
    root = spec.path
    assert root is not None  # set by parse_data_spec for this kind
    if not root.is_dir():
        raise _spec_error(spec.text, f"directory {str(root)!r} does not exist")
    folder = next(
        (f for f in (root, root / "cifar-10-batches-py") if (f / "data_batch_1").is_file()), None
    )
    if folder is None:
        raise _spec_error(
            spec.text,
            f"no CIFAR-10 batches: expected {str(root / 'cifar-10-batches-py' / 'data_batch_1')!r} "
            f"or {str(root / 'data_batch_1')!r}",
        )
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [str(folder / n) for n in names if not (folder / n).is_file()]
    if missing:
        raise _spec_error(spec.text, f"CIFAR-10 files missing: {', '.join(missing)}")
    splits = []
    for group in (names[:5], names[5:]):
        xs, ys = [], []
        for name in group:
            batch = _read_cifar_batch(spec, folder / name)
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise _spec_error(
                    spec.text,
                    f"CIFAR-10 batch {name} has data of shape {data.shape}, not (N, 3072)",
                )
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch["labels"], dtype=np.int64))
        splits += [np.concatenate(xs), np.concatenate(ys)]
    classes: tuple[str, ...] = CIFAR10_CLASSES
    if (folder / "batches.meta").is_file():
        try:
            meta = _read_cifar_batch_meta(folder / "batches.meta")
            classes = tuple(meta)
        except (pickle.UnpicklingError, EOFError, OSError, ValueError, KeyError):
            logger.info("could not read %s; using the standard CIFAR-10 class names", folder)
    return (*splits, classes)


def _read_cifar_batch_meta(path: Path) -> list[str]:
    with path.open("rb") as handle:
        meta = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    return [str(n) for n in meta["label_names"]]


def _hold_out(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * _HOLD_OUT))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[train], y[train], x[val], y[val]


def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Indices ``(keep, held)`` of a seeded hold-out of ``fraction`` of ``labels``, per class.

    ``round(n * fraction)`` samples (at least 1, at most ``n - 1``) are held out; each class gives
    its share of them (largest remainders first, so the total is exact), chosen at random within
    the class. The same labels, fraction and seed give the same split; the two parts are disjoint
    and cover every index. Both are sorted.

    Raises:
        InvalidArgumentError: Fewer than 2 samples, so nothing can be held out.
    """
    n = len(labels)
    if n < 2:
        raise InvalidArgumentError(
            f"load_data: val_split={fraction!r} needs at least 2 training samples to hold one "
            f"out, got {n}; raise limit or use more data"
        )
    n_held = min(n - 1, max(1, round(n * fraction)))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * (n_held / n)
    shares = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - shares), kind="stable")
    shares[order[: n_held - int(shares.sum())]] += 1
    held = []
    for label, share in zip(classes, shares, strict=True):
        members = np.flatnonzero(labels == label)
        held.append(rng.permutation(members)[:share])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    keep[held_idx] = False
    return np.flatnonzero(keep), held_idx


def _check_npz_pair(spec: DataSpec, data: Any, x_key: str, y_key: str) -> tuple[np.ndarray, ...]:
    x, y = data[x_key], data[y_key]
    if x.ndim not in (3, 4):
        raise _spec_error(
            spec.text,
            f"npz array {x_key!r} has shape {x.shape}; expected (N, H, W) or (N, H, W, C)",
        )
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise _spec_error(
            spec.text, f"npz array {x_key!r} has dtype {x.dtype}; expected uint8 or float"
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise _spec_error(spec.text, f"npz array {x_key!r} holds NaN or infinite values")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise _spec_error(
            spec.text,
            f"npz array {y_key!r} has shape {y.shape} and dtype {y.dtype}; expected integer labels "
            "of shape (N,)",
        )
    if len(y) != len(x):
        raise _spec_error(
            spec.text,
            f"npz arrays {x_key!r} ({len(x)} samples) and {y_key!r} ({len(y)}) differ in N",
        )
    if len(x) == 0:
        raise _spec_error(spec.text, f"npz array {x_key!r} is empty")
    if y.min() < 0:
        raise _spec_error(spec.text, f"npz array {y_key!r} holds negative labels ({y.min()})")
    x = x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
    return np.ascontiguousarray(x), y.astype(np.int64)


def _read_npz(spec: DataSpec, seed: int, hold_out: bool = True) -> tuple[Any, ...]:
    """The arrays of an ``.npz`` file, as every reader returns them.

    Without ``x_val``/``y_val`` (or ``x_test``/``y_test``) 10 % of ``x`` are held out for
    validation; with ``hold_out`` False the validation arrays are ``None`` instead.
    """
    path = spec.path
    assert path is not None  # set by parse_data_spec for this kind
    if not path.is_file():
        raise _spec_error(spec.text, f"file {str(path)!r} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise _spec_error(spec.text, f"cannot read {str(path)!r} as .npz: {error}") from error
    if not hasattr(data, "files"):
        raise _spec_error(spec.text, f"{str(path)!r} is a single .npy array, not an .npz archive")
    with data:
        for key in ("x", "y"):
            if key not in data.files:
                raise _spec_error(
                    spec.text, f"npz file has no array {key!r} (it has {', '.join(data.files)})"
                )
        train_x, train_y = _check_npz_pair(spec, data, "x", "y")
        pair = next(
            (p for p in (("x_val", "y_val"), ("x_test", "y_test")) if set(p) <= set(data.files)),
            None,
        )
        if pair is not None:
            val_x, val_y = _check_npz_pair(spec, data, *pair)
            if val_x.shape[1:] != train_x.shape[1:] or val_x.dtype != train_x.dtype:
                raise _spec_error(
                    spec.text,
                    f"npz array {pair[0]!r} has samples of {val_x.shape[1:]} {val_x.dtype}, "
                    f"'x' has {train_x.shape[1:]} {train_x.dtype}",
                )
        elif not hold_out:
            val_x = val_y = None
        else:
            if len(train_x) < 2:
                raise _spec_error(spec.text, "npz array 'x' needs 2 samples to hold one out")
            train_x, train_y, val_x, val_y = _hold_out(train_x, train_y, seed)
    top = train_y.max() if val_y is None else max(train_y.max(), val_y.max())
    num_classes = int(top) + 1
    return train_x, train_y, val_x, val_y, tuple(str(i) for i in range(num_classes))


def _subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


class _FolderImages(Dataset):
    """``ImageFolder`` samples decoded to tensors of a fixed size (resized per image)."""

    def __init__(self, folder: Any, indices: np.ndarray, mode: str, size: tuple[int, int]) -> None:
        self.folder = folder
        self.indices = indices
        self.mode = mode
        self.size = size

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.folder.samples[int(self.indices[index])]
        from torchvision.transforms.functional import pil_to_tensor  # ~2 s to import, once

        with Image.open(path) as image:
            x = pil_to_tensor(image.convert(self.mode))
        if tuple(x.shape[-2:]) != self.size:
            x = _resize(x[None].float(), self.size)[0].round().clamp(0, 255).to(torch.uint8)
        return x, torch.tensor(label, dtype=torch.int64)


def _read_imagefolder(
    spec: DataSpec,
    seed: int,
    limit: int | None,
    size: tuple[int, int] | None,
    val_split: float | None = None,
) -> tuple[Any, ...]:
    """Train, val and test ``_FolderImages`` (test None), mode, native size, classes, stats.

    Without ``val_split``: the ``val/`` folder (or 10 % held out) is val, test is None. With it:
    ``val_split`` of the (limited) training images, per class, is val, and the ``val/`` folder
    (when there is one) is test.
    """
    root = spec.path
    assert root is not None  # set by parse_data_spec for this kind
    if not root.is_dir():
        raise _spec_error(spec.text, f"directory {str(root)!r} does not exist")
    val_name = next((n for n in ("val", "valid", "test") if (root / n).is_dir()), None)

    def folder(path: Path) -> Any:
        try:
            from torchvision.datasets import ImageFolder  # imported only for image folders

            return ImageFolder(str(path))
        except (FileNotFoundError, RuntimeError) as error:
            raise _spec_error(
                spec.text, f"no images in class folders under {str(path)!r}: {error}"
            ) from error

    base = root / "train" if (root / "train").is_dir() else root
    test_folder = test_idx = None
    if base != root and val_name is not None:
        train_folder, val_folder = folder(base), folder(root / val_name)
        if val_folder.classes != train_folder.classes:
            raise _spec_error(
                spec.text,
                f"class folders of {str(root / val_name)!r} ({', '.join(val_folder.classes)}) "
                f"differ from those of {str(base)!r} ({', '.join(train_folder.classes)})",
            )
        train_idx, val_idx = np.arange(len(train_folder)), np.arange(len(val_folder))
        if val_split is not None:
            test_folder, test_idx = val_folder, val_idx[_subset(len(val_idx), limit, seed + 1)]
    else:
        train_folder = val_folder = folder(base)
        if len(train_folder) < 2:
            raise _spec_error(spec.text, f"{str(base)!r} holds one image; need 2 to hold one out")
        if val_split is None:
            order = np.random.default_rng(seed).permutation(len(train_folder))
            n_val = max(1, round(len(order) * _HOLD_OUT))
            train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
        else:
            train_idx = np.arange(len(train_folder))
    if val_split is None:
        train_idx = train_idx[_subset(len(train_idx), limit, seed)]
        val_idx = val_idx[_subset(len(val_idx), limit, seed + 1)]
    else:
        pool = train_idx[_subset(len(train_idx), limit, seed)]
        targets = np.asarray(train_folder.targets)[pool]
        keep, held = _stratified_split(targets, val_split, seed + 2)
        train_idx, val_idx, val_folder = pool[keep], pool[held], train_folder
    with Image.open(train_folder.samples[int(train_idx[0])][0]) as first:
        mode = "L" if len(first.getbands()) == 1 else "RGB"
        native = (first.height, first.width)
    target = size or native
    train = _FolderImages(train_folder, train_idx, mode, target)
    val = _FolderImages(val_folder, val_idx, mode, target)
    test = None if test_folder is None else _FolderImages(test_folder, test_idx, mode, target)
    sample = _subset(len(train), 256, seed)
    stats = torch.stack([train[int(i)][0] for i in sample])
    return train, val, test, mode, native, tuple(train_folder.classes), stats
