"""Loaders for the bundled and user-supplied data sets."""
from pyengine.datasets.mnist import DatasetError, Digits, load_mnist, load_mnist_5k, read_idx

__all__ = ["DatasetError", "Digits", "load_mnist", "load_mnist_5k", "read_idx"]
