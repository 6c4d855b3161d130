"""gradcheck: analytic gradients against central finite differences in float64."""
from __future__ import annotations

import numpy as np

from pyengine.autograd import function as _function
from pyengine.autograd.grad_mode import enable_grad, no_grad


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with the finite-difference one."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _weighted_sum(outputs, weights):
    """sum_i <w_i, out_i> as a float64 Python number (and the graph when grad is on)."""
    total = None
    for out, w in zip(outputs, weights):
        if w is None:
            continue
        term = (out.to(np.float64) * w).sum()
        total = term if total is None else total + term
    return total


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Checks d(fn)/d(input) for every floating input that requires grad.

    fn(*inputs) may return one Tensor or several; the outputs are reduced to one
    scalar with fixed random weights, so every output and every element counts.
    Inputs are checked as float64 copies (float32 inputs are promoted, so the
    finite differences are accurate); inputs that do not require grad, and
    non-Tensor arguments, are passed through unchanged. Returns True, or raises
    GradcheckError naming the worst element: which input, its index, the
    analytic and numeric values.
    """
    Tensor = _function._Tensor
    inputs = _as_tuple(inputs)
    args = []
    checked = []  # positions in args of the inputs being checked
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.kind == "f":
            leaf = Tensor(np.array(x.data, dtype=np.float64, copy=True), requires_grad=True)
            args.append(leaf)
            checked.append(i)
        else:
            args.append(x)
    if not checked:
        raise ValueError("gradcheck: no input is a floating-point Tensor with requires_grad=True")

    rng = np.random.default_rng(seed)
    with enable_grad():
        outputs = _as_tuple(fn(*args))
    weights = [rng.standard_normal(o.shape) if isinstance(o, Tensor) and o.dtype.kind == "f" else None
               for o in outputs]
    with enable_grad():
        total = _weighted_sum(outputs, weights)
    if total is None:
        raise ValueError("gradcheck: fn returned no floating-point Tensor")
    if total.requires_grad:
        total.backward()

    def value():
        with no_grad():
            return _weighted_sum(_as_tuple(fn(*args)), weights).item()

    worst = None  # (excess over tolerance, input position, index, analytic, numeric)
    for i in checked:
        x = args[i]
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.data, dtype=np.float64)
        flat = x.data.reshape(-1)  # a view of the contiguous copy: writes perturb x
        numeric = np.empty(flat.size)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = value()
            flat[j] = orig - eps
            minus = value()
            flat[j] = orig
            numeric[j] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(x.shape)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and (worst is None or excess.max() > worst[0]):
            k = np.unravel_index(np.argmax(excess), x.shape)
            worst = (excess.max(), i, k, analytic[k], numeric[k])
    if worst is not None and worst[0] > 0:
        _, i, k, a, n = worst
        raise GradcheckError(
            f"gradcheck: gradient of input {i} (shape {tuple(args[i].shape)}) differs at index {tuple(int(v) for v in k)}: "
            f"analytic {a:.8g}, numeric {n:.8g} (atol={atol}, rtol={rtol})")
    return True
