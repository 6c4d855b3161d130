"""pyengine.nn.functional, PyTorch's ``F``: the functional forms of the layers.

The ops themselves live in pyengine/ops (one Function per primitive); this
module gathers them under PyTorch's names and signatures, adding only the
arguments PyTorch's F has on top (``inplace=``, softmax's ``dim=None``).
"""
from pyengine.ops.conv import conv1d, conv2d, conv_transpose2d
from pyengine.ops.functional import gelu, pad, sigmoid, tanh
from pyengine.ops import functional as _ops
from pyengine.ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, ctc_loss, kl_div, l1_loss, mse_loss,
    nll_loss, smooth_l1_loss,
)
from pyengine.ops.nn_ops import dropout, embedding, layer_norm, linear
from pyengine.ops.normalization import batch_norm
from pyengine.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "linear", "dropout", "embedding", "layer_norm", "batch_norm",
    "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "relu", "leaky_relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax", "pad",
    "mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
    "cross_entropy", "nll_loss", "ctc_loss",
]


def relu(input, inplace=False):
    return input.relu_() if inplace else _ops.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = _ops.leaky_relu(input, negative_slope)
    return input.copy_(out) if inplace else out


def _softmax_dim(ndim):
    """PyTorch's implicit choice when dim is None: 0 for 0-, 1- and 3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _ops.softmax(input, _softmax_dim(input.ndim) if dim is None else dim)


def log_softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _ops.log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim)
