"""Argument helpers shared by the op families: dims, shapes, error messages."""
import numpy as np


def normalize_dim(dim, ndim, op):
    """dim in [-ndim, ndim) -> [0, ndim); a 0-d tensor accepts 0 and -1, as in PyTorch."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def normalize_dims(dim, ndim, op):
    """None -> every axis; an int or a sequence -> a sorted tuple of axes in [0, ndim)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        return (normalize_dim(int(dim), ndim, op),) if ndim else ()
    axes = tuple(sorted(normalize_dim(int(d), ndim, op) for d in dim))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: dim {tuple(dim)} repeats a dimension")
    return axes if ndim else ()


def shape_arg(shape):
    """reshape(2, 3) and reshape((2, 3)) both -> (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def shape_of(x):
    return tuple(np.shape(x))


def broadcast_error(op, a, b):
    return ValueError(f"{op}: shapes {shape_of(a)} and {shape_of(b)} cannot broadcast")
