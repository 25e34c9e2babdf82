"""Tests of delve_advisor.data: spec parsing, the readers, the synthetic set and the loaders."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from delve_advisor import Data, load_data
from delve_advisor.data import (
    DATA_SPEC_FORMS,
    SYNTHETIC_CLASSES,
    parse_data_spec,
    read_idx,
    synthetic_objects,
)
from delve_advisor.exceptions import InvalidArgumentError, SpecError

FORMS = "valid data specs:"
# ../shared beside the repository (CI lays a copy there too)
FASHION_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "FashionMNIST" / "raw"
needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST IDX files not present",
)


def write_idx(path: Path, array: np.ndarray, code: int, compress: bool = False) -> Path:
    """An IDX file written from the format description (independent of read_idx)."""
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


# -- spec parsing ---------------------------------------------------------------------------


def test_parse_valid_forms(tmp_path):
    assert parse_data_spec(f"fashion-mnist:{tmp_path}").path == tmp_path
    assert parse_data_spec("NPZ:data.npz").kind == "npz"
    assert parse_data_spec("synthetic").options == {}
    assert parse_data_spec("synthetic:300").options == {"n": 300}
    assert parse_data_spec("synthetic:n=300, size=24,val=50").options == {
        "n": 300,
        "size": 24,
        "val": 50,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "it is empty"),
        (
            "fashion_mnist:/data",
            r"unknown data kind 'fashion_mnist' .*did you mean 'fashion-mnist'",
        ),
        ("imagenet:/data", "unknown data kind 'imagenet' before ':'"),
        ("cifar10", "a directory is missing after 'cifar10:'"),
        ("imagefolder: ", "a directory is missing after 'imagefolder:'"),
        ("npz:", "a file is missing after 'npz:'"),
        ("synthetic:abc", "synthetic option 'n' must be a positive integer, got 'abc'"),
        ("synthetic:n=0", "synthetic option 'n' must be positive, got 0"),
        ("synthetic:colour=3", "unknown synthetic option 'colour'; valid options: n, size, val"),
        ("synthetic:n=5,size", "synthetic option 'size' is not key=value"),
    ],
)
def test_malformed_specs_name_the_part_and_list_forms(spec, message):
    with pytest.raises(SpecError, match=message) as info:
        load_data(spec)
    assert str(info.value).endswith(DATA_SPEC_FORMS)
    for form in ("fashion-mnist:DIR", "cifar10:DIR", "imagefolder:DIR", "npz:FILE", "synthetic"):
        assert form in str(info.value)


def test_synthetic_size_too_small():
    with pytest.raises(SpecError, match="synthetic option 'size' must be at least 7, got 5"):
        load_data("synthetic:n=10,size=5")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"num_workers": -1}, "num_workers must be an int >= 0, got -1"),
        ({"limit": 0}, "limit must be a positive int or None, got 0"),
        ({"input_size": (0, 4)}, r"input_size must be positive, got \(0, 4\)"),
        ({"input_size": "28"}, "input_size must be an int or"),
        ({"seed": 1.5}, "seed must be an int, got 1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        load_data("synthetic:20", **kwargs)


# -- IDX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "images", images, 0x08, compress)
    out = read_idx(path)
    assert out.dtype == np.uint8 and np.array_equal(out, images)
    wide = np.array([1, -2, 70000, -(2**31)], dtype=np.int32)
    assert np.array_equal(read_idx(write_idx(tmp_path / "i4", wide, 0x0C, compress)), wide)
    floats = np.array([[0.5, -1.25]], dtype=np.float32)
    assert np.array_equal(read_idx(write_idx(tmp_path / "f4", floats, 0x0D, compress)), floats)


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x01\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(SpecError, match=r"'.*bad' is not an IDX file \(its header is 00010801"):
        read_idx(tmp_path / "bad")
    path = write_idx(tmp_path / "short", np.zeros((3, 2), np.uint8), 0x08)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(
        SpecError, match=r"holds 5 data bytes, its header \(3, 2\) of uint8 needs 6"
    ):
        read_idx(path)
    with pytest.raises(SpecError, match="cannot read IDX file"):
        read_idx(tmp_path / "missing")


@needs_fashion_mnist
def test_fashion_mnist_idx_facts():
    """Published facts: 60,000 / 10,000 grey 28x28 images, 10 balanced classes."""
    for prefix, n in (("train", 60000), ("t10k", 10000)):
        images = read_idx(FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz")
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,)
        assert np.array_equal(np.bincount(labels), np.full(10, n // 10))


@needs_fashion_mnist
@pytest.mark.parametrize(
    "folder", [FASHION_MNIST, FASHION_MNIST.parent, FASHION_MNIST.parent.parent]
)
def test_fashion_mnist_layouts(folder):
    data = load_data(f"fashion-mnist:{folder}", limit=50, batch_size=25)
    assert (data.in_channels, data.num_classes, data.native_size) == (1, 10, (28, 28))
    assert len(data.train.dataset) == 50 and len(data.val.dataset) == 50
    assert data.classes[9] == "Ankle boot"
    x, y = next(iter(data.train))
    assert x.shape == (25, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64


@needs_fashion_mnist
def test_fashion_mnist_channel_statistics_match_published_values():
    """The training set's pixel mean 0.2860 and std 0.3530 (in [0, 1]) are widely published."""
    data = load_data(f"fashion-mnist:{FASHION_MNIST}")
    assert data.mean[0] == pytest.approx(0.2860, abs=2e-4)
    assert data.std[0] == pytest.approx(0.3530, abs=2e-4)
    assert len(data.train.dataset) == 60000 and len(data.val.dataset) == 10000


