"""Arithmetic primitives with broadcasting."""
import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class MatMul(Function):
    """2-D a @ b on the GEMM kernel; its backward is two more products."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return kernels.gemm(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = kernels.gemm(grad, b, trans_b=True) if ctx.needs_input_grad[0] else None  # (m,n)@(n,k)
        db = kernels.gemm(a, grad, trans_a=True) if ctx.needs_input_grad[1] else None  # (k,m)@(m,n)
        return da, db


class Sum(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward()
        ctx.shape = a.shape
        return np.asarray(a.sum(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        return np.broadcast_to(grad, ctx.shape)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return kernels.relu(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return kernels.relu_backward(a, grad)
