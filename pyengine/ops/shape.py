"""Shape primitives: views (reshape, permute, expand), joins and splits, padding."""
import numpy as np

from pyengine.autograd.function import Function
from pyengine.ops._util import shape_of


class Reshape(Function):
    """reshape / view / flatten / squeeze / unsqueeze: a view when NumPy can make one."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: shape {tuple(shape)} is invalid for input of shape {a.shape} "
                             f"({a.size} elements)") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort(ctx.axes))


class Expand(Function):
    """A broadcast view; the engine sums the gradient back to the input shape."""

    @staticmethod
    def forward(ctx, a, shape):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: shape {a.shape} cannot expand to {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad):
        return grad


class Contiguous(Function):
    @staticmethod
    def forward(ctx, a):
        return np.ascontiguousarray(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cat(Function):
    """cat(t0, t1, ..., dim): every tensor is a positional input."""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=dim)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"cat: shapes {shapes} must match except in dimension {dim}") from None

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        try:
            return np.stack(arrays, axis=dim)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"stack: every tensor must have the same shape, got {shapes}") from None

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.dim, 0))


class Split(Function):
    """Pieces of a along dim at the given boundaries (views)."""

    @staticmethod
    def forward(ctx, a, bounds, dim):
        ctx.shape, ctx.dtype, ctx.dim = a.shape, a.dtype, dim
        return tuple(np.split(a, bounds, axis=dim))

    @staticmethod
    def backward(ctx, *grads):
        return np.concatenate(grads, axis=ctx.dim)


class Pad(Function):
    """Constant padding; pad lists (left, right) pairs from the last dim backwards (F.pad)."""

    @staticmethod
    def forward(ctx, a, pad, value):
        if len(pad) % 2 or len(pad) // 2 > a.ndim:
            raise ValueError(f"pad: padding {tuple(pad)} must be (left, right) pairs for at most "
                             f"{a.ndim} dims of input {shape_of(a)}")
        widths = [(0, 0)] * a.ndim
        for i in range(len(pad) // 2):
            widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        # Negative padding crops: pad with the positive parts, then slice.
        grown = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        out = np.pad(a, grown, mode="constant", constant_values=value)
        crop = tuple(slice(-min(lo, 0), out.shape[d] + min(hi, 0)) for d, (lo, hi) in enumerate(widths))
        ctx.grown, ctx.crop, ctx.shape = grown, crop, a.shape
        return out[crop]

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros(tuple(n + lo + hi for n, (lo, hi) in zip(ctx.shape, ctx.grown)), grad.dtype)
        full[ctx.crop] = grad
        inner = tuple(slice(lo, lo + n) for n, (lo, hi) in zip(ctx.shape, ctx.grown))
        return full[inner]
