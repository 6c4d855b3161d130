"""pyengine: a deep-learning engine for the CPU.

Hand-written SIMD + OpenMP C++ kernels under a small reverse-mode autograd
with PyTorch's names. ``pyengine.info()`` says which kernels run here.
"""
from pyengine import _C
from pyengine import kernels
from pyengine import autograd
from pyengine.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from pyengine.random import manual_seed
from pyengine.tensor import Tensor, as_tensor, bool_ as bool, float32, float64, int64
from pyengine.ops.creation import (
    arange, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones, ones_like, rand, rand_like,
    randint, randn, randn_like, randperm, tensor, zeros, zeros_like,
)
from pyengine.ops.functional import (
    abs, add, amax, amin, argmax, argmin, cat, chunk, clamp, clip, concatenate, contiguous, div, exp, expand,
    flatten, gather, gelu, index_select, leaky_relu, log, log_softmax, masked_fill, matmul, max, maximum, mean,
    min, minimum, mul, neg, pad, permute, pow, relu, reshape, sigmoid, softmax, split, sqrt, squeeze, stack, std,
    sub, sum, tanh, transpose, unsqueeze, var, where,
)
from pyengine.ops.nn_ops import dropout, embedding, layer_norm, linear

float = float32
double = float64
long = int64

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


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


__all__ = [
    "Tensor", "tensor", "as_tensor", "from_numpy", "is_tensor",
    "float32", "float64", "int64", "bool", "float", "double", "long",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "autograd", "manual_seed",
    "arange", "empty", "empty_like", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand",
    "rand_like", "randint", "randn", "randn_like", "randperm", "zeros", "zeros_like",
    "abs", "add", "amax", "amin", "argmax", "argmin", "cat", "chunk", "clamp", "clip", "concatenate",
    "contiguous", "div", "exp", "expand", "flatten", "gather", "gelu", "index_select", "leaky_relu", "log",
    "log_softmax", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "pad",
    "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack", "std", "sub",
    "sum", "tanh", "transpose", "unsqueeze", "var", "where",
    "dropout", "embedding", "layer_norm", "linear",
    "info", "get_num_threads", "set_num_threads", "kernels", "__version__",
]
from pyengine.serialization import load, save
__all__ += ["save", "load"]
from pyengine import nn, optim, utils  # noqa: E402  (pyengine.nn, .optim, .utils.data as attributes, as in torch)
__all__ += ["nn", "optim", "utils"]
