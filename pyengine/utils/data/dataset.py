"""Datasets: indexable collections of samples, and ways to cut them up."""
from __future__ import annotations

import math

import numpy as np

from pyengine.tensor import Tensor
from pyengine.utils._seed import numpy_generator


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the index-th rows of the given tensors (or arrays), all of
    the same length: ``TensorDataset(images, labels)[i] == (images[i], labels[i])``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        lengths = [len(t) for t in tensors]
        if any(n != lengths[0] for n in lengths):
            raise ValueError(f"Size mismatch between tensors: first dimensions are {lengths}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(Tensor(t.data[index]) if isinstance(t, Tensor) else t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])

    def collated_batch(self, indices):
        """What default_collate makes of [self[i] for i in indices] (a list of
        stacked tensors), gathered with one indexing per tensor instead."""
        index = np.asarray(indices, dtype=np.int64)
        return [Tensor(t.data[index] if isinstance(t, Tensor) else np.asarray(t)[index]) for t in self.tensors]


class ConcatDataset(Dataset):
    """The datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
        k = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[k - 1] if k > 0 else 0
        return self.datasets[k][index - start]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    @property
    def collated_batch(self):
        """The underlying dataset's batch gather, through the indices (only when it has one)."""
        gather = getattr(self.dataset, "collated_batch", None)
        if gather is None:
            raise AttributeError(f"{type(self.dataset).__name__} gathers no batches")
        return lambda indices: gather([self.indices[i] for i in indices])


def _split_lengths(n, lengths):
    """Integer lengths; fractions summing to 1 become floor(n * f) with the
    remainder handed out one by one from the first split (as PyTorch does)."""
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    return [int(k) for k in lengths]


def random_split(dataset, lengths, generator=None):
    """Splits the dataset into non-overlapping random Subsets of the given
    lengths (or fractions of its length)."""
    counts = _split_lengths(len(dataset), list(lengths))
    order = numpy_generator(generator).permutation(sum(counts)).tolist()
    splits, start = [], 0
    for count in counts:
        splits.append(Subset(dataset, order[start:start + count]))
        start += count
    return splits
