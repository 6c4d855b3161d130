"""Tensor factories: tensor, from_numpy, zeros, ones, full, arange, rand, ... (PyTorch names)."""
import numpy as np

from pyengine.random import default_generator
from pyengine.tensor import Tensor, _as_array, as_dtype, float32, int64


def _size(size):
    """zeros(2, 3) and zeros((2, 3)) both -> (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = tuple(int(s) for s in size)
    if any(s < 0 for s in size):
        raise ValueError(f"negative dimension in size {size}")
    return size


def _new(array, requires_grad):
    t = Tensor._wrap(array, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype, op):
    dtype = float32 if dtype is None else as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}: dtype must be floating point, got {dtype}")
    return dtype


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of data (Python floats -> float32, ints -> int64)."""
    return _new(np.array(_as_array(data, dtype), copy=True), requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def zeros(*size, dtype=None, requires_grad=False) -> Tensor:
    return _new(np.zeros(_size(size), float32 if dtype is None else as_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False) -> Tensor:
    return _new(np.ones(_size(size), float32 if dtype is None else as_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False) -> Tensor:
    return _new(np.empty(_size(size), float32 if dtype is None else as_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = _as_array(fill_value).dtype
    return _new(np.full(_size((size,)), fill_value, as_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if ints else float32
    return _new(np.arange(start, end, step, dtype=np.float64).astype(as_dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    return _new(np.linspace(start, end, int(steps)).astype(_float_dtype(dtype, "linspace")), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    return _new(np.eye(n, n if m is None else m, dtype=float32 if dtype is None else as_dtype(dtype)),
                requires_grad)


def rand(*size, dtype=None, requires_grad=False) -> Tensor:
    """Uniform on [0, 1) from the default generator."""
    dtype = _float_dtype(dtype, "rand")
    return _new(default_generator().random(_size(size), dtype=dtype), requires_grad)


def randn(*size, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal from the default generator."""
    dtype = _float_dtype(dtype, "randn")
    return _new(default_generator().standard_normal(_size(size), dtype=dtype), requires_grad)


def randint(low, high=None, size=None, dtype=None, requires_grad=False) -> Tensor:
    """Integers in [low, high); randint(high, size) starts at 0."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: size is required, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    dtype = int64 if dtype is None else as_dtype(dtype)
    return _new(default_generator().integers(low, high, _size((size,))).astype(dtype), requires_grad)


def randperm(n, dtype=None) -> Tensor:
    return _new(default_generator().permutation(int(n)).astype(int64 if dtype is None else as_dtype(dtype)), False)


def _like(factory, name):
    """zeros -> zeros_like: the same factory at input's shape and (by default) dtype."""

    def like(input, *args, dtype=None, requires_grad=False):
        return factory(tuple(input.shape), *args, dtype=input.dtype if dtype is None else dtype,
                       requires_grad=requires_grad)

    like.__name__ = like.__qualname__ = name
    like.__doc__ = f"{factory.__name__} with the shape (and by default the dtype) of input."
    return like


zeros_like = _like(zeros, "zeros_like")
ones_like = _like(ones, "ones_like")
empty_like = _like(empty, "empty_like")
full_like = _like(full, "full_like")
rand_like = _like(rand, "rand_like")
randn_like = _like(randn, "randn_like")
