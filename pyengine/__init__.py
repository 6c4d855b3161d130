"""pyengine: a deep-learning engine for the CPU.

Hand-written SIMD + OpenMP C++ kernels under a small reverse-mode autograd
with PyTorch's names. ``pyengine.info()`` says which kernels run here.
"""
from pyengine import _C
from pyengine import kernels

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


__all__ = ["info", "get_num_threads", "set_num_threads", "kernels", "__version__"]