def test_fashion_mnist_small_handmade_files(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", train, 0x08)  # not gzipped
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(12, dtype=np.uint8) % 10, 0x08, True)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", train[:4], 0x08, True)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8), 0x08, True)
    data = load_data(f"fashion-mnist:{tmp_path}", batch_size=12)
    x = data.val.dataset.x
    assert torch.equal(x, torch.from_numpy(train[:4, None]))
    expected = (train[:, None] / 255.0 - data.mean[0]) / data.std[0]
    batch = torch.cat([b for b, _ in data.val])
    assert torch.allclose(batch, torch.from_numpy(expected[:4]).float(), atol=1e-5)
    assert data.mean[0] == pytest.approx((train / 255.0).mean(), rel=1e-6)


def test_fashion_mnist_missing_file_names_paths(tmp_path):
    with pytest.raises(SpecError, match=r"directory '.*nowhere' does not exist"):
        load_data(f"fashion-mnist:{tmp_path / 'nowhere'}")
    with pytest.raises(
        SpecError,
        match=r"train-images-idx3-ubyte\[\.gz\] not found; looked for .*/raw/train-images",
    ):
        load_data(f"fashion-mnist:{tmp_path}")


# -- CIFAR-10 -------------------------------------------------------------------------------


def make_cifar(root: Path, per_batch: int = 3) -> np.ndarray:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    first = None
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        first = data if first is None else first
        labels = [(i + j) % 10 for j in range(per_batch)]
        with (folder / name).open("wb") as handle:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, handle)
    with (folder / "batches.meta").open("wb") as handle:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, handle)
    return first


def test_cifar10_layout_and_pixel_order(tmp_path):
    first = make_cifar(tmp_path)
    data = load_data(f"cifar10:{tmp_path}", batch_size=4)
    assert (data.in_channels, data.num_classes, data.native_size) == (3, 10, (32, 32))
    assert len(data.train.dataset) == 15 and len(data.val.dataset) == 3
    assert data.classes[3] == "c3"
    image = data.train.dataset.x[0]
    # a row holds the red plane (1024 values, row-major), then green, then blue
    assert image[0, 0, 1] == first[0, 1]
    assert image[1, 2, 0] == first[0, 1024 + 64]
    assert image[2, 31, 31] == first[0, 3071]
    # the folder itself works too
    assert len(load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}").val.dataset) == 3


