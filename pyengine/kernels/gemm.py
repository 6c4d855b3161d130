"""Matrix multiply on NumPy arrays."""
from pyengine._C import gemm

__all__ = ["gemm"]
