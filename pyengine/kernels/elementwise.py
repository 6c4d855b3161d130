"""Elementwise kernels on NumPy arrays.

Activations and their backward passes, softmax / log-softmax along the last
axis and a deterministic sum, for float32 and float64 arrays of any shape.
The backward of ``relu``, ``leaky_relu`` and ``gelu`` takes the forward
input ``x``; the backward of ``tanh``, ``sigmoid``, ``softmax`` and
``log_softmax`` takes the forward output ``y``.
"""
from pyengine._C import (
    erf,
    exp,
    gelu,
    gelu_backward,
    leaky_relu,
    leaky_relu_backward,
    log,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    sum,
    tanh,
    tanh_backward,
)

__all__ = [
    "erf",
    "exp",
    "gelu",
    "gelu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "log",
    "log_softmax",
    "log_softmax_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "sum",
    "tanh",
    "tanh_backward",
]