class _Evil:
    def __reduce__(self):
        return (print, ("should never run",))


def test_cifar10_refuses_arbitrary_pickles(tmp_path):
    make_cifar(tmp_path)
    with (tmp_path / "cifar-10-batches-py" / "data_batch_2").open("wb") as handle:
        pickle.dump({"data": _Evil(), "labels": []}, handle)
    with pytest.raises(SpecError, match=r"data_batch_2'.*refusing to load builtins\.print"):
        load_data(f"cifar10:{tmp_path}")


def test_cifar10_missing_files(tmp_path):
    with pytest.raises(SpecError, match=r"no CIFAR-10 batches: expected '.*cifar-10-batches-py"):
        load_data(f"cifar10:{tmp_path}")
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(SpecError, match=r"CIFAR-10 files missing: .*test_batch"):
        load_data(f"cifar10:{tmp_path}")


# -- npz ------------------------------------------------------------------------------------


def test_npz_grey_uint8_with_hold_out(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(20, 6, 5), dtype=np.uint8)
    y = np.arange(20) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_data(f"npz:{tmp_path / 'd.npz'}", batch_size=32)
    assert (data.in_channels, data.num_classes, data.native_size) == (1, 4, (6, 5))
    assert len(data.train.dataset) == 18 and len(data.val.dataset) == 2
    train_rows = {row.tobytes() for row in data.train.dataset.x.numpy()}
    val_rows = {row.tobytes() for row in data.val.dataset.x.numpy()}
    assert not train_rows & val_rows
    assert train_rows | val_rows == {row[None].tobytes() for row in x}


def test_npz_channels_last_float_with_validation_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((8, 4, 4, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(8), x_val=x[:2], y_val=np.array([0, 9], np.int16))
    data = load_data(f"npz:{tmp_path / 'd.npz'}", input_size=8)
    assert (data.in_channels, data.num_classes, data.input_size) == (3, 10, (8, 8))
    assert len(data.val.dataset) == 2
    assert torch.equal(data.train.dataset.x[1, 2], torch.from_numpy(x[1, :, :, 2]))
    x_batch, _ = next(iter(data.val))
    assert x_batch.shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 5), np.uint8), "y": np.zeros(4, int)}, r"array 'x' has shape \(4, 5\)"),
        ({"x": np.zeros((4, 2, 2), np.int32), "y": np.zeros(4, int)}, "array 'x' has dtype int32"),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": np.zeros(4)}, "array 'y' has shape .* float64"),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": np.zeros(3, int)}, r"'x' \(4 samples\) and 'y'"),
        ({"x": np.zeros((4, 2, 2), np.uint8)}, r"no array 'y' \(it has x\)"),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": -np.ones(4, int)}, "'y' holds negative labels"),
        ({"x": np.full((4, 2, 2), np.nan), "y": np.zeros(4, int)}, "'x' holds NaN or infinite"),
        (
            {
                "x": np.zeros((4, 2, 2), np.uint8),
                "y": np.zeros(4, int),
                "x_val": np.zeros((2, 3, 3), np.uint8),
                "y_val": np.zeros(2, int),
            },
            r"array 'x_val' has samples of \(1, 3, 3\)",
        ),
    ],
)
def test_npz_errors_name_the_array(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(SpecError, match=message):
        load_data(f"npz:{tmp_path / 'd.npz'}")


def test_npz_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"file '.*absent\.npz' does not exist"):
        load_data(f"npz:{tmp_path / 'absent.npz'}")


# -- image folders --------------------------------------------------------------------------


def make_folder(root: Path, mode: str, sizes: list[tuple[int, int]], classes=("a", "b")) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            shape = (h, w) if mode == "L" else (h, w, 3)
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(root / name / f"{i}.png")


