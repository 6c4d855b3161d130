"""Function: one differentiable primitive, forward and backward on NumPy arrays.

A primitive is a subclass with two static methods, in the manner of PyTorch's
autograd.Function:

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):            # NumPy arrays in (Tensors unwrapped)
            ctx.save_for_backward(a, b)
            return a * b                   # a NumPy array out (or a tuple of them)

        @staticmethod
        def backward(ctx, grad):           # one gradient per output
            a, b = ctx.saved_tensors
            return grad * b, grad * a      # one gradient (or None) per positional input

``Mul.apply(x, y)`` unwraps Tensor arguments, runs forward, and — when grad mode
is on and an input requires grad — records a node so that backward() can call
``Mul.backward`` later. Non-Tensor positional arguments (scalars, shapes,
indices) and keyword arguments reach forward unchanged; backward returns None
(or anything: it is ignored) for them. ``ctx.needs_input_grad[i]`` says whether
input i needs a gradient, so backward can skip work. Gradients returned for
broadcast inputs may have the broadcast shape, and a gradient of another float
dtype is cast: the engine sums and casts them back to each input's shape and dtype.
"""
from __future__ import annotations

import numpy as np

from pyengine.autograd.grad_mode import _state

# The Tensor class, bound by pyengine.tensor when it is imported (the two modules
# refer to each other; a module global keeps the lookup off the per-op path).
_Tensor = None


class Context:
    """What a Function's forward leaves for its backward (one per recorded call).

    A Function's forward may keep any attribute (ctx.shape = ...): those go to the
    instance __dict__; the three that every call sets are slots. The class
    attributes are defaults, so a call sets only what it uses.
    """

    __slots__ = ("function", "inputs", "needs_input_grad", "__dict__")

    saved = ()
    saved_versions = ()    # (version counter, version at save time, shape) per saved input/output
    output_meta = None     # (shape, dtype) per output for a multi-output Function; None for one output
    hooks = None           # {output index: [hook, ...]} from Tensor.register_hook
    freed = False
    _saves_output = False  # save_for_backward kept an array that is not an input (an output, probably)

    def __init__(self, function, inputs, needs_input_grad):
        self.function = function
        self.inputs = inputs  # the Tensor inputs (None for non-Tensor positional args)
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays):
        """Keeps arrays for backward. Each input or output Tensor whose array is kept
        has its version remembered, so an in-place change before backward is caught
        instead of giving wrong gradients."""
        self.saved = arrays
        versions = []
        for arr in arrays:
            for t in self.inputs:
                if t is not None and t.data is arr:
                    counter = t._vc
                    if counter is None:
                        counter = t._vc = [0]
                    versions.append((counter, counter[0], arr.shape))
                    break
            else:
                if type(arr) is np.ndarray:  # not an input's array: an output's, probably
                    self._saves_output = True
        self.saved_versions = versions

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(
                f"{self.function.__name__}.backward: the graph was freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() to go through it twice")
        for counter, version, shape in self.saved_versions:
            if counter[0] != version:
                raise RuntimeError(
                    f"{self.function.__name__}.backward: a tensor of shape {tuple(shape)} that it needs was "
                    f"modified by an in-place operation (version {version} -> {counter[0]})")
        return self.saved

    def _remember_saved_outputs(self, outputs):
        """Adds the version counters of outputs whose arrays forward saved."""
        versions = list(self.saved_versions)
        for arr in self.saved:
            for out in outputs:
                if out.data is arr:
                    versions.append((out._version_counter(), 0, arr.shape))
        self.saved_versions = versions


class _UnrecordedContext(Context):
    """The ctx handed to forward when nothing will be recorded: saving is a no-op."""

    __slots__ = ()

    def save_for_backward(self, *arrays):
        pass


_new = object.__new__
_NO_GRADS = tuple((False,) * n for n in range(8))


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _Tensor
        arrays = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    record = True
            else:
                arrays.append(a)
        if record and _state.enabled:
            inputs = tuple([a if isinstance(a, Tensor) else None for a in args])
            needs = tuple([t is not None and t.requires_grad for t in inputs])
            return _record(cls, inputs, needs, arrays, kwargs)
        return _run_unrecorded(cls, arrays, kwargs)


def apply_tensors2(cls, a, b):
    """cls.apply(a, b) for two Tensors and a single-output Function: the binary
    operators' common case, without the generic argument loop."""
    ra = a.requires_grad
    rb = b.requires_grad
    if (ra or rb) and _state.enabled:
        ctx = _new(Context)
        ctx.function = cls
        ctx.inputs = (a, b)
        ctx.needs_input_grad = (ra, rb)
        return _single_output(ctx, cls.forward(ctx, a.data, b.data))
    ctx = _new(_UnrecordedContext)
    ctx.function = cls
    ctx.needs_input_grad = (False, False)
    return _wrap(cls.forward(ctx, a.data, b.data), None, 0)


_NONES = tuple((None,) * n for n in range(8))
_FIRST_ONLY = tuple((True,) + (False,) * n for n in range(8))


def apply_tensor1(cls, a, *constants):
    """cls.apply(a, *constants) for one Tensor followed by non-Tensor arguments,
    and a single-output Function (unary ops, reductions, reshapes)."""
    if a.requires_grad and _state.enabled:
        n = len(constants)
        ctx = _new(Context)
        ctx.function = cls
        ctx.inputs = (a,) + _NONES[n]
        ctx.needs_input_grad = _FIRST_ONLY[n]
        return _single_output(ctx, cls.forward(ctx, a.data, *constants))
    ctx = _new(_UnrecordedContext)
    ctx.function = cls
    ctx.needs_input_grad = _NO_GRADS[1 + len(constants)]
    return _wrap(cls.forward(ctx, a.data, *constants), None, 0)


def _single_output(ctx, out):
    if type(out) is tuple:
        name = ctx.function.__name__
        raise TypeError(f"{name}.forward returned several outputs; call {name}.apply")
    result = _wrap(out, ctx, 0)
    if ctx._saves_output:
        ctx._remember_saved_outputs((result,))
    return result


def _run_unrecorded(cls, arrays, kwargs):
    ctx = _new(_UnrecordedContext)
    ctx.function = cls
    ctx.needs_input_grad = (False,) * len(arrays)
    out = cls.forward(ctx, *arrays, **kwargs)
    if type(out) is tuple:
        return tuple([_wrap(o, None, 0) for o in out])
    return _wrap(out, None, 0)


def _record(cls, inputs, needs, arrays, kwargs):
    """Runs forward with a recording Context and wraps the outputs as its nodes."""
    ctx = _new(Context)
    ctx.function = cls
    ctx.inputs = inputs
    ctx.needs_input_grad = needs
    out = cls.forward(ctx, *arrays, **kwargs)
    if type(out) is not tuple:
        return _single_output(ctx, out)
    outs = tuple([_wrap(o, ctx, i) for i, o in enumerate(out)])
    ctx.output_meta = tuple([(o.data.shape, o.data.dtype) for o in outs])
    if ctx._saves_output:
        ctx._remember_saved_outputs(outs)
    return outs


def _wrap(array, ctx, index):
    """Bound by pyengine.tensor to its Tensor-from-Function-output constructor."""
    raise RuntimeError("pyengine.tensor is not imported")


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sums a gradient of a broadcast result back to an input's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
