"""pyengine: a deep-learning engine for the CPU.

Hand-written SIMD + OpenMP C++ kernels under a small reverse-mode autograd
with PyTorch's names. ``pyengine.info()`` says which kernels run here.
"""
from pyengine import _C
from pyengine import kernels
from pyengine.autograd import enable_grad, no_grad, set_grad_enabled
from pyengine.tensor import Tensor, float32, float64, from_numpy, int64, tensor

__version__ = _C.info()["version"]


def info() -> dict:
    """Build and runtime facts: version, compiler, instruction sets compiled and
    in use, OpenMP, thread count and cache sizes."""
    return _C.info()


def get_num_threads() -> int:
    """Threads the kernels use (starts at OMP_NUM_THREADS, or the core count)."""
    return _C.get_num_threads()


def set_num_threads(n: int) -> None:
    """Sets the threads the kernels use, for the whole process."""
    _C.set_num_threads(int(n))


__all__ = [
    "Tensor", "tensor", "from_numpy", "float32", "float64", "int64",
    "no_grad", "enable_grad", "set_grad_enabled",
    "info", "get_num_threads", "set_num_threads", "kernels", "__version__",
]
from pyengine.serialization import load, save
__all__ += ["save", "load"]