def test_imagefolder_rgb_with_hold_out_and_mixed_sizes(tmp_path):
    make_folder(tmp_path, "RGB", [(10, 12)] + [(14, 9)] * 9)
    data = load_data(f"imagefolder:{tmp_path}", input_size=8, batch_size=4)
    assert (data.in_channels, data.num_classes, data.classes) == (3, 2, ("a", "b"))
    assert len(data.train.dataset) + len(data.val.dataset) == 20
    assert len(data.val.dataset) == 2
    x, y = next(iter(data.train))
    assert x.shape == (4, 3, 8, 8) and set(y.tolist()) <= {0, 1}


def test_imagefolder_grey_with_train_and_val(tmp_path):
    make_folder(tmp_path / "train", "L", [(6, 6)] * 3)
    make_folder(tmp_path / "val", "L", [(6, 6)] * 2)
    data = load_data(f"imagefolder:{tmp_path}")
    assert (data.in_channels, data.native_size, data.input_size) == (1, (6, 6), (6, 6))
    assert len(data.train.dataset) == 6 and len(data.val.dataset) == 4
    x, _ = next(iter(data.val))
    assert x.shape == (4, 1, 6, 6)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(SpecError, match=r"no images in class folders under '.*'"):
        load_data(f"imagefolder:{tmp_path}")
    make_folder(tmp_path / "train", "L", [(4, 4)], classes=("a", "b"))
    make_folder(tmp_path / "val", "L", [(4, 4)], classes=("a", "c"))
    with pytest.raises(SpecError, match=r"class folders of '.*val' \(a, c\) differ"):
        load_data(f"imagefolder:{tmp_path}")


# -- synthetic ------------------------------------------------------------------------------


