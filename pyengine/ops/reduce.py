"""Reductions over dims: sum, mean, max/min (values and indices), var."""
import math

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function


def _kept_shape(shape, axes):
    """The shape of a reduction over axes with keepdim=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _sum(a, axes, keepdim):
    """NumPy's sum, except over every axis of a float array: the engine's sum
    kernel, threaded, accumulating in float64 in a fixed order."""
    if a.ndim and len(axes) == a.ndim and a.dtype in (np.float32, np.float64):
        total = kernels.sum(a)
        return total.reshape((1,) * a.ndim) if keepdim else total
    return a.sum(axis=axes, keepdims=keepdim)


# Up to this many elements a reduction's gradient is spread back into a new array
# (~1 us) rather than viewed through np.broadcast_to (~5 us to build); past it the view
# spares consumers that read it a pass over memory.
_FILL_MAX = 1 << 16


def _kept(grad, shape, axes, keepdim):
    """A reduced gradient with the reduced axes kept, so it broadcasts against the input."""
    return grad.reshape(_kept_shape(shape, axes)) if not keepdim and axes else grad


def _expand_back(grad, shape, axes, keepdim):
    """A reduced gradient spread back over the input shape."""
    grad = _kept(grad, shape, axes, keepdim)
    if math.prod(shape) > _FILL_MAX:
        return np.broadcast_to(grad, shape)
    out = np.empty(shape, grad.dtype)
    out[...] = grad
    return out


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return _sum(a, axes, keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = count = math.prod([a.shape[i] for i in axes])
        total = _sum(a, axes, keepdim)
        if count == 0:
            with np.errstate(invalid="ignore", divide="ignore"):  # the mean of nothing is NaN
                return total / a.dtype.type(0)
        # A 0-d sum divides as a NumPy scalar (total[()]): several times cheaper than a 0-d array.
        return total[()] / a.dtype.type(count)

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


class AMax(Function):
    """max over axes; where several elements tie the gradient is shared evenly
    (PyTorch's amax and full max())."""

    @staticmethod
    def forward(ctx, a, axes, keepdim, use_min=False):
        out = (np.min if use_min else np.max)(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a)
        ctx.out, ctx.axes, ctx.keepdim = out, axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        hit = a == ctx.out
        share = hit / hit.sum(axis=ctx.axes, keepdims=True)
        return _kept(grad, a.shape, ctx.axes, ctx.keepdim) * share


class MaxDim(Function):
    """max(dim) -> (values, indices): the gradient goes to the returned index."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, use_min=False):
        idx = np.expand_dims((np.argmin if use_min else np.argmax)(a, axis=dim), dim)
        values = np.take_along_axis(a, idx, axis=dim)
        ctx.shape, ctx.dim, ctx.idx, ctx.dtype = a.shape, dim, idx, a.dtype
        if not keepdim:
            values, idx = np.squeeze(values, dim), np.squeeze(idx, dim)
        return values, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, grad, grad_indices):
        out = np.zeros(ctx.shape, ctx.dtype)
        np.put_along_axis(out, ctx.idx, grad.reshape(ctx.idx.shape), axis=ctx.dim)
        return out


class Var(Function):
    """sum((a - mean)^2) / (N - correction)."""

    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdim = axes, keepdim
        n = math.prod([a.shape[i] for i in axes])
        ctx.denom = max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.var(a, axis=axes, ddof=correction, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        centred = a - a.mean(axis=ctx.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _kept(grad, a.shape, ctx.axes, ctx.keepdim) * (2 / ctx.denom) * centred
