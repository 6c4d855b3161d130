"""The backward pass: a reverse walk over the recorded Contexts.

Iterative throughout (no recursion), so a chain of 100,000 operations
back-propagates within Python's default recursion limit.
"""
from __future__ import annotations

import numpy as np

from pyengine.autograd.function import unbroadcast


def _topological_order(root_ctx):
    """Contexts reachable from root_ctx, every one after all of its inputs' contexts."""
    order = []
    seen = {id(root_ctx)}
    stack = [(root_ctx, 0)]
    while stack:
        ctx, i = stack[-1]
        inputs = ctx.inputs
        descended = False
        while i < len(inputs):
            t = inputs[i]
            i += 1
            parent = t._ctx if t is not None else None
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack[-1] = (ctx, i)
                stack.append((parent, 0))
                descended = True
                break
        if not descended:
            stack.pop()
            order.append(ctx)
    return order


def _run_hooks(hooks, grad):
    from pyengine.tensor import Tensor

    for hook in hooks:
        result = hook(Tensor(grad))
        if result is not None:
            grad = result.data if isinstance(result, Tensor) else np.asarray(result)
    return grad


def backward(root, gradient=None, retain_graph=False):
    """Computes d(root)/d(leaf) for every leaf that requires grad, adding into .grad."""
    from pyengine.tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph")
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be created implicitly only for a one-element output, got shape "
                f"{tuple(root.shape)}; pass a gradient of that shape")
        grad = np.ones_like(root.data)
    else:
        grad = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=root.data.dtype)
        if grad.shape != root.data.shape:
            raise RuntimeError(f"backward: gradient has shape {grad.shape} but the output has shape {root.data.shape}")

    leaf_grads = {}  # id(leaf) -> [leaf, gradient]

    def add_leaf(t, g):
        slot = leaf_grads.get(id(t))
        if slot is None:
            leaf_grads[id(t)] = [t, g]
        else:
            slot[1] = slot[1] + g

    if root._ctx is None:
        add_leaf(root, grad)
    else:
        grads = {(id(root._ctx), root._out_index): grad}
        for ctx in reversed(_topological_order(root._ctx)):
            if ctx.freed:
                raise RuntimeError(
                    f"backward: the graph through {ctx.function.__name__} was freed by an earlier backward(); "
                    "pass retain_graph=True to the first backward() to go through it twice")
            outs = [grads.pop((id(ctx), i), None) for i in range(len(ctx.output_meta))]
            if all(g is None for g in outs):
                continue
            for i, g in enumerate(outs):
                if g is None:
                    shape, dtype = ctx.output_meta[i]
                    outs[i] = np.zeros(shape, dtype)
                elif ctx.hooks and i in ctx.hooks:
                    outs[i] = _run_hooks(ctx.hooks[i], g)
            in_grads = ctx.function.backward(ctx, *outs)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if not retain_graph:
                ctx.saved = ()
                ctx.freed = True
            for t, needed, g in zip(ctx.inputs, ctx.needs_input_grad, in_grads):
                if not needed or g is None:
                    continue
                g = unbroadcast(np.asarray(g), t.data.shape)
                if g.dtype != t.data.dtype:
                    g = g.astype(t.data.dtype)
                if t._ctx is None:
                    add_leaf(t, g)
                else:
                    key = (id(t._ctx), t._out_index)
                    prev = grads.get(key)
                    grads[key] = g if prev is None else prev + g

    for t, g in leaf_grads.values():
        if t._hooks:
            g = _run_hooks(t._hooks, g)
        if t.grad is None:
            t.grad = Tensor(np.array(g, dtype=t.data.dtype, copy=True))
        else:
            t.grad = Tensor(t.grad.data + g)