def test_synthetic_is_deterministic_and_balanced():
    x1, y1 = synthetic_objects(300, seed=3)
    x2, y2 = synthetic_objects(300, seed=3)
    x3, _ = synthetic_objects(300, seed=4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert x1.shape == (300, 3, 32, 32) and x1.dtype == np.uint8
    assert np.array_equal(np.bincount(y1), np.full(10, 30))


def test_synthetic_images_hold_their_class_shape():
    """The bright pixels (>= 0.6 in every channel) of each image are its class's template."""
    from delve_advisor._synthetic import _templates

    templates = _templates()
    assert len(templates) == len(SYNTHETIC_CLASSES) == 10
    assert len({t.tobytes() for t in templates}) == 10  # all shapes differ
    x, y = synthetic_objects(200, size=20, seed=5)
    bright = (x >= 153).all(axis=1)
    for image, label in zip(bright, y, strict=True):
        rows, cols = np.nonzero(image)
        top, left = rows.min(), cols.min()
        window = image[top : top + 7, left : left + 7]
        padded = np.zeros((7, 7), bool)
        padded[: window.shape[0], : window.shape[1]] = window
        assert image.sum() == templates[label].sum()
        # the template may start with an empty row/column; align on its own first pixel
        t_rows, t_cols = np.nonzero(templates[label])
        shifted = np.zeros((7, 7), bool)
        shifted[t_rows - t_rows.min(), t_cols - t_cols.min()] = True
        assert np.array_equal(padded, shifted), label


def test_synthetic_load_data_sizes_and_standardisation():
    data = load_data("synthetic:n=200,val=40,size=24", batch_size=50, seed=1)
    assert isinstance(data, Data)
    assert (data.in_channels, data.num_classes, data.native_size) == (3, 10, (24, 24))
    assert len(data.train.dataset) == 200 and len(data.val.dataset) == 40
    assert data.classes == SYNTHETIC_CLASSES
    everything = torch.cat([x for x, _ in data.train])
    assert everything.shape == (200, 3, 24, 24)
    mean = everything.mean(dim=(0, 2, 3))
    std = everything.transpose(0, 1).reshape(3, -1).std(dim=1, unbiased=False)
    assert torch.allclose(mean, torch.zeros(3), atol=1e-5)
    assert torch.allclose(std, torch.ones(3), atol=1e-5)


def test_resize_limit_and_seeded_order():
    data = load_data("synthetic:n=100,val=30", input_size=(20, 12), limit=25, batch_size=5)
    assert len(data.train.dataset) == 25 and len(data.val.dataset) == 25
    assert data.native_size == (32, 32) and data.input_size == (20, 12)
    x, _ = next(iter(data.train))
    assert x.shape == (5, 3, 20, 12)
    again = load_data("synthetic:n=100,val=30", input_size=(20, 12), limit=25, batch_size=5)
    assert torch.equal(next(iter(again.train))[0], x)
    other = load_data("synthetic:n=100,val=30", input_size=(20, 12), limit=25, seed=1)
    assert not torch.equal(next(iter(other.train))[0][:5], x)
    up = load_data("synthetic:n=20,size=16", input_size=32)
    assert next(iter(up.val))[0].shape[-2:] == (32, 32)


def test_batch_transform_survives_pickling_for_workers():
    data = load_data("synthetic:n=20")
    transform = pickle.loads(pickle.dumps(data.train.collate_fn))
    batch = [data.train.dataset[i] for i in range(4)]
    assert torch.equal(transform(batch)[0], data.train.collate_fn(batch)[0])


def test_imagefolder_train_without_val_holds_out_from_train(tmp_path):
    make_folder(tmp_path / "train", "L", [(5, 5)] * 10, classes=("x", "y", "z"))
    data = load_data(f"imagefolder:{tmp_path}")
    assert data.classes == ("x", "y", "z")
    assert (len(data.train.dataset), len(data.val.dataset)) == (27, 3)


# -- a validation split held out of the training split (val_split) -------------------------


def _tagged_fashion_mnist(
    root: Path, n_train: int = 200, n_test: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Tiny IDX files whose training image ``i`` carries ``i`` in pixels (0, 0) and (0, 1)."""
    rng = np.random.default_rng(1)
    raw = root / "raw"
    raw.mkdir(parents=True)
    train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    train[:, 0, 0], train[:, 0, 1] = np.arange(n_train) % 256, np.arange(n_train) // 256
    test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte.gz", train, 0x08, True)
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(n_train, dtype=np.uint8) % 10, 0x08)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", test, 0x08, True)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(n_test, dtype=np.uint8) % 10, 0x08)
    return train, test


def _ids(loader) -> list[int]:
    x = loader.dataset.x
    return (x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long()).tolist()


def test_val_split_is_held_out_of_train_and_test_is_the_source_split(tmp_path):
    train, test = _tagged_fashion_mnist(tmp_path)
    data = load_data(f"fashion-mnist:{tmp_path}", val_split=0.1, batch_size=16)
    fit, held = _ids(data.train), _ids(data.val)
    assert len(held) == 20 and len(fit) == 180
    assert not set(fit) & set(held) and sorted(fit + held) == list(range(200))
    assert np.bincount(np.array(held) % 10).tolist() == [2] * 10  # stratified: 2 per class
    # the test split is the t10k files, unshuffled and standardised like the others
    assert data.test is not None and torch.equal(
        data.test.dataset.x, torch.from_numpy(test[:, None])
    )
    x, _ = next(iter(data.test))
    expected = (test[:16, None] / 255.0 - data.mean[0]) / data.std[0]
    assert torch.allclose(x, torch.from_numpy(expected).float(), atol=1e-5)
    # statistics from the training part only: an independent numpy reference
    part = train[np.array(fit)] / 255.0
    assert data.mean[0] == pytest.approx(part.mean(), rel=1e-6)
    assert data.std[0] == pytest.approx(part.std(), rel=1e-5)
    assert data.mean[0] != pytest.approx((train / 255.0).mean(), rel=1e-6)


def test_val_split_is_the_same_for_the_same_seed(tmp_path):
    _tagged_fashion_mnist(tmp_path)
    spec = f"fashion-mnist:{tmp_path}"
    first = _ids(load_data(spec, val_split=0.25, seed=3).val)
    assert first == _ids(load_data(spec, val_split=0.25, seed=3).val)
    assert first != _ids(load_data(spec, val_split=0.25, seed=4).val)
    assert len(first) == 50


def test_without_val_split_val_is_the_source_split_and_test_is_none(tmp_path):
    _tagged_fashion_mnist(tmp_path)
    data = load_data(f"fashion-mnist:{tmp_path}")
    assert data.test is None
    assert len(data.train.dataset) == 200 and len(data.val.dataset) == 50


def test_val_split_limit_caps_the_pool_then_the_test_split(tmp_path):
    _tagged_fashion_mnist(tmp_path)
    spec = f"fashion-mnist:{tmp_path}"
    data = load_data(spec, val_split=0.2, limit=100)
    assert (len(data.train.dataset), len(data.val.dataset), len(data.test.dataset)) == (80, 20, 50)
    assert not set(_ids(data.train)) & set(_ids(data.val))
    data = load_data(spec, val_split=0.2, limit=30)
    assert (len(data.train.dataset), len(data.val.dataset), len(data.test.dataset)) == (24, 6, 30)


def test_val_split_on_npz_without_validation_arrays_has_no_test(tmp_path):
    x = np.arange(40, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_data(f"npz:{tmp_path / 'd.npz'}", val_split=0.25)
    assert data.test is None
    fit = data.train.dataset.x[:, 0, 0, 0].long().tolist()
    held = data.val.dataset.x[:, 0, 0, 0].long().tolist()
    assert len(held) == 10 and sorted(fit + held) == list(range(40))
    np.savez(tmp_path / "v.npz", x=x, y=y, x_val=x[:6] + 100, y_val=y[:6])
    data = load_data(f"npz:{tmp_path / 'v.npz'}", val_split=0.25)
    assert data.test.dataset.x[:, 0, 0, 0].tolist() == [100, 101, 102, 103, 104, 105]
    assert len(data.train.dataset) + len(data.val.dataset) == 40


def test_val_split_on_image_folders(tmp_path):
    make_folder(tmp_path / "split" / "train", "L", [(6, 6)] * 5)
    make_folder(tmp_path / "split" / "val", "L", [(6, 6)] * 2)
    data = load_data(f"imagefolder:{tmp_path / 'split'}", val_split=0.2)
    assert (len(data.train.dataset), len(data.val.dataset), len(data.test.dataset)) == (8, 2, 4)
    assert sorted(data.val.dataset.indices.tolist() + data.train.dataset.indices.tolist()) == list(
        range(10)
    )
    assert data.val.dataset.folder is data.train.dataset.folder  # held out of train/
    make_folder(tmp_path / "flat", "L", [(6, 6)] * 5)
    data = load_data(f"imagefolder:{tmp_path / 'flat'}", val_split=0.4)
    assert data.test is None and (len(data.train.dataset), len(data.val.dataset)) == (6, 4)


def test_stratified_split_keeps_class_shares_and_exact_total():
    from delve_advisor._data_readers import _stratified_split

    labels = np.array([0] * 90 + [1] * 10)
    keep, held = _stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[held]).tolist() == [18, 2]
    assert len(keep) == 80 and not set(keep) & set(held)
    keep, held = _stratified_split(np.array([0, 0, 1]), 0.01, seed=0)
    assert len(held) == 1 and len(keep) == 2  # at least one held out, at least one kept


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, 1.5, -0.1, float("nan"), True, "0.1"])
def test_bad_val_split_raises_naming_it(value):
    with pytest.raises(InvalidArgumentError, match=r"val_split must be .*0 < val_split < 1"):
        load_data("synthetic:n=20,size=8,val=4", val_split=value)


def test_val_split_with_one_training_sample_says_what_to_do():
    with pytest.raises(InvalidArgumentError, match=r"val_split=0\.5 needs at least 2 .*limit"):
        load_data("synthetic:n=20,size=8,val=4", val_split=0.5, limit=1)
