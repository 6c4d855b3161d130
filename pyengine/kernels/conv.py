"""Convolution, pooling and batch-normalisation kernels on NumPy arrays.

Geometry arguments are explicit tuples, as the C++ kernels take them:
``stride`` and ``dilation`` (h, w), convolution ``padding`` (top, bottom,
left, right), pooling ``padding`` (h, w). ``pyengine.ops`` turns PyTorch's
int / pair / 'same' forms into these.
"""
from pyengine._C import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    batch_norm_backward,
    batch_norm_forward,
    col2im,
    conv2d_backward_bias,
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_forward,
    conv_scratch_budget,
    im2col,
    max_pool2d_backward,
    max_pool2d_forward,
    set_conv_scratch_budget,
)

__all__ = [
    "im2col", "col2im",
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_backward",
    "conv_scratch_budget", "set_conv_scratch_budget",
]
