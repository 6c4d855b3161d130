import threading
from collections import namedtuple

import numpy as np
import pytest

import pyengine as pe
from pyengine.utils.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate,
                                 random_split)


def make_dataset(n=10):
    x = pe.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = pe.tensor(np.arange(n, dtype=np.int64))
    return TensorDataset(x, y)


def labels(loader):
    return [batch[1].data.tolist() for batch in loader]


def test_tensor_dataset_indexes_every_tensor():
    ds = make_dataset()
    x, y = ds[4]
    np.testing.assert_array_equal(x.data, [12, 13, 14])
    assert y.item() == 4 and len(ds) == 10
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(pe.tensor(np.zeros(3)), pe.tensor(np.zeros(4)))


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("batch_size,drop_last,expected", [
    (4, False, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
    (4, True, [[0, 1, 2, 3], [4, 5, 6, 7]]),
    (5, True, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]),
    (20, True, []),
])
def test_batching_and_drop_last(batch_size, drop_last, expected, prefetch):
    loader = DataLoader(make_dataset(), batch_size=batch_size, drop_last=drop_last, prefetch=prefetch)
    assert labels(loader) == expected and len(loader) == len(expected)
    if expected:
        x, y = next(iter(loader))
        assert x.shape == (len(expected[0]), 3) and x.dtype == np.float32 and y.dtype == np.int64


def test_shuffle_is_a_permutation_determined_by_the_generator():
    ds = make_dataset(50)

    def epoch_orders(seed):
        loader = DataLoader(ds, batch_size=7, shuffle=True, generator=np.random.default_rng(seed))
        return [sum(labels(loader), []) for _ in range(2)]

    first, second = epoch_orders(3)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert first != second  # a new order every epoch
    assert epoch_orders(3) == [first, second]
    assert epoch_orders(4) != [first, second]


def test_prefetch_gives_the_same_batches_as_the_main_thread():
    ds = make_dataset(23)
    a = DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(1))
    b = DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(1), prefetch=True)
    assert labels(a) == labels(b)


class Recording(Dataset):
    """Records which thread loads each sample; raises at index `fail_at`."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at, self.threads = n, fail_at, set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        if i == self.fail_at:
            raise KeyError(f"sample {i} is broken")
        return np.float32(i)


def test_prefetch_loads_on_a_background_thread_and_stops_on_break():
    ds = Recording(100)
    before = threading.active_count()
    for batch in DataLoader(ds, batch_size=2, prefetch=True):
        break
    assert ds.threads and threading.get_ident() not in ds.threads
    assert threading.active_count() == before  # the iterator was dropped: the thread ended


def test_prefetch_reraises_a_dataset_error():
    with pytest.raises(KeyError, match="sample 5 is broken"):
        list(DataLoader(Recording(10, fail_at=5), batch_size=2, prefetch=True))


def test_collate_of_nested_structures():
    Point = namedtuple("Point", "x y")
    batch = [{"img": np.ones((2, 2)), "label": 1, "w": 0.5, "name": "a", "p": Point(1.0, np.int32(2))},
             {"img": np.zeros((2, 2)), "label": 2, "w": 1.5, "name": "b", "p": Point(3.0, np.int32(4))}]
    out = default_collate(batch)
    assert out["img"].shape == (2, 2, 2) and out["img"].dtype == np.float64
    assert out["label"].dtype == np.int64 and out["label"].tolist() == [1, 2]
    assert out["w"].dtype == np.float64 and out["name"] == ["a", "b"]
    assert isinstance(out["p"], Point) and out["p"].y.dtype == np.int32
    pairs = default_collate([(pe.tensor([1.0]), 0), (pe.tensor([2.0]), 1)])
    assert isinstance(pairs, list) and pairs[0].shape == (2, 1)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


def test_custom_collate_fn_and_sampler():
    loader = DataLoader(make_dataset(), batch_size=3, sampler=[9, 8, 7, 1], collate_fn=lambda b: [s[1].item() for s in b])
    assert list(loader) == [[9, 8, 7], [1]] and len(loader) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(make_dataset(), sampler=[0], shuffle=True)


def test_random_split_lengths_and_fractions():
    ds = make_dataset(10)
    parts = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [len(p) for p in random_split(ds, [0.25, 0.25, 0.5])] == [3, 2, 5]  # remainder to the first
    same = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert same[0].indices == parts[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


def test_subset_and_concat():
    ds = make_dataset(5)
    sub = Subset(ds, [4, 0])
    assert sub[0][1].item() == 4 and len(sub) == 2
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 7 and both[5][1].item() == 4 and both[-1][1].item() == 0


def test_global_seed_fixes_shuffle_and_split():
    ds = make_dataset(30)

    def draw():
        order = sum(labels(DataLoader(ds, batch_size=4, shuffle=True)), [])
        return order, random_split(ds, [0.5, 0.5])[0].indices

    pe.manual_seed(11)
    first = draw()
    pe.manual_seed(11)
    assert draw() == first
    pe.manual_seed(12)
    assert draw() != first


def test_tensor_dataset_batches_equal_collated_samples():
    rng = np.random.default_rng(0)
    ds = TensorDataset(pe.tensor(rng.standard_normal((9, 2, 3))), pe.tensor(np.arange(9)), np.arange(9.0) * 2)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(2)))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(2),
                           collate_fn=lambda samples: default_collate(samples)))
    assert len(fast) == len(slow) == 3
    for a, b in zip(fast, slow):
        assert isinstance(a, list) and len(a) == 3
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x.data, y.data)


def test_subset_of_tensor_dataset_gathers_batches_through_its_indices():
    sub = Subset(make_dataset(10), [7, 3, 9, 0])
    assert labels(DataLoader(sub, batch_size=3)) == [[7, 3, 9], [0]]
    assert not hasattr(Subset(Recording(3), [0]), "collated_batch")
