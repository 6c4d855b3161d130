"""Tensor: a NumPy array that remembers how it was computed.

``t.data`` is the NumPy array itself (``t.numpy()`` and ``np.asarray(t)`` give it
without a copy). A tensor made by a recorded Function holds that Function's
Context in ``_ctx``; ``backward()`` walks those contexts (pyengine.autograd.engine).
"""
from __future__ import annotations

import numpy as np

from pyengine.autograd import engine
from pyengine.autograd import function as _function
from pyengine.autograd.function import apply_tensor1, apply_tensors2
from pyengine.autograd.grad_mode import _state
from pyengine.ops import arithmetic as _arith
from pyengine.ops import indexing as _indexing
from pyengine.ops import unary as _unary
from pyengine.ops._util import broadcast_error

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_TYPE_NAMES = {float32: "FloatTensor", float64: "DoubleTensor", int64: "LongTensor", bool_: "BoolTensor"}
_PY_SCALARS = (int, float, bool)


def as_dtype(dtype) -> np.dtype:
    """pyengine.float32, np.float32, 'float32', float, int, bool -> a NumPy dtype."""
    if dtype is float:
        return float32
    if dtype is int:
        return int64
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None


def _as_array(data, dtype=None) -> np.ndarray:
    """PyTorch's inference: Python floats -> float32, ints -> int64, bools -> bool;
    NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=as_dtype(dtype))
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = [np.asarray(x) if isinstance(x, Tensor) else x for x in data]
    arr = np.asarray(data)
    if isinstance(data, np.generic):
        return arr
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and arr.dtype != np.int64:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype} ({type(data).__name__})")
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _index_arrays(index):
    """Tensors inside an index become their arrays (int or bool masks)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _binary_methods(function, true_divide=False):
    """(a op b, b op a) methods for a binary Function, with dtype promotion."""
    apply = function.apply

    def method(self, other):
        # Same-dtype tensors, and a float tensor with a Python number, need no
        # promotion: the common cases take the short paths.
        if type(other) is Tensor:
            if other.data.dtype is self.data.dtype and (not true_divide or self.data.dtype.kind == "f"):
                return apply_tensors2(function, self, other)
        elif (type(other) is float or type(other) is int) and self.data.dtype.kind == "f":
            return apply_tensor1(function, self, other)
        return apply(*binary_operands(self, other, true_divide))

    def reflected(self, other):
        return apply(*binary_operands(other, self, true_divide))

    return method, reflected


def _comparison(ufunc, op):
    """An elementwise comparison method: a bool tensor, never part of the graph."""

    def compare(self, other):
        other = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._wrap(ufunc(self.data, other), None, 0)
        except ValueError:
            raise broadcast_error(op, self.data, other) from None

    compare.__name__ = op
    return compare


