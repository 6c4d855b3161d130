"""Elementwise functions and the softmax family.

The activations, exp and log run on pyengine.kernels. Each kernel's backward
takes the forward input (relu, leaky_relu, gelu) or the forward output (tanh,
sigmoid, softmax, log_softmax); the softmax kernels work along the last axis.
"""
import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function


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
    fn, grad_fn, saves_output = staticmethod(kernels.exp), staticmethod(_exp_backward), True


class Log(Elementwise):
    fn, grad_fn = staticmethod(kernels.log), staticmethod(_log_backward)


class Sqrt(Elementwise):
    fn, grad_fn, saves_output = staticmethod(np.sqrt), staticmethod(_sqrt_backward), True


class Abs(Elementwise):
    fn, grad_fn = staticmethod(np.abs), staticmethod(_abs_backward)


class Tanh(Elementwise):
    fn, grad_fn, saves_output = staticmethod(kernels.tanh), staticmethod(kernels.tanh_backward), True


class Sigmoid(Elementwise):
    fn, grad_fn, saves_output = staticmethod(kernels.sigmoid), staticmethod(kernels.sigmoid_backward), True


class ReLU(Elementwise):
    fn, grad_fn = staticmethod(kernels.relu), staticmethod(kernels.relu_backward)


class GELU(Elementwise):
    """x * Phi(x) with the exact normal CDF (PyTorch's approximate='none')."""

    fn, grad_fn = staticmethod(kernels.gelu), staticmethod(kernels.gelu_backward)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, a, negative_slope):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return kernels.leaky_relu(a, negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return kernels.leaky_relu_backward(a, grad, ctx.negative_slope)


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

    fn = staticmethod(kernels.softmax)
    grad_fn = staticmethod(kernels.softmax_backward)

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
    fn = staticmethod(kernels.log_softmax)
    grad_fn = staticmethod(kernels.log_softmax_backward)


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
