"""Batch normalisation with PyTorch's semantics, one fused C++ kernel each way.

In training the batch statistics normalise the input and the running
statistics are updated in place: running_mean = (1 - momentum) * running_mean
+ momentum * mean, and likewise running_var with the unbiased variance. In
evaluation the running statistics normalise the input.
"""
from __future__ import annotations

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function
from pyengine.tensor import Tensor


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        y, save_mean, save_invstd = kernels.batch_norm_forward(x, running_mean, running_var, weight, bias, training,
                                                               momentum, eps)
        ctx.save_for_backward(x, weight)
        ctx.stats = (save_mean, save_invstd)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dx, dweight, dbias = kernels.batch_norm_backward(grad, x, weight, *ctx.stats, ctx.training)
        need_x, need_w, need_b = ctx.needs_input_grad
        return dx if need_x else None, dweight if need_w else None, dbias if need_b else None


def _array(t, updated):
    """The NumPy array behind a running-statistics Tensor (or the array itself,
    or None); a Tensor that will be updated in place gets a new version."""
    if isinstance(t, Tensor):
        if updated:
            t._bump_version()
        return t.data
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalises input (N, C) or (N, C, *) per channel, as torch.nn.functional.batch_norm."""
    if momentum is None:
        raise ValueError("batch_norm: momentum=None (a cumulative average) is not supported; pass a float")
    rm = _array(running_mean, training)
    rv = _array(running_var, training)
    if np.ndim(input) < 2:
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, *), got shape {tuple(np.shape(input))}")
    return BatchNorm.apply(input, weight, bias, running_mean=rm, running_var=rv, training=bool(training),
                           momentum=float(momentum), eps=float(eps))
