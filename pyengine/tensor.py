"""Tensor: a NumPy array that remembers how it was computed."""
from __future__ import annotations

import numpy as np

from pyengine.autograd import engine
from pyengine.ops import arithmetic as ops

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)


def _as_array(data, dtype=None) -> np.ndarray:
    """PyTorch's inference: Python floats -> float32, ints -> int64, bools -> bool;
    NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    return arr


class Tensor:
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "_out_index", "_version", "_hooks", "__weakref__")

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._out_index = 0
        # Shared by a tensor and the views made from it: in-place writes bump it.
        self._version = [0]
        self._hooks = None

    @classmethod
    def _wrap(cls, array, ctx, index):
        """The output of a Function: ctx is its recording Context, or None."""
        t = cls.__new__(cls)
        t.data = array if isinstance(array, np.ndarray) else np.asarray(array)
        t.requires_grad = ctx is not None
        t.grad = None
        t._ctx = ctx
        t._out_index = index
        t._version = [0]
        t._hooks = None
        return t

    # ---- properties ---------------------------------------------------------
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
    def is_leaf(self):
        return self._ctx is None

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

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

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != float32 and self.data.dtype != int64 or self.data.size == 0:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.function.__name__}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- autograd -----------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        engine.backward(self, gradient, retain_graph)

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad")
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor._wrap(self.data, None, 0)
        t._version = self._version
        return t

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient during backward."""
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

    # ---- operators (one Function each, in pyengine.ops) ------------------------
    def __add__(self, other):
        return ops.Add.apply(self, other)

    def __radd__(self, other):
        return ops.Add.apply(other, self)

    def __mul__(self, other):
        return ops.Mul.apply(self, other)

    def __rmul__(self, other):
        return ops.Mul.apply(other, self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, other)

    def sum(self):
        return ops.Sum.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def _bump_version(self):
        self._version[0] += 1


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of data."""
    arr = _as_array(data, dtype)
    return Tensor(np.array(arr, copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)
