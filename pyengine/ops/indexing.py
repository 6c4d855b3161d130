"""Indexing primitives: t[index], t[index] = v, gather, index_select, where."""
import numpy as np

from pyengine.autograd.function import Function
from pyengine.ops._util import shape_of


def is_basic_index(index):
    """Ints, slices, None and Ellipsis only: NumPy returns a view and no element repeats."""
    if not isinstance(index, tuple):
        index = (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def _index_error(op, shape, index, err):
    return IndexError(f"{op}: index {index!r} is invalid for shape {tuple(shape)}: {err}")


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        try:
            return a[index]
        except IndexError as err:
            raise _index_error("getitem", a.shape, index, err) from None

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, ctx.dtype)
        if is_basic_index(ctx.index):
            out[ctx.index] = grad
        else:
            # Integer arrays may pick an element twice: add.at adds every pick.
            np.add.at(out, ctx.index, grad)
        return out


class SetItem(Function):
    """A copy of a with a[index] = v (the Tensor writes it back in place)."""

    @staticmethod
    def forward(ctx, a, v, index):
        ctx.index = index
        out = a.copy()
        try:
            out[index] = v
        except IndexError as err:
            raise _index_error("setitem", a.shape, index, err) from None
        except ValueError:
            raise ValueError(f"setitem: value of shape {shape_of(v)} cannot broadcast to the "
                             f"indexed shape {out[index].shape}") from None
        return out

    @staticmethod
    def backward(ctx, grad):
        ga = None
        if ctx.needs_input_grad[0]:
            ga = grad.copy()
            ga[ctx.index] = 0
        return ga, (grad[ctx.index] if ctx.needs_input_grad[1] else None)


def along_axis_index(index, dim):
    """The fancy index that picks a[..., index[i, j, ...], ...] along dim: index
    itself at dim, and an arange broadcast along every other dim."""
    ndim = index.ndim
    return tuple(index if d == dim else np.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1))
                 for d, n in enumerate(index.shape))


class Gather(Function):
    """out[i][j] = a[i][index[i][j]] along dim (torch.gather)."""

    @staticmethod
    def forward(ctx, a, dim, index):
        if index.ndim != a.ndim:
            raise ValueError(f"gather: index has {index.ndim} dims but input has {a.ndim} "
                             f"(input {a.shape}, index {index.shape})")
        if any(index.shape[d] > a.shape[d] for d in range(a.ndim) if d != dim):
            raise ValueError(f"gather: index {index.shape} is larger than input {a.shape} outside dim {dim}")
        picks = along_axis_index(index, dim)
        ctx.shape, ctx.dtype, ctx.picks = a.shape, a.dtype, picks
        ctx.one_per_line = index.shape[dim] <= 1  # then no element is picked twice
        try:
            return a[picks]
        except IndexError as err:
            raise _index_error("gather", a.shape, "index", err) from None

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, ctx.dtype)
        if ctx.one_per_line:  # a classifier's target picks: a plain scatter
            out[ctx.picks] = grad
        else:
            np.add.at(out, ctx.picks, grad)  # an element picked twice gets both gradients
        return out


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.dtype, ctx.dim, ctx.index = a.shape, a.dtype, dim, index
        try:
            return np.take(a, index, axis=dim)
        except IndexError as err:
            raise _index_error("index_select", a.shape, "index", err) from None

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, ctx.dtype)
        moved = np.moveaxis(out, ctx.dim, 0)  # a view: add.at writes into out
        np.add.at(moved, ctx.index, np.moveaxis(grad, ctx.dim, 0))
        return out


class Where(Function):
    """where(cond, a, b): a where cond holds, else b."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: shapes {shape_of(cond)}, {shape_of(a)} and {shape_of(b)} "
                             "cannot broadcast") from None

    @staticmethod
    def backward(ctx, grad):
        cond = ctx.cond
        return (None,
                np.where(cond, grad, 0) if ctx.needs_input_grad[1] else None,
                np.where(cond, 0, grad) if ctx.needs_input_grad[2] else None)

