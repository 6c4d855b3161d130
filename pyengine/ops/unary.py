"""Elementwise functions and the softmax family.

The activations call pyengine.kernels where a kernel exists; the NumPy
functions just below stand in for the ones that are not in the kernels yet.
Each kernel's backward takes the forward input (relu, leaky_relu, gelu) or
the forward output (tanh, sigmoid, softmax, log_softmax), as here.
"""
import math

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function


def _tanh(x):
    return np.tanh(x)


def _tanh_backward(y, dy):
    return dy * (1 - y * y)


def _sigmoid(x):
    # exp(-|x|) never overflows; the two branches are the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _sigmoid_backward(y, dy):
    return dy * y * (1 - y)


def _leaky_relu(x, negative_slope):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def _leaky_relu_backward(x, dy, negative_slope):
    return np.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def _gelu_backward(x, dy):
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return (dy * (cdf + x * pdf)).astype(x.dtype)


def _softmax(x):  # along the last axis
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _softmax_backward(y, dy):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def _log_softmax_backward(y, dy):
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


def _exp_backward(y, dy):
    return dy * y


def _log_backward(x, dy):
    return dy / x


def _sqrt_backward(y, dy):
    return dy / (2 * y)


def _abs_backward(x, dy):
    return dy * np.sign(x)


class Elementwise(Function):
    """y = fn(x) with dx = grad_fn(saved, dy), where saved is x, or y when the
    derivative is cheaper from the output (exp, tanh, sigmoid, sqrt)."""

    fn = None
    grad_fn = None
    saves_output = False

    @staticmethod
    def forward(ctx, a):
        op = ctx.function
        out = op.fn(a)
        ctx.save_for_backward(out if op.saves_output else a)
        return out

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        return ctx.function.grad_fn(saved, grad)


class Exp(Elementwise):
    fn, grad_fn, saves_output = staticmethod(np.exp), staticmethod(_exp_backward), True


class Log(Elementwise):
    fn, grad_fn = staticmethod(np.log), staticmethod(_log_backward)


class Sqrt(Elementwise):
    fn, grad_fn, saves_output = staticmethod(np.sqrt), staticmethod(_sqrt_backward), True


class Abs(Elementwise):
    fn, grad_fn = staticmethod(np.abs), staticmethod(_abs_backward)


class Tanh(Elementwise):
    fn, grad_fn, saves_output = staticmethod(_tanh), staticmethod(_tanh_backward), True


class Sigmoid(Elementwise):
    fn, grad_fn, saves_output = staticmethod(_sigmoid), staticmethod(_sigmoid_backward), True


class ReLU(Elementwise):
    fn, grad_fn = staticmethod(kernels.relu), staticmethod(kernels.relu_backward)


class GELU(Elementwise):
    """x * Phi(x) with the exact normal CDF (PyTorch's approximate='none')."""

    fn, grad_fn = staticmethod(_gelu), staticmethod(_gelu_backward)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, a, negative_slope):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return _leaky_relu(a, negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _leaky_relu_backward(a, grad, ctx.negative_slope)


def _along_last(fn, x, dim):
    """Runs a last-axis kernel along dim by moving dim last and back."""
    if dim == x.ndim - 1 or x.ndim == 0:
        return fn(x)
    return np.moveaxis(fn(np.ascontiguousarray(np.moveaxis(x, dim, -1))), -1, dim)


def _along_last2(fn, y, dy, dim):
    if dim == y.ndim - 1 or y.ndim == 0:
        return fn(y, dy)
    moved = fn(np.ascontiguousarray(np.moveaxis(y, dim, -1)), np.ascontiguousarray(np.moveaxis(dy, dim, -1)))
    return np.moveaxis(moved, -1, dim)


class Softmax(Function):
    """Along one dim; LogSoftmax shares the code with its own pair of functions."""

    fn = staticmethod(_softmax)
    grad_fn = staticmethod(_softmax_backward)

    @staticmethod
    def forward(ctx, a, dim):
        out = _along_last(ctx.function.fn, a, dim)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _along_last2(ctx.function.grad_fn, out, grad, ctx.dim)


class LogSoftmax(Softmax):
    fn = staticmethod(_log_softmax)
    grad_fn = staticmethod(_log_softmax_backward)


class Clamp(Function):
    """Gradient passes where min <= a <= max (bounds included, as in PyTorch)."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        inside = np.ones(a.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= a >= ctx.lo
        if ctx.hi is not None:
            inside &= a <= ctx.hi
        return grad * inside


class Cast(Function):
    """A copy in another dtype; the gradient is cast back (the engine does it)."""

    @staticmethod
    def forward(ctx, a, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad
