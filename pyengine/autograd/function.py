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
``Mul.backward`` later. Gradients returned for broadcast inputs may have the
broadcast shape: the engine sums them back to each input's shape.
"""
from __future__ import annotations

import numpy as np

from pyengine.autograd.grad_mode import is_grad_enabled


class Context:
    """What a Function's forward leaves for its backward (one per recorded call)."""

    # No __slots__: a Function's forward may keep any attribute (ctx.shape = ...).

    def __init__(self, function, inputs, needs_input_grad):
        self.function = function
        self.inputs = inputs  # the Tensor inputs (None for non-Tensor positional args)
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.saved_versions = ()
        self.output_meta = ()  # (shape, dtype) of each output, to fill missing gradients
        self.hooks = None      # {output index: [hook, ...]} from Tensor.register_hook
        self.freed = False

    def save_for_backward(self, *arrays):
        self.saved = arrays
        # Remember the version of every input Tensor whose data is saved, so an
        # in-place change before backward is caught instead of giving wrong gradients.
        versions = []
        for arr in arrays:
            for t in self.inputs:
                if t is not None and t.data is arr:
                    versions.append((t, t._version[0]))
                    break
        self.saved_versions = tuple(versions)

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(
                f"{self.function.__name__}.backward: the graph was freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() to call it twice")
        for tensor, version in self.saved_versions:
            if tensor._version[0] != version:
                raise RuntimeError(
                    f"{self.function.__name__}.backward: a tensor of shape {tuple(tensor.shape)} that it needs was "
                    f"modified by an in-place operation (version {version} -> {tensor._version[0]})")
        return self.saved


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from pyengine.tensor import Tensor

        tensors = [a if isinstance(a, Tensor) else None for a in args]
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        needs = tuple(t is not None and t.requires_grad for t in tensors)
        record = is_grad_enabled() and any(needs)
        ctx = Context(cls, tensors, needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if not record:
            ctx = None
        if isinstance(out, tuple):
            if record:
                ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(Tensor._wrap(o, ctx, i) for i, o in enumerate(out))
        if record:
            ctx.output_meta = ((out.shape, out.dtype),)
        return Tensor._wrap(out, ctx, 0)


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
