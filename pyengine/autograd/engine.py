"""The backward pass: a reverse walk over the recorded Contexts.

Iterative throughout (no recursion), so a chain of 100,000 operations
back-propagates within Python's default recursion limit.
"""
from __future__ import annotations

import sys

import numpy as np

from pyengine.autograd import function as _function
from pyengine.autograd.function import unbroadcast


def _topological_order(root_ctx):
    """Contexts reachable from root_ctx, each one after the contexts of all its inputs."""
    order = []
    seen = {root_ctx}
    stack = [(root_ctx, iter(root_ctx.inputs))]
    while stack:
        ctx, inputs = stack[-1]
        for t in inputs:
            if t is not None:
                parent = t._ctx
                if parent is not None and parent not in seen:
                    seen.add(parent)
                    stack.append((parent, iter(parent.inputs)))
                    break
        else:
            stack.pop()
            order.append(ctx)
    return order


def _run_hooks(hooks, grad):
    Tensor = _function._Tensor
    for hook in hooks:
        result = hook(Tensor._wrap(grad, None, 0))
        if result is not None:
            grad = result.data if isinstance(result, Tensor) else np.asarray(result)
    return grad


def _initial_gradient(root, gradient):
    Tensor = _function._Tensor
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be created implicitly only for a one-element output, got shape "
                f"{tuple(root.data.shape)}; pass a gradient of that shape")
        seed = np.empty(root.data.shape, root.data.dtype)
        seed.fill(1)  # a third of np.ones_like's cost, paid by every backward()
        return seed
    grad = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=root.data.dtype)
    if grad.shape != root.data.shape:
        raise RuntimeError(
            f"backward: gradient has shape {tuple(grad.shape)} but the output has shape {tuple(root.data.shape)}")
    if grad.dtype != root.data.dtype:
        grad = grad.astype(root.data.dtype)
    return grad


def _freed_error(ctx):
    return RuntimeError(
        f"backward: the graph through {ctx.function.__name__} was freed by an earlier backward(); "
        "pass retain_graph=True to the first backward() to go through it twice")


def _refcount_in_call(g):
    return sys.getrefcount(g)


def _slot_refcount():
    """sys.getrefcount of an array that only a leaf_grads slot refers to, read as _unshared
    reads it (the count depends on the interpreter's calling convention)."""
    for _, g in {0: [None, np.empty(0)]}.values():
        return _refcount_in_call(g)


_SLOT_REFCOUNT = _slot_refcount()


def _unshared(g, leaf):
    """True when g, a leaf's summed gradient, may become its .grad without a copy: a fresh
    array of the leaf's dtype that nothing but its leaf_grads slot refers to (not one a hook
    returned, nor one shared with another leaf or the caller), so that accumulating into
    .grad later never writes into anybody else's memory."""
    return (not leaf._hooks and g.flags.owndata and g.flags.writeable and g.flags.c_contiguous
            and g.dtype == leaf.data.dtype and sys.getrefcount(g) <= _SLOT_REFCOUNT)


def backward(root, gradient=None, retain_graph=False):
    """Computes d(root)/d(leaf) for every leaf that requires grad, adding into .grad."""
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    grad = _initial_gradient(root, gradient)
    leaf_grads = {}  # id(leaf) -> [leaf, summed gradient]

    root_ctx = root._ctx
    if root_ctx is None:
        leaf_grads[id(root)] = [root, grad]
    else:
        # ctx -> the gradient of its output so far, or for a Function of several outputs a
        # list of them (None where nothing arrived yet). Most contexts have one output, and
        # holding its array directly spares a list per edge of the graph.
        pending = {}
        if root_ctx.output_meta is None:
            pending[root_ctx] = grad
        else:
            first = pending[root_ctx] = [None] * len(root_ctx.output_meta)
            first[root._out_index] = grad
        for ctx in reversed(_topological_order(root_ctx)):
            outs = pending.pop(ctx, None)
            if outs is None:
                continue  # no path from the root's gradient goes through this node
            if ctx.freed:
                raise _freed_error(ctx)
            if ctx.output_meta is None:
                if ctx.hooks:
                    outs = _run_hooks(ctx.hooks[0], outs)
                in_grads = ctx.function.backward(ctx, outs)
            else:
                for i, (shape, dtype) in enumerate(ctx.output_meta):
                    if outs[i] is None:
                        outs[i] = np.zeros(shape, dtype)
                if ctx.hooks:
                    for i, hooks in ctx.hooks.items():
                        outs[i] = _run_hooks(hooks, outs[i])
                in_grads = ctx.function.backward(ctx, *outs)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if not retain_graph:
                ctx.saved = ()
                ctx.freed = True
            for t, needed, g in zip(ctx.inputs, ctx.needs_input_grad, in_grads):
                if not needed or g is None:
                    continue
                data = t.data
                if g.shape != data.shape:
                    g = unbroadcast(np.asarray(g), data.shape)
                if g.dtype is not data.dtype and g.dtype != data.dtype:
                    g = np.asarray(g, dtype=data.dtype)
                parent = t._ctx
                if parent is None:
                    slot = leaf_grads.get(id(t))
                    if slot is None:
                        leaf_grads[id(t)] = [t, g]
                    else:
                        slot[1] = slot[1] + g
                elif parent.output_meta is None:
                    summed = pending.get(parent)
                    pending[parent] = g if summed is None else summed + g
                else:
                    slot = pending.get(parent)
                    if slot is None:
                        slot = pending[parent] = [None] * len(parent.output_meta)
                    i = t._out_index
                    slot[i] = g if slot[i] is None else slot[i] + g
        outs = in_grads = g = None  # the last node's gradients are referred to by leaf_grads alone

    Tensor = _function._Tensor
    for t, g in leaf_grads.values():
        if t._hooks:
            g = _run_hooks(t._hooks, g)
        if t.grad is None:
            t.grad = Tensor._wrap(g if _unshared(g, t) else np.array(g, dtype=t.data.dtype, copy=True), None, 0)
        else:
            np.add(t.grad.data, g, out=t.grad.data, casting="unsafe")
