"""Elementwise kernels on NumPy arrays.

The arithmetic operators ``add``, ``sub``, ``mul`` and ``div`` (``a op b``
with ``b`` an array of ``a``'s shape and dtype or a Python number, into a new
array or ``out``, which may be ``a`` itself) give NumPy's results bit for bit,
split over the kernels' threads, except that denormal operands and results
flush to zero as in every kernel of the engine; they do not raise NumPy's
floating-point warnings.

Activations and their backward passes, softmax / log-softmax along the last
axis and a deterministic sum, for float32 and float64 arrays of any shape.
The backward of ``relu``, ``leaky_relu`` and ``gelu`` takes the forward
input ``x``; the backward of ``tanh``, ``sigmoid``, ``softmax`` and
``log_softmax`` takes the forward output ``y``.
"""
from pyengine._C import (
    add,
    div,
    erf,
    exp,
    gelu,
    gelu_backward,
    leaky_relu,
    leaky_relu_backward,
    log,
    log_softmax,
    log_softmax_backward,
    mul,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    sub,
    sum,
    tanh,
    tanh_backward,
)

__all__ = [
    "add",
    "div",
    "erf",
    "exp",
    "gelu",
    "gelu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "log",
    "log_softmax",
    "log_softmax_backward",
    "mul",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "sub",
    "sum",
    "tanh",
    "tanh_backward",
]
