"""Matrix multiply on NumPy arrays.

``gemm(a, b, out=None, *, trans_a, trans_b, alpha, beta, bias, activation)``
computes ``out = act(alpha * op(a) @ op(b) + beta * out + bias)`` with the
activation fused into the kernel; operands of any strides are read in place.
``gemm_batched`` does the same for a stack of products (3-D operands; a 2-D
operand is shared by the whole stack). ``peak_gflops`` measures the FMA peak
the products are measured against.
"""
import numpy as np

from pyengine import _C
from pyengine._C import gemm, gemm_batched

__all__ = ["gemm", "gemm_batched", "peak_gflops"]


def peak_gflops(threads=None, dtype=np.float32) -> float:
    """The measured FMA peak of this CPU in GFLOPS, on ``threads`` threads
    (default: the kernels' thread count), for the active instruction set."""
    if threads is None:
        threads = _C.get_num_threads()
    return _C.peak_gflops(int(threads), np.dtype(dtype).name)
