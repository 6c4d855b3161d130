"""The ops as functions with PyTorch's names and arguments (pyengine.exp, pyengine.cat, ...).

Tensor methods call these; each one normalises its arguments (dims, shapes,
dtypes) and applies one Function from the op families.
"""
import builtins
from collections import namedtuple

import numpy as np

from pyengine.autograd.function import apply_tensor1
from pyengine.ops import arithmetic, indexing, reduce, unary
from pyengine.ops import shape as shape_ops
from pyengine.ops._util import normalize_dim, normalize_dims, shape_arg
from pyengine.tensor import Tensor, as_tensor, binary_operands


def _wrap_constant(array):
    return Tensor._wrap(array, None, 0)


# ---- arithmetic ----------------------------------------------------------------------
def add(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return arithmetic.Add.apply(*binary_operands(input, other))


def sub(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return arithmetic.Sub.apply(*binary_operands(input, other))


def mul(input, other):
    return arithmetic.Mul.apply(*binary_operands(input, other))


def div(input, other):
    a, b = binary_operands(input, other, true_divide=True)
    return arithmetic.Div.apply(a, b)


def pow(input, exponent):
    return arithmetic.Pow.apply(*binary_operands(input, exponent))


def neg(input):
    return arithmetic.Neg.apply(input)


def matmul(input, other):
    a, b = binary_operands(input, other)
    return arithmetic.MatMul.apply(a, b)


def maximum(input, other):
    return arithmetic.Maximum.apply(*binary_operands(input, other))


def minimum(input, other):
    return arithmetic.Minimum.apply(*binary_operands(input, other))


# ---- elementwise and activations -------------------------------------------------------
def _float_input(input):
    """Integer and bool inputs of exp, log, ... compute in float32, as in PyTorch."""
    if input.data.dtype.kind != "f":
        return input.to(np.float32)
    return input


def _float_function(function, name):
    def op(input):
        return apply_tensor1(function, _float_input(input))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (integer inputs compute in float32)."
    return op


exp = _float_function(unary.Exp, "exp")
log = _float_function(unary.Log, "log")
sqrt = _float_function(unary.Sqrt, "sqrt")
tanh = _float_function(unary.Tanh, "tanh")
sigmoid = _float_function(unary.Sigmoid, "sigmoid")


def abs(input):
    return unary.Abs.apply(input)


def relu(input):
    return apply_tensor1(unary.ReLU, input)


def leaky_relu(input, negative_slope=0.01):
    return unary.LeakyReLU.apply(input, float(negative_slope))


def gelu(input, approximate="none"):
    if approximate != "none":
        raise ValueError(f"gelu: only approximate='none' is supported, got {approximate!r}")
    return unary.GELU.apply(input)


def softmax(input, dim=-1):
    return unary.Softmax.apply(_float_input(input), normalize_dim(dim, input.ndim, "softmax"))


def log_softmax(input, dim=-1):
    return unary.LogSoftmax.apply(_float_input(input), normalize_dim(dim, input.ndim, "log_softmax"))


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return unary.Clamp.apply(input, min, max)


clip = clamp


# ---- reductions -------------------------------------------------------------------------
def sum(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    elif input.data.dtype.kind in "bi":
        input = input.to(np.int64)
    return apply_tensor1(reduce.Sum, input, normalize_dims(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if input.data.dtype.kind != "f":
        raise TypeError(f"mean: input dtype must be floating point, got {input.dtype} (use .float() first)")
    return apply_tensor1(reduce.Mean, input, normalize_dims(dim, input.ndim, "mean"), keepdim)


# max(t, dim) / min(t, dim) return (values, indices) with those names, as in PyTorch.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _max_or_min(input, dim, keepdim, use_min):
    op = "min" if use_min else "max"
    if input.data.size == 0:
        raise ValueError(f"{op}: the input is empty (shape {tuple(input.shape)})")
    if dim is None:
        return reduce.AMax.apply(input, normalize_dims(None, input.ndim, op), False, use_min)
    values, indices = reduce.MaxDim.apply(input, normalize_dim(dim, input.ndim, op), keepdim, use_min)
    indices.requires_grad, indices._ctx = False, None
    return ValuesIndices(values, indices)


def max(input, dim=None, keepdim=False):
    """max(t) -> the largest element; max(t, dim) -> (values, indices); max(t, other) -> maximum."""
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return _max_or_min(input, dim, keepdim, use_min=False)


def min(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return _max_or_min(input, dim, keepdim, use_min=True)


def amax(input, dim=None, keepdim=False):
    return reduce.AMax.apply(input, normalize_dims(dim, input.ndim, "amax"), keepdim, False)


def amin(input, dim=None, keepdim=False):
    return reduce.AMax.apply(input, normalize_dims(dim, input.ndim, "amin"), keepdim, True)


def _correction(unbiased, correction):
    if correction is not None:
        return int(correction)
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if input.data.dtype.kind != "f":
        raise TypeError(f"var: input dtype must be floating point, got {input.dtype}")
    return reduce.Var.apply(input, normalize_dims(dim, input.ndim, "var"), _correction(unbiased, correction), keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def argmax(input, dim=None, keepdim=False):
    return _arg_reduce(np.argmax, input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    return _arg_reduce(np.argmin, input, dim, keepdim, "argmin")


def _arg_reduce(fn, input, dim, keepdim, op):
    if input.data.size == 0:
        raise ValueError(f"{op}: the input is empty (shape {tuple(input.shape)})")
    if dim is None:
        idx = np.asarray(fn(input.data), dtype=np.int64)
        return _wrap_constant(idx.reshape((1,) * input.ndim) if keepdim else idx)
    axis = normalize_dim(dim, input.ndim, op)
    return _wrap_constant(fn(input.data, axis=axis, keepdims=keepdim).astype(np.int64))


# ---- shape ---------------------------------------------------------------------------------
def _share_version(out, input):
    """A view shares its base's version counter, so an in-place write through either is seen."""
    if np.may_share_memory(out.data, input.data):
        out._share_version(input)
    return out


def reshape(input, *shape):
    return _share_version(apply_tensor1(shape_ops.Reshape, input, shape_arg(shape)), input)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s = normalize_dim(start_dim, input.ndim, "flatten")
    e = normalize_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shp = input.shape
    return reshape(input, shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:])


def squeeze(input, dim=None):
    if dim is None:
        new = tuple(n for n in input.shape if n != 1)
    else:
        axes = normalize_dims(dim, input.ndim, "squeeze")
        new = tuple(n for i, n in enumerate(input.shape) if not (i in axes and n == 1))
    return reshape(input, new)


def unsqueeze(input, dim):
    d = normalize_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def permute(input, *dims):
    axes = tuple(normalize_dim(d, input.ndim, "permute") for d in shape_arg(dims))
    if sorted(axes) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {shape_arg(dims)} are not a permutation of the {input.ndim} dims "
                         f"of shape {tuple(input.shape)}")
    return _share_version(shape_ops.Permute.apply(input, axes), input)


def transpose(input, dim0, dim1):
    axes = list(range(input.ndim))
    d0 = normalize_dim(dim0, input.ndim, "transpose")
    d1 = normalize_dim(dim1, input.ndim, "transpose")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return _share_version(shape_ops.Permute.apply(input, tuple(axes)), input)


def expand(input, *sizes):
    sizes = shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: the number of sizes {len(sizes)} is less than the number of dims "
                         f"of shape {tuple(input.shape)}")
    target = tuple(input.shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    return _share_version(shape_ops.Expand.apply(input, target), input)


def contiguous(input):
    if input.data.flags.c_contiguous:
        return input
    return shape_ops.Contiguous.apply(input)


def cat(tensors, dim=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    d = normalize_dim(dim, tensors[0].ndim, "cat")
    return shape_ops.Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return shape_ops.Stack.apply(*tensors, dim=d)


def split(tensor, split_size_or_sections, dim=0):
    d = normalize_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        bounds = list(range(step, n, step))
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {tuple(sizes)} do not add up to {n} (dim {dim} of shape "
                             f"{tuple(tensor.shape)})")
        bounds = list(np.cumsum(sizes)[:-1])
    pieces = shape_ops.Split.apply(tensor, bounds, d)
    return tuple(_share_version(p, tensor) for p in pieces)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = input.shape[normalize_dim(dim, input.ndim, "chunk")]
    return split(input, builtins.max(1, -(-n // chunks)), dim)


def pad(input, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    return shape_ops.Pad.apply(input, tuple(int(p) for p in pad), value)


# ---- indexing ------------------------------------------------------------------------------
def gather(input, dim, index):
    index = as_tensor(index)
    if index.data.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {index.dtype}")
    return indexing.Gather.apply(input, normalize_dim(dim, input.ndim, "gather"), index.data)


def index_select(input, dim, index):
    index = as_tensor(index)
    if index.data.dtype.kind not in "iu" or index.ndim > 1:
        raise TypeError(f"index_select: index must be a 1-D integer tensor, got dtype {index.dtype} "
                        f"shape {tuple(index.shape)}")
    return indexing.IndexSelect.apply(input, normalize_dim(dim, input.ndim, "index_select"), index.data)


def where(condition, input, other):
    condition = as_tensor(condition)
    if condition.data.dtype != np.bool_:
        condition = condition.to(np.bool_)
    a, b = binary_operands(input, other)
    return indexing.Where.apply(condition.data, a, b)


def masked_fill(input, mask, value):
    return where(mask, value, input)

