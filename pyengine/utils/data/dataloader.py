"""DataLoader: batches of a dataset, optionally shuffled, collated into tensors,
optionally prepared one batch ahead on a background thread."""
from __future__ import annotations

import collections.abc
import math
import queue
import threading

import numpy as np

from pyengine.tensor import Tensor, _as_array
from pyengine.utils._seed import numpy_generator


def default_collate(batch):
    """Combines a list of samples into a batch, as PyTorch does: tensors, NumPy
    arrays and numbers are stacked into one tensor with a new first dimension;
    dicts, tuples and lists are collated field by field; strings stay a list."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return Tensor(np.stack([b.data for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: cannot batch arrays of dtype {elem.dtype}")
        return Tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return Tensor(np.array(batch))
    if isinstance(elem, float):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (bool, int)):
        return Tensor(_as_array(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


class _End:
    """Marks the end of the batches in the prefetch queue."""


class _Failure:
    """Carries an exception raised while preparing a batch to the consumer."""

    def __init__(self, error):
        self.error = error


def _prefetched(batches):
    """Yields the items of the iterator `batches`, computed one ahead on a
    daemon thread; an exception there is raised here, and abandoning the
    iteration (break) stops the thread."""
    slots = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_End)
        except BaseException as error:  # delivered to the consumer, which re-raises it
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="pyengine-dataloader-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _End:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


class DataLoader:
    """Iterates over a dataset in batches, as torch.utils.data.DataLoader.

    shuffle draws a new order every epoch from ``generator`` (a NumPy
    Generator), or, when None, from a generator seeded by the global one.
    ``prefetch=True`` (or ``num_workers > 0``) prepares the next batch on a
    background thread while the caller trains on the current one; the batches
    and their order are the same either way. ``pin_memory``, ``timeout`` and
    the worker options are accepted for compatibility (only the CPU exists).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 generator=None, prefetch_factor=None, persistent_workers=False, *, prefetch=False):
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                             "and drop_last")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.drop_last = drop_last
        self.generator = generator
        self.prefetch = bool(prefetch or num_workers > 0)

    def _indices(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if self.shuffle:
            return numpy_generator(self.generator).permutation(n).tolist()
        return list(range(n))

    def _index_batches(self):
        if self.batch_sampler is not None:
            return [list(b) for b in self.batch_sampler]
        indices = self._indices()
        if self.batch_size is None:
            return [[i] for i in indices]
        size = self.batch_size
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        return [indices[i:i + size] for i in range(0, stop, size)]

    def _batches(self, index_batches):
        unbatched = self.batch_size is None and self.batch_sampler is None
        # A TensorDataset gathers a whole batch with one indexing per tensor.
        gather = getattr(self.dataset, "collated_batch", None) if self.collate_fn is default_collate else None
        for index_batch in index_batches:
            if gather is not None and not unbatched:
                yield gather(index_batch)
                continue
            samples = [self.dataset[i] for i in index_batch]
            # batch_size=None: no batching, each sample is yielded as it is.
            yield samples[0] if unbatched else self.collate_fn(samples)

    def __iter__(self):
        # The order is drawn here, on the caller's thread, so that prefetching
        # never changes which generator state produced it.
        batches = self._batches(self._index_batches())
        return _prefetched(batches) if self.prefetch else batches

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
