"""Variable-length batches for the recurrent layers, as torch.nn.utils.rnn.

A PackedSequence holds the steps of a batch of sequences of different lengths
without padding: ``data`` stacks, step by step, the rows of the sequences
still running (longest first), and ``batch_sizes[t]`` says how many there are
at step t. The recurrent layers take one directly; the padded steps then
neither change the outputs nor receive gradient.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from pyengine.ops.rnn import PackRows, PadSequences, UnpackRows
from pyengine.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """data (sum of lengths, *), batch_sizes (int64, one per step), and the
    permutation that sorted the batch by decreasing length (None when it was
    sorted already) with its inverse."""

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = Tensor(np.argsort(_int64(sorted_indices)))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self):
        return False


def _int64(values) -> np.ndarray:
    data = values.data if isinstance(values, Tensor) else values
    return np.asarray(data, dtype=np.int64).reshape(-1)


def packed_lengths(batch_sizes, sorted_indices):
    """Each sequence's length in the original batch order, from batch_sizes."""
    batch_sizes = _int64(batch_sizes)
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    lengths = np.empty(batch, np.int64)
    lengths[np.arange(batch) if sorted_indices is None else _int64(sorted_indices)] = sorted_lengths
    return lengths


def packed_row_index(batch_sizes, sorted_indices, seq_len, batch_first=False):
    """For each row of a PackedSequence's data, its flat row in the padded
    (seq_len, batch) layout ((batch, seq_len) with batch_first)."""
    batch_sizes = _int64(batch_sizes)
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    order = np.arange(batch) if sorted_indices is None else _int64(sorted_indices)
    steps = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    rows = order[np.concatenate([np.arange(n) for n in batch_sizes]) if batch_sizes.size else np.zeros(0, np.int64)]
    return rows * seq_len + steps if batch_first else steps * batch + rows


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Packs a padded batch (T, B, *) ((B, T, *) with batch_first) whose row b
    holds lengths[b] valid steps. With enforce_sorted the lengths must
    decrease; otherwise the batch is sorted here and the order remembered."""
    lengths = _int64(lengths)
    seq_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    if lengths.size != input.shape[batch_axis]:
        raise ValueError(f"pack_padded_sequence: {lengths.size} lengths for a batch of {input.shape[batch_axis]} "
                         f"(input {tuple(input.shape)}, batch_first={batch_first})")
    if lengths.size and lengths.min() <= 0:
        raise ValueError(f"pack_padded_sequence: every length must be > 0, got {lengths.tolist()}")
    if lengths.size and lengths.max() > input.shape[seq_axis]:
        raise ValueError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the {input.shape[seq_axis]} "
                         f"steps of input {tuple(input.shape)}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"pack_padded_sequence: lengths {lengths.tolist()} must be sorted in decreasing order "
                             "when enforce_sorted=True; pass enforce_sorted=False to sort them here")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths if sorted_indices is None else lengths[sorted_indices]
    max_len = int(sorted_lengths[0]) if lengths.size else 0
    batch_sizes = (sorted_lengths[None, :] > np.arange(max_len)[:, None]).sum(axis=1).astype(np.int64)
    index = packed_row_index(batch_sizes, sorted_indices, input.shape[seq_axis], batch_first)
    data = PackRows.apply(input, index=index)
    return PackedSequence(data, Tensor(batch_sizes), None if sorted_indices is None else Tensor(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded, lengths), padded (T, B, *)
    ((B, T, *) with batch_first) in the original batch order, T the longest
    length or total_length."""
    batch_sizes = _int64(sequence.batch_sizes)
    seq_len = batch_sizes.size
    if total_length is not None:
        if total_length < seq_len:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                             f"sequence ({seq_len} steps)")
        seq_len = total_length
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    index = packed_row_index(batch_sizes, sequence.sorted_indices, seq_len, batch_first)
    leading = (batch, seq_len) if batch_first else (seq_len, batch)
    padded = UnpackRows.apply(sequence.data, index=index, leading_shape=leading, padding_value=padding_value)
    return padded, Tensor(packed_lengths(batch_sizes, sequence.sorted_indices))


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Stacks tensors (L_i, *) into (max L, B, *) ((B, max L, *) with
    batch_first), padding_value past each one's length."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    trailing = {tuple(s.shape[1:]) for s in sequences}
    if len(trailing) > 1:
        raise ValueError(f"pad_sequence: sequences must agree after their first dimension, got shapes "
                         f"{[tuple(s.shape) for s in sequences]}")
    return PadSequences.apply(*sequences, batch_first=batch_first, padding_value=padding_value)


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Packs a list of tensors (L_i, *): pad_sequence, then pack_padded_sequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
