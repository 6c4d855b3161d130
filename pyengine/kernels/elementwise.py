"""Elementwise kernels on NumPy arrays."""
from pyengine._C import relu, relu_backward

__all__ = ["relu", "relu_backward"]
