"""The NumPy-level face of the C++ kernels.

Each function takes and returns ``numpy.ndarray`` of float32 or float64.
Inputs that are not C-contiguous are copied once; other dtypes raise
``TypeError``; wrong shapes raise ``ValueError`` naming the op and the shapes.
"""
from pyengine._C import gemm, relu, relu_backward

__all__ = ["gemm", "relu", "relu_backward"]
