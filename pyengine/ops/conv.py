"""Convolutions with PyTorch's semantics: conv2d, conv1d, conv_transpose2d.

Layout is NCHW (NCL for 1-D); a convolution's weight is (out, in/groups, kh, kw)
and a transposed convolution's (in, out/groups, kh, kw), as in PyTorch. Each is
one autograd Function over the C++ kernels (``pyengine.kernels.conv``):
forward = im2col + GEMM, input gradient = GEMM + col2im, weight gradient = GEMM
summed over the batch in a fixed order.

Padding beyond PyTorch: ``conv1d`` also takes a ``(left, right)`` pair, and
``causal_conv1d`` pads on the left only, so that output t sees inputs <= t —
the dilated causal convolutions of WaveNet-style speech models.
"""
from __future__ import annotations

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function


def _pair(value, name, op):
    """An int or a pair of ints as a pair."""
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    value = tuple(value)
    if len(value) == 1:
        return (int(value[0]), int(value[0]))
    if len(value) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {value}")
    return (int(value[0]), int(value[1]))


def _same_padding(kernel, dilation):
    """'same' along one axis: total d*(k-1), the odd cell on the bottom/right as PyTorch does."""
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def conv_padding(padding, kernel_hw, stride, dilation, op):
    """PyTorch's conv2d padding (int, pair, 'same' or 'valid') as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            return _same_padding(kernel_hw[0], dilation[0]) + _same_padding(kernel_hw[1], dilation[1])
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got '{padding}'")
    ph, pw = _pair(padding, "padding", op)
    return (ph, ph, pw, pw)


def _weight_shape(weight, ndim, op):
    shape = tuple(weight.shape)
    if len(shape) != ndim:
        raise ValueError(f"{op}: weight must be {ndim}-D, got shape {shape}")
    return shape


class Conv2d(Function):
    """y = conv2d(x, w) + b on 4-D arrays; geometry passed as keywords in kernel form."""

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.geometry = (stride, padding, dilation, groups)
        return kernels.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = kernels.conv2d_backward_input(grad, w, x.shape, *ctx.geometry) if need_x else None
        dw = kernels.conv2d_backward_weight(x, grad, w.shape, *ctx.geometry) if need_w else None
        db = kernels.conv2d_backward_bias(grad) if need_b else None
        return dx, dw, db


class Conv1d(Function):
    """conv2d over a unit-height image: (N, C, L) -> (N, C, 1, L) and back."""

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        x4, w4 = x[:, :, None, :], w[:, :, None, :]
        ctx.save_for_backward(x, w)
        ctx.geometry = ((1, stride), (0, 0) + padding, (1, dilation), groups)
        return kernels.conv2d_forward(x4, w4, b, *ctx.geometry)[:, :, 0, :]

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        x4, w4, g4 = x[:, :, None, :], w[:, :, None, :], np.ascontiguousarray(grad)[:, :, None, :]
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = kernels.conv2d_backward_input(g4, w4, x4.shape, *ctx.geometry)[:, :, 0, :] if need_x else None
        dw = kernels.conv2d_backward_weight(x4, g4, w4.shape, *ctx.geometry)[:, :, 0, :] if need_w else None
        db = kernels.conv2d_backward_bias(g4) if need_b else None
        return dx, dw, db


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: forward is conv2d's input gradient
    (GEMM + col2im), backward is a conv2d forward and a weight gradient."""

    @staticmethod
    def forward(ctx, x, w, b, *, out_shape, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.geometry = (stride, padding, dilation, groups)
        y = kernels.conv2d_backward_input(x, w, out_shape, *ctx.geometry)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = kernels.conv2d_forward(grad, w, None, *ctx.geometry) if need_x else None
        dw = kernels.conv2d_backward_weight(grad, x, w.shape, *ctx.geometry) if need_w else None
        db = kernels.conv2d_backward_bias(grad) if need_b else None
        return dx, dw, db


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution of input (N, C, H, W) with weight (K, C/groups, kh, kw), as torch.nn.functional.conv2d.

    padding is an int, a pair (h, w), 'valid' (none) or 'same' (output size =
    input size; stride 1 only)."""
    op = "conv2d"
    kh, kw = _weight_shape(weight, 4, op)[2:]
    stride = _pair(stride, "stride", op)
    dilation = _pair(dilation, "dilation", op)
    pads = conv_padding(padding, (kh, kw), stride, dilation, op)
    return Conv2d.apply(input, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=int(groups))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of input (N, C, L) with weight (K, C/groups, k), as torch.nn.functional.conv1d.

    padding is an int (both sides), 'valid', 'same', or — beyond PyTorch — a
    pair (left, right) for asymmetric padding; (dilation*(k-1), 0) is causal."""
    op = "conv1d"
    k = _weight_shape(weight, 3, op)[2]
    stride, dilation = int(stride), int(dilation)
    if isinstance(padding, str):
        if padding == "same" and stride != 1:
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a (left, right) pair, 'same' or 'valid', got '{padding}'")
        pads = _same_padding(k, dilation) if padding == "same" else (0, 0)
    else:
        pads = _pair(padding, "padding", op)
    if len(np.shape(input)) != 3:
        raise ValueError(f"{op}: input must be 3-D (N, C, L), got shape {tuple(np.shape(input))}")
    return Conv1d.apply(input, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=int(groups))


def causal_conv1d(input, weight, bias=None, dilation=1, groups=1):
    """conv1d padded on the left only by dilation*(k-1): output t depends on
    inputs t - dilation*(k-1) .. t, and the length is kept."""
    k = _weight_shape(weight, 3, "causal_conv1d")[2]
    return conv1d(input, weight, bias, stride=1, padding=(int(dilation) * (k - 1), 0), dilation=dilation,
                  groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of input (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw),
    as torch.nn.functional.conv_transpose2d: H_out = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1."""
    op = "conv_transpose2d"
    w_shape = _weight_shape(weight, 4, op)
    x_shape = tuple(np.shape(input))
    if len(x_shape) != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x_shape}")
    stride = _pair(stride, "stride", op)
    dilation = _pair(dilation, "dilation", op)
    pad = _pair(padding, "padding", op)
    out_pad = _pair(output_padding, "output_padding", op)
    groups = int(groups)
    shapes = f"(input {x_shape}, weight {w_shape})"
    if groups < 1 or w_shape[0] % groups:
        raise ValueError(f"{op}: weight's {w_shape[0]} input channels are not divisible by groups={groups} {shapes}")
    if x_shape[1] != w_shape[0]:
        raise ValueError(f"{op}: input has {x_shape[1]} channels but weight expects {w_shape[0]} {shapes}")
    for d in range(2):
        if out_pad[d] < 0 or out_pad[d] >= max(stride[d], dilation[d]):
            raise ValueError(f"{op}: output_padding {out_pad} must be smaller than stride {stride} or dilation {dilation}")
        if min(stride[d], dilation[d], w_shape[2 + d]) < 1 or pad[d] < 0:
            raise ValueError(f"{op}: stride, dilation and kernel size must be >= 1 and padding >= 0, "
                             f"got stride {stride}, dilation {dilation}, padding {pad} {shapes}")
    out_hw = tuple((x_shape[2 + d] - 1) * stride[d] - 2 * pad[d] + dilation[d] * (w_shape[2 + d] - 1) + out_pad[d] + 1
                   for d in range(2))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: the output would have size {out_hw}, which is not positive {shapes}")
    out_shape = (x_shape[0], w_shape[1] * groups) + out_hw
    if bias is not None and tuple(np.shape(bias)) != (out_shape[1],):
        raise ValueError(f"{op}: bias has shape {tuple(np.shape(bias))} but the output has {out_shape[1]} channels")
    return ConvTranspose2d.apply(input, weight, bias, out_shape=out_shape, stride=stride,
                                 padding=(pad[0], pad[0], pad[1], pad[1]), dilation=dilation, groups=groups)
