"""Pooling with PyTorch's semantics: max_pool2d, avg_pool2d, adaptive_avg_pool2d.

Inputs are (N, C, H, W) or unbatched (C, H, W). Max pooling's backward routes
each output gradient to the arg-max of its window (the first maximum on ties).
"""
from __future__ import annotations

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function
from pyengine.ops.conv import _pair
from pyengine.tensor import Tensor


def _batched(x):
    """x as 4-D, and whether a batch axis was added."""
    return (x, False) if x.ndim == 4 else (x[None], True)


def _check_ndim(input, op):
    shape = tuple(np.shape(input))
    if len(shape) not in (3, 4):
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W), got shape {shape}")


class MaxPool2d(Function):
    """The pooled values are the differentiable output; the arg-max indices,
    which have no gradient, are appended to the `indices_out` list."""

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, dilation, ceil_mode, indices_out):
        x4, added = _batched(x)
        y, indices = kernels.max_pool2d_forward(x4, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward()
        ctx.indices, ctx.input_shape, ctx.added = indices, x4.shape, added
        indices_out.append(indices[0] if added else indices)
        return y[0] if added else y

    @staticmethod
    def backward(ctx, grad):
        g4 = grad[None] if ctx.added else grad
        dx = kernels.max_pool2d_backward(g4, ctx.indices, ctx.input_shape)
        return dx[0] if ctx.added else dx


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad):
        x4, added = _batched(x)
        ctx.save_for_backward()
        ctx.args = (kernel_size, stride, padding, ceil_mode, count_include_pad)
        ctx.input_shape, ctx.added = x4.shape, added
        y = kernels.avg_pool2d_forward(x4, *ctx.args)
        return y[0] if added else y

    @staticmethod
    def backward(ctx, grad):
        g4 = grad[None] if ctx.added else grad
        dx = kernels.avg_pool2d_backward(g4, ctx.input_shape, *ctx.args)
        return dx[0] if ctx.added else dx


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, *, output_size):
        x4, added = _batched(x)
        ctx.save_for_backward()
        ctx.input_shape, ctx.added = x4.shape, added
        y = kernels.adaptive_avg_pool2d_forward(x4, output_size)
        return y[0] if added else y

    @staticmethod
    def backward(ctx, grad):
        g4 = grad[None] if ctx.added else grad
        dx = kernels.adaptive_avg_pool2d_backward(g4, ctx.input_shape)
        return dx[0] if ctx.added else dx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over each kernel_size window, as torch.nn.functional.max_pool2d (stride defaults to kernel_size).
    With return_indices, also the flat positions ih*W + iw of the maxima (int64)."""
    op = "max_pool2d"
    _check_ndim(input, op)
    kernel_size = _pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else _pair(stride, "stride", op)
    indices = []
    y = MaxPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=_pair(padding, "padding", op),
                        dilation=_pair(dilation, "dilation", op), ceil_mode=bool(ceil_mode), indices_out=indices)
    return (y, Tensor(indices[0])) if return_indices else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each kernel_size window, as torch.nn.functional.avg_pool2d (stride defaults to kernel_size)."""
    op = "avg_pool2d"
    _check_ndim(input, op)
    kernel_size = _pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else _pair(stride, "stride", op)
    return AvgPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=_pair(padding, "padding", op),
                           ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))


def adaptive_avg_pool2d(input, output_size):
    """Means over windows that tile the input into output_size cells (an int, a pair, None keeps that axis)."""
    op = "adaptive_avg_pool2d"
    _check_ndim(input, op)
    in_hw = tuple(np.shape(input))[-2:]
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size}")
    output_size = tuple(in_hw[d] if output_size[d] is None else int(output_size[d]) for d in range(2))
    return AdaptiveAvgPool2d.apply(input, output_size=output_size)