class Tensor:
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "_out_index", "_vc", "_hooks", "__weakref__")

    # NumPy ufuncs and ndarray operators defer to Tensor's own operators.
    __array_ufunc__ = None

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._out_index = 0
        # The version counter, [n], shared by a tensor and its views; in-place writes
        # bump it. Made on first use (most tensors never need one).
        self._vc = None
        self._hooks = None

    @staticmethod
    def _wrap(array, ctx, index):
        """The output of a Function: ctx is its recording Context, or None."""
        return _wrap(array, ctx, index)

    # ---- properties -----------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return "cpu"

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Context that made this tensor (None for a leaf)."""
        return self._ctx

    @property
    def T(self):
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return F.transpose(self, -2, -1)

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def element_size(self):
        return self.data.itemsize

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a Python number, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The underlying array itself (a view: writes show in the tensor)."""
        if self.requires_grad:
            raise RuntimeError("numpy: call .detach().numpy() on a tensor that requires grad")
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: a tensor with {self.data.size} elements is ambiguous (shape {self.shape})")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, got dtype "
                            f"{self.dtype} shape {self.shape}")
        return int(self.data)

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != float32 and self.data.dtype != int64 and self.data.dtype != bool_ or self.data.size == 0:
            extra += f", dtype=pyengine.{self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.function.__name__}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- autograd -------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        engine.backward(self, gradient, retain_graph)

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad "
                               "(use .detach() to make a leaf)")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor._wrap(self.data, None, 0)
        t._vc = self._version_counter()
        return t

    def detach_(self):
        self._ctx = None
        self.requires_grad = False
        return self

    def clone(self):
        return _unary.Cast.apply(self, self.data.dtype)  # astype copies

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient during backward;
        a returned tensor replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: the tensor does not require grad")
        if self._ctx is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
        else:
            if self._ctx.hooks is None:
                self._ctx.hooks = {}
            self._ctx.hooks.setdefault(self._out_index, []).append(hook)
        return hook

    def retain_grad(self):
        """Keeps this non-leaf tensor's gradient in .grad after backward."""
        if self._ctx is None:
            return

        def keep(grad):
            self.grad = grad if self.grad is None else Tensor._wrap(self.grad.data + grad.data, None, 0)

        self.register_hook(keep)

    @property
    def _version(self):
        """How many in-place writes this tensor's storage has seen (as in PyTorch)."""
        return 0 if self._vc is None else self._vc[0]

    def _version_counter(self):
        if self._vc is None:
            self._vc = [0]
        return self._vc

    def _bump_version(self):
        self._version_counter()[0] += 1

    def _share_version(self, base):
        """Makes this view of base's storage share base's version counter."""
        self._vc = base._version_counter()
        return self

    # ---- dtype ----------------------------------------------------------------------------
    def to(self, *args, dtype=None, **kwargs):
        """to(dtype), to('cpu'), to('cpu', dtype): a tensor of that dtype (self if it already is)."""
        for a in args:
            if isinstance(a, str) and a.split(":")[0] == "cpu":
                continue
            dtype = a
        if dtype is None:
            return self
        dtype = as_dtype(dtype)
        if dtype == self.data.dtype:
            return self
        if dtype.kind == "f" and self.data.dtype.kind == "f":
            return _unary.Cast.apply(self, dtype)
        return Tensor._wrap(self.data.astype(dtype), None, 0)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool_)

    def cpu(self):
        return self

    def type(self, dtype=None):
        """type() -> 'pyengine.FloatTensor' etc.; type(dtype) -> a cast, like astype."""
        if dtype is None:
            return "pyengine." + _TYPE_NAMES.get(self.data.dtype, f"{self.data.dtype}Tensor")
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    # ---- arithmetic -----------------------------------------------------------------------
    __add__, __radd__ = _binary_methods(_arith.Add)
    __sub__, __rsub__ = _binary_methods(_arith.Sub)
    __mul__, __rmul__ = _binary_methods(_arith.Mul)
    __truediv__, __rtruediv__ = _binary_methods(_arith.Div, true_divide=True)
    __pow__, __rpow__ = _binary_methods(_arith.Pow)
    __matmul__, __rmatmul__ = _binary_methods(_arith.MatMul)

    def __neg__(self):
        return apply_tensor1(_arith.Neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary.Abs.apply(self)

    def add(self, other, alpha=1):
        return F.add(self, other, alpha)

    def sub(self, other, alpha=1):
        return F.sub(self, other, alpha)

    def mul(self, other):
        return F.mul(self, other)

    def div(self, other):
        return F.div(self, other)

    def pow(self, exponent):
        return F.pow(self, exponent)

    def neg(self):
        return _arith.Neg.apply(self)

    def matmul(self, other):
        return F.matmul(self, other)

    def maximum(self, other):
        return F.maximum(self, other)

    def minimum(self, other):
        return F.minimum(self, other)

    # ---- comparisons (no gradient; bool results) ------------------------------------------------
    __eq__ = _comparison(np.equal, "eq")
    __ne__ = _comparison(np.not_equal, "ne")
    __lt__ = _comparison(np.less, "lt")
    __le__ = _comparison(np.less_equal, "le")
    __gt__ = _comparison(np.greater, "gt")
    __ge__ = _comparison(np.greater_equal, "ge")
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        if self.data.dtype != bool_:
            raise TypeError(f"~ (logical not) needs a bool tensor, got dtype {self.dtype}")
        return Tensor._wrap(~self.data, None, 0)

    def __and__(self, other):
        return Tensor._wrap(np.logical_and(self.data, np.asarray(other)), None, 0)

    def __or__(self, other):
        return Tensor._wrap(np.logical_or(self.data, np.asarray(other)), None, 0)

    def all(self):
        return Tensor._wrap(np.asarray(self.data.all()), None, 0)

    def any(self):
        return Tensor._wrap(np.asarray(self.data.any()), None, 0)

    # ---- elementwise functions --------------------------------------------------------------
    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return _unary.Abs.apply(self)

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def relu(self):
        return apply_tensor1(_unary.ReLU, self)

    def softmax(self, dim=-1):
        return F.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return F.log_softmax(self, dim)

    def clamp(self, min=None, max=None):
        return F.clamp(self, min, max)

    clip = clamp

    # ---- reductions -------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        return F.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        return F.mean(self, dim, keepdim, dtype=dtype)

    def max(self, dim=None, keepdim=False):
        return F.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return F.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return F.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return F.amin(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return F.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return F.std(self, dim, unbiased, keepdim, correction=correction)

    def argmax(self, dim=None, keepdim=False):
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return F.argmin(self, dim, keepdim)

    # ---- shape --------------------------------------------------------------------------------
    def reshape(self, *shape):
        return F.reshape(self, *shape)

    def view(self, *shape):
        if not self.data.flags.c_contiguous and self.data.size > 1:
            raise RuntimeError(f"view: the tensor of shape {self.shape} is not contiguous; use .reshape(...) "
                               "or .contiguous().view(...)")
        return F.reshape(self, *shape)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return F.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return F.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return F.transpose(self, dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims, got shape {self.shape}")
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def squeeze(self, dim=None):
        return F.squeeze(self, dim)

    def unsqueeze(self, dim):
        return F.unsqueeze(self, dim)

    def expand(self, *sizes):
        return F.expand(self, *sizes)

    def expand_as(self, other):
        return F.expand(self, other.shape)

    def contiguous(self):
        return F.contiguous(self)

    def is_contiguous(self):
        return self.data.flags.c_contiguous

    def split(self, split_size, dim=0):
        return F.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return F.chunk(self, chunks, dim)

    # ---- indexing -----------------------------------------------------------------------------
    def __getitem__(self, index):
        index = _index_arrays(index)
        out = apply_tensor1(_indexing.GetItem, self, index)
        if _indexing.is_basic_index(index):
            out._share_version(self)  # a basic index gives a view
        return out

    def __setitem__(self, index, value):
        index = _index_arrays(index)
        value_is_t = isinstance(value, Tensor)
        if _state.enabled and (self.requires_grad or value_is_t and value.requires_grad):
            if value_is_t and value.data.dtype != self.data.dtype:
                value = value.to(self.data.dtype)
            self._apply_inplace("setitem", _indexing.SetItem, value, index)
            return
        try:
            self.data[index] = value.data if value_is_t else value
        except IndexError as err:
            raise IndexError(f"setitem: index {index!r} is invalid for shape {self.shape}: {err}") from None
        except ValueError:
            raise ValueError(f"setitem: value of shape {np.shape(value)} cannot broadcast to the indexed "
                             f"shape {self.data[index].shape}") from None
        self._bump_version()

    def gather(self, dim, index):
        return F.gather(self, dim, index)

    def index_select(self, dim, index):
        return F.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return F.masked_fill(self, mask, value)

    # ---- in-place ops -------------------------------------------------------------------------
    def _apply_inplace(self, name, function, *args):
        """Writes function(self, *args) into self's storage and bumps the version.

        When the graph is recorded, the old value becomes a node of its own (a copy,
        so functions that saved it still see it) and self takes the new node.
        """
        recording = _state.enabled and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        if recording:
            if self._ctx is None and self.requires_grad:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad (shape {self.shape}) is used in an in-place "
                    "operation; do it under pyengine.no_grad() or on a .detach()ed tensor")
            old = Tensor._wrap(self.data.copy(), self._ctx, self._out_index)
            old.requires_grad = self.requires_grad
            out = function.apply(old, *args)
        else:
            out = function.apply(self, *args)
        if out.data.shape != self.data.shape:
            raise ValueError(f"{name}: the result has shape {out.data.shape} but the in-place target has "
                             f"shape {self.data.shape}")
        np.copyto(self.data, out.data, casting="unsafe")
        self._bump_version()
        if recording:
            self._ctx, self._out_index, self.requires_grad = out._ctx, 0, True
        return self

    def _ufunc_inplace(self, name, ufunc, function, other):
        """a += b etc.: straight into the storage when nothing is recorded."""
        if isinstance(other, Tensor):
            if _state.enabled and (self.requires_grad or other.requires_grad):
                return self._apply_inplace(name, function, other)
            other = other.data
        elif _state.enabled and self.requires_grad:
            return self._apply_inplace(name, function, other)
        data = self.data
        if not (data.size >= _arith.THREADED_MIN and data.flags.writeable
                and _arith.threaded_binary(name[:-1], data, other, data) is not None):
            try:
                ufunc(data, other, out=data, casting="same_kind")
            except ValueError:
                raise ValueError(f"{name}: shape {np.shape(other)} cannot broadcast to the in-place target's "
                                 f"shape {data.shape}") from None
        self._bump_version()
        return self

    def add_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._ufunc_inplace("add_", np.add, _arith.Add, other)

    def sub_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._ufunc_inplace("sub_", np.subtract, _arith.Sub, other)

    def mul_(self, other):
        return self._ufunc_inplace("mul_", np.multiply, _arith.Mul, other)

    def div_(self, other):
        return self._ufunc_inplace("div_", np.true_divide, _arith.Div, other)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self[...] = value
        return self

    def copy_(self, src):
        if isinstance(src, Tensor) and src.data.dtype != self.data.dtype:
            src = src.to(self.data.dtype)
        return self._apply_inplace("copy_", _indexing.SetItem, src, Ellipsis)

    def clamp_(self, min=None, max=None):
        return self._apply_inplace("clamp_", _unary.Clamp, min, max)

    def relu_(self):
        return self._apply_inplace("relu_", _unary.ReLU)


def as_tensor(data, dtype=None) -> Tensor:
    """data as a Tensor without copying when it already is one (or an array of that dtype)."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return Tensor(data, dtype=dtype)


def _operand(x):
    if isinstance(x, Tensor) or type(x) in _PY_SCALARS:
        return x
    if isinstance(x, np.generic):
        return x.item()
    return Tensor(x)


def binary_operands(a, b, true_divide=False):
    """The two operands of a binary op with PyTorch's dtype promotion applied:
    float tensor op int tensor -> the float dtype; int tensor op Python float ->
    float32; a Python scalar never widens a float tensor (float32 * 0.5 stays float32);
    true division of integers gives float32."""
    a = _operand(a)
    b = _operand(b)
    a_is_t = isinstance(a, Tensor)
    b_is_t = isinstance(b, Tensor)
    if a_is_t and b_is_t:
        ka, kb = a.data.dtype.kind, b.data.dtype.kind
        if ka == "f" and kb != "f":
            b = b.to(a.data.dtype)
        elif kb == "f" and ka != "f":
            a = a.to(b.data.dtype)
        elif true_divide and ka != "f":
            a, b = a.to(float32), b.to(float32)
    elif a_is_t:
        if a.data.dtype.kind != "f" and (true_divide or type(b) is float):
            a = a.to(float32)
    elif b_is_t:
        if b.data.dtype.kind != "f" and (true_divide or type(a) is float):
            b = b.to(float32)
    return a, b


_new = object.__new__


def _wrap(array, ctx, index):
    """A Tensor around a Function's output array; ctx is its recording Context, or None."""
    t = _new(Tensor)
    t.data = array if type(array) is np.ndarray else np.asarray(array)
    t.requires_grad = ctx is not None
    t.grad = None
    t._ctx = ctx
    t._out_index = index
    t._vc = None
    t._hooks = None
    return t


_function._Tensor = Tensor
_function._wrap = _wrap

from pyengine.ops import functional as F  # noqa: E402  (functional imports this module)
