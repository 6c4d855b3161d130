"""Arithmetic primitives with NumPy broadcasting; matrix products on the GEMM kernel."""
import math

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function, unbroadcast
from pyengine.ops._util import broadcast_error, shape_of


# From this many elements on, add/sub/mul/div of same-shape arrays (or an array and a
# Python float) run on the engine's threaded kernels, which give NumPy's bytes: the
# kernels hand each thread at least 64K elements (the light grain of
# csrc/kernels/elementwise/driver.cpp), so below two such ranges one thread would do it
# all, no faster than NumPy's own loop.
THREADED_MIN = 1 << 17
_THREADED = {"add": kernels.add, "sub": kernels.sub, "mul": kernels.mul, "div": kernels.div}
# The normal range of each dtype: a number outside it stays with NumPy, which warns on
# overflow, and which keeps a denormal number the kernels' threads would flush to zero.
_NORMAL_RANGE = {np.dtype(t): (float(np.finfo(t).tiny), float(np.finfo(t).max)) for t in (np.float32, np.float64)}


def threaded_binary(op: str, a, b, out=None):
    """The threaded kernel's a op b (into out, which may be a), or None where it does not
    apply and NumPy's ufunc computes it: a below THREADED_MIN elements, a dtype other than
    float32/float64, broadcasting, non-contiguous operands, a b that overlaps out without
    being it, or a number outside a's normal range."""
    kernel = _THREADED.get(op)
    if kernel is None or type(a) is not np.ndarray or a.size < THREADED_MIN or not a.flags.c_contiguous:
        return None
    normal = _NORMAL_RANGE.get(a.dtype)
    if normal is None:
        return None
    if type(b) is float:
        if math.isfinite(b) and b != 0.0 and not normal[0] <= abs(b) <= normal[1]:
            return None
    elif type(b) is not np.ndarray or b.dtype != a.dtype or b.shape != a.shape or not b.flags.c_contiguous:
        return None
    elif out is not None and b is not out and np.may_share_memory(b, out):
        return None  # NumPy buffers an operand that overlaps the output; the kernel would not
    return kernel(a, b, out)


def broadcasting(op: str, ufunc, a, b):
    """ufunc(a, b) under NumPy broadcasting; shapes that do not broadcast raise
    the ValueError naming the op and both shapes."""
    if type(a) is np.ndarray and a.size >= THREADED_MIN:
        out = threaded_binary(op, a, b)
        if out is not None:
            return out
    try:
        return ufunc(a, b)
    except ValueError:
        raise broadcast_error(op, a, b) from None


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return broadcasting("add", np.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return broadcasting("sub", np.subtract, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return broadcasting("mul", np.multiply, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return broadcasting("div", np.true_divide, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = grad / b if ctx.needs_input_grad[0] else None
        db = -grad * a / (b * b) if ctx.needs_input_grad[1] else None  # d(a/b)/db = -a / b^2
        return da, db


class Pow(Function):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a."""

    @staticmethod
    def forward(ctx, a, b):
        out = broadcasting("pow", np.power, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        da = grad * b * np.power(a, b - 1) if ctx.needs_input_grad[0] else None
        db = None
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                db = grad * out * np.log(a)
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split evenly, as in PyTorch."""

    ufunc = staticmethod(np.maximum)
    wins = staticmethod(np.greater)

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return broadcasting(ctx.function.__name__.lower(), ctx.function.ufunc, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        share_a = ctx.function.wins(a, b) + 0.5 * (a == b)
        return (grad * share_a if ctx.needs_input_grad[0] else None,
                grad * (1.0 - share_a) if ctx.needs_input_grad[1] else None)


class Minimum(Maximum):
    ufunc = staticmethod(np.minimum)
    wins = staticmethod(np.less)


def _stack_of_matrices(x, batch):
    """x (..., r, c) as a (prod(batch), r, c) stack over the broadcast batch dims."""
    if x.shape[:-2] != batch:
        x = np.broadcast_to(x, batch + x.shape[-2:])
    return x.reshape((math.prod(batch),) + x.shape[-2:])


def matmul_arrays(a, b):
    """a @ b for arrays of at least 2 dims (batch dims broadcast) on the GEMM
    kernels: one gemm for 2-D operands, gemm_batched for stacks (a 2-D operand
    is shared by the whole stack). Integer arrays use NumPy."""
    if a.dtype != b.dtype or a.dtype.kind != "f":
        return np.matmul(a, b)
    if a.ndim == 2 and b.ndim == 2:
        return kernels.gemm(a, b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = a if a.ndim == 2 else _stack_of_matrices(a, batch)
    b3 = b if b.ndim == 2 else _stack_of_matrices(b, batch)
    return kernels.gemm_batched(a3, b3).reshape(batch + (a.shape[-2], b.shape[-1]))


class MatMul(Function):
    """torch.matmul: 1-D operands get a unit dimension that the result drops again;
    batch dimensions broadcast. The backward is two more products."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                             f"{shape_of(a)} and {shape_of(b)}")
        a2 = a[None, :] if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (k,) -> (k, 1)
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)} cannot be multiplied "
                             f"(inner dimensions {a2.shape[-1]} and {b2.shape[-2]} differ)")
        try:
            np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {shape_of(a)} and {shape_of(b)} "
                             "cannot broadcast") from None
        ctx.save_for_backward(a, b)
        out = matmul_arrays(a2, b2)
        ctx.out2_shape = out.shape  # before the unit dims of 1-D operands are dropped
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad.reshape(ctx.out2_shape)
        da = db = None
        if ctx.needs_input_grad[0]:
            da = matmul_arrays(g, np.swapaxes(b2, -1, -2))  # (..., m, n) @ (..., n, k)
            da = unbroadcast(da, a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            db = matmul_arrays(np.swapaxes(a2, -1, -2), g)  # (..., k, m) @ (..., m, n)
            db = unbroadcast(db, b2.shape).reshape(b.shape)
        return da, db

