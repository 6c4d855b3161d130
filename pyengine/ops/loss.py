"""Loss functions with PyTorch's names and semantics.

Each loss is one Function (forward and backward on NumPy arrays) and one
user-facing function taking Tensors. Cross-entropy and CTC run in fused C++
kernels (pyengine.kernels.loss); the pointwise losses are a few NumPy lines
each, written from their formulas.

Every loss takes ``reduction``: ``'none'`` keeps one value per element (per
sample for cross-entropy, NLL and CTC), ``'mean'`` averages them, ``'sum'`` adds
them. Arguments after ``target`` (``weight`` aside) are keyword-only.
"""
from __future__ import annotations

import numpy as np

from pyengine import kernels
from pyengine.autograd.function import Function
from pyengine.tensor import Tensor

REDUCTIONS = ("none", "mean", "sum")


# ---- shared helpers -----------------------------------------------------------

def _check_reduction(op, reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _float_input(op, input, name="input"):
    data = _data(input)
    if data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a float32 or float64 tensor, got dtype {data.dtype}")
    return input if isinstance(input, Tensor) else data


def _like_input(op, x, input_data, name):
    """x (a Tensor, array, list or number) as an operand of input's float dtype.
    A Tensor that requires grad keeps its own dtype and must match."""
    if isinstance(x, Tensor) and x.requires_grad:
        if x.dtype != input_data.dtype:
            raise TypeError(f"{op}: {name} has dtype {x.dtype} but input has dtype {input_data.dtype}")
        return x
    return np.asarray(_data(x), dtype=input_data.dtype)


def _check_broadcast(op, input_data, other, name):
    try:
        np.broadcast_shapes(input_data.shape, _data(other).shape)
    except ValueError:
        raise ValueError(f"{op}: input {tuple(input_data.shape)} and {name} {tuple(_data(other).shape)} "
                         "cannot be broadcast together") from None


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    value = loss.mean() if reduction == "mean" else loss.sum()
    return np.asarray(value, dtype=loss.dtype)


def _reduction_grad(grad, n, reduction):
    """The gradient of the reduced loss with respect to each unreduced term."""
    return grad / n if reduction == "mean" else grad


def _optional(weight, input_data):
    """An optional weight array (never differentiated) in input's dtype."""
    return None if weight is None else np.asarray(_data(weight), dtype=input_data.dtype)


# ---- pointwise losses -----------------------------------------------------------

def _smooth_l1(d, beta):
    if beta == 0:
        return np.abs(d)
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


def _smooth_l1_slope(d, beta):
    return np.sign(d) if beta == 0 else np.where(np.abs(d) < beta, d / beta, np.sign(d))


# value(d, beta) and slope(d, beta) of each loss of the difference d = input - target.
DIFFERENCE_LOSSES = {
    "mse_loss": (lambda d, beta: d * d, lambda d, beta: 2 * d),
    # The slope of |d| is sign(d), 0 at d = 0 as in PyTorch.
    "l1_loss": (lambda d, beta: np.abs(d), lambda d, beta: np.sign(d)),
    # 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere; L1 at beta = 0.
    "smooth_l1_loss": (_smooth_l1, _smooth_l1_slope),
}


class DifferenceLoss(Function):
    """A pointwise loss of d = input - target (squared, absolute or smooth L1), reduced."""

    @staticmethod
    def forward(ctx, input, target, kind, reduction, beta):
        diff = input - target
        ctx.save_for_backward(diff)
        ctx.args = (kind, reduction, beta)
        value, _ = DIFFERENCE_LOSSES[kind]
        return _reduce(value(diff, beta).astype(diff.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        kind, reduction, beta = ctx.args
        _, slope = DIFFERENCE_LOSSES[kind]
        g = _reduction_grad(grad, diff.size, reduction) * slope(diff, beta).astype(diff.dtype, copy=False)
        return g, -g, None, None, None


def _clamped_log(x):
    """log(x) clamped below at -100, as PyTorch's binary_cross_entropy does, so
    a probability of exactly 0 or 1 gives a finite loss."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), -100.0)


class BinaryCrossEntropy(Function):
    """-w (y log x + (1 - y) log(1 - x)), logs clamped at -100."""

    @staticmethod
    def forward(ctx, input, target, weight, reduction):
        ctx.save_for_backward(input, target, weight)
        ctx.reduction = reduction
        loss = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
        if weight is not None:
            loss = loss * weight
        return _reduce(loss.astype(input.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        x, y, weight = ctx.saved_tensors
        g = _reduction_grad(grad, np.broadcast(x, y).size, ctx.reduction)
        if weight is not None:
            g = g * weight
        # The clamp keeps the gradient finite at x = 0 or 1, as in PyTorch.
        dx = g * (x - y) / np.maximum(x * (1 - x), 1e-12) if ctx.needs_input_grad[0] else None
        dy = g * (_clamped_log(1 - x) - _clamped_log(x)) if ctx.needs_input_grad[1] else None
        return dx, dy, None, None


def _softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class BinaryCrossEntropyWithLogits(Function):
    """-w (p y log s(x) + (1 - y) log(1 - s(x))) with s the sigmoid and p the
    positive-class weight, computed as (1 - y) x + (1 + (p - 1) y) softplus(-x),
    which never takes the log of a rounded-off sigmoid."""

    @staticmethod
    def forward(ctx, input, target, weight, pos_weight, reduction):
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction
        sp_neg = _softplus(-input)
        if pos_weight is None:
            loss = (1 - target) * input + sp_neg
        else:
            loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp_neg
        if weight is not None:
            loss = loss * weight
        return _reduce(loss.astype(input.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        x, y, weight, pos_weight = ctx.saved_tensors
        g = _reduction_grad(grad, np.broadcast(x, y).size, ctx.reduction)
        if weight is not None:
            g = g * weight
        p = 1 if pos_weight is None else pos_weight
        dx = dy = None
        if ctx.needs_input_grad[0]:
            sigmoid = np.exp(-_softplus(-x))
            dx = g * ((p * y + 1 - y) * sigmoid - p * y)
        if ctx.needs_input_grad[1]:
            dy = g * (p * _softplus(-x) - _softplus(x))
        return dx, dy, None, None, None


class KlDiv(Function):
    """target * (log target - input), the input being log-probabilities; with
    log_target the target is given as log-probabilities too: exp(t) (t - input)."""

    @staticmethod
    def forward(ctx, input, target, reduction, log_target):
        ctx.save_for_backward(input, target)
        ctx.reduction, ctx.log_target = reduction, log_target
        if log_target:
            loss = np.exp(target) * (target - input)
        else:
            # target log target is 0 at target = 0 (its limit), as xlogy gives.
            with np.errstate(divide="ignore", invalid="ignore"):
                t_log_t = np.where(target > 0, target * np.log(target), np.where(target == 0, 0.0, np.nan))
            loss = t_log_t - target * input
        loss = loss.astype(input.dtype, copy=False)
        if reduction == "batchmean":
            batch = input.shape[0] if input.ndim else 1
            return np.asarray(loss.sum() / batch, dtype=loss.dtype)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        n = np.broadcast(x, t).size
        if ctx.reduction == "batchmean":
            g = grad / (x.shape[0] if x.ndim else 1)
        else:
            g = _reduction_grad(grad, n, ctx.reduction)
        p = np.exp(t) if ctx.log_target else t
        dx = -g * p if ctx.needs_input_grad[0] else None
        dy = None
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                dy = g * p * (t - x + 1) if ctx.log_target else g * (np.log(t) + 1 - x)
        return dx, dy, None, None


# ---- class losses: rows of class scores -------------------------------------------

def _class_rows(op, input_data, target_data, probabilities):
    """Moves the class axis (1, or 0 for one unbatched sample) last and flattens
    the rest: (N, C, d1, ...) -> (N*d1*..., C). Returns the rows, the target
    flattened the same way and the shape of the per-sample loss."""
    if input_data.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    class_axis = 0 if input_data.ndim == 1 else 1
    classes = input_data.shape[class_axis]
    sample_shape = input_data.shape[:class_axis] + input_data.shape[class_axis + 1:]
    expected = input_data.shape if probabilities else sample_shape
    if target_data.shape != expected:
        kind = "probability target" if probabilities else "target"
        raise ValueError(f"{op}: {kind} has shape {tuple(target_data.shape)} but input {tuple(input_data.shape)} "
                         f"needs {tuple(expected)}")
    rows = np.ascontiguousarray(np.moveaxis(input_data, class_axis, -1)).reshape(-1, classes)
    if probabilities:
        target_rows = np.ascontiguousarray(np.moveaxis(target_data, class_axis, -1)).reshape(-1, classes)
    else:
        target_rows = np.ascontiguousarray(target_data, dtype=np.int64).reshape(-1)
    return rows, target_rows, sample_shape


def _class_grad(rows_grad, input_shape):
    """The inverse of _class_rows for a gradient: (M, C) back to input's layout."""
    class_axis = 0 if len(input_shape) == 1 else 1
    moved = input_shape[:class_axis] + input_shape[class_axis + 1:] + (input_shape[class_axis],)
    return np.moveaxis(rows_grad.reshape(moved), -1, class_axis)


def _row_grad(grad, reduction, total):
    """Per-row factors of the gradient of a row loss: (rows,) or a scalar."""
    if reduction == "none":
        return grad.reshape(-1)
    return grad / total if reduction == "mean" else grad


class CrossEntropy(Function):
    """log-softmax over the class axis and the negative log-likelihood of the
    target, fused in one C++ kernel (pyengine.kernels.cross_entropy_forward)."""

    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction, label_smoothing):
        probabilities = target.dtype.kind == "f"
        rows, target_rows, sample_shape = _class_rows("cross_entropy", input, target, probabilities)
        loss, lse, total = kernels.cross_entropy_forward(rows, target_rows, weight, ignore_index, label_smoothing,
                                                         reduction)
        ctx.save_for_backward(rows, target_rows, lse, weight)
        ctx.args = (total, ignore_index, label_smoothing, reduction)
        ctx.input_shape = input.shape
        return loss.reshape(sample_shape) if reduction == "none" else loss

    @staticmethod
    def backward(ctx, grad):
        rows, target_rows, lse, weight = ctx.saved_tensors
        total, ignore_index, label_smoothing, reduction = ctx.args
        g = np.ascontiguousarray(grad.reshape(-1) if reduction == "none" else grad, dtype=rows.dtype)
        dx = dt = None
        if ctx.needs_input_grad[0]:
            d_rows = kernels.cross_entropy_backward(g, rows, target_rows, lse, total, weight, ignore_index,
                                                    label_smoothing, reduction)
            dx = _class_grad(d_rows, ctx.input_shape)
        if ctx.needs_input_grad[1]:
            # d loss_i / d p_ic = (1 - e) w_c (lse_i - x_ic) for a probability target.
            row_grad = _row_grad(g, reduction, total)
            row_grad = row_grad[:, None] if reduction == "none" else row_grad
            d_rows = (1 - label_smoothing) * (lse[:, None] - rows) * row_grad
            if weight is not None:
                d_rows = d_rows * weight
            dt = _class_grad(d_rows, ctx.input_shape)
        return dx, dt, None, None, None, None


class NllLoss(Function):
    """-w[y] x[y] for log-probabilities x; the mean divides by the summed
    weights of the rows not ignored."""

    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction):
        rows, y, sample_shape = _class_rows("nll_loss", input, target, probabilities=False)
        classes = rows.shape[1]
        keep = y != ignore_index
        bad = keep & ((y < 0) | (y >= classes))
        if bad.any():
            raise ValueError(f"nll_loss: target {y[bad][0]} is out of range for {classes} classes")
        label = np.where(keep, y, 0)
        wy = (weight[label] if weight is not None else np.ones(len(y), rows.dtype)) * keep
        loss = -wy * rows[np.arange(len(y)), label]
        ctx.save_for_backward(label, wy)
        ctx.shapes = (rows.shape, input.shape)
        ctx.reduction = reduction
        ctx.total = wy.sum()
        if reduction == "none":
            return loss.reshape(sample_shape).astype(input.dtype, copy=False)
        with np.errstate(invalid="ignore"):  # no row counts: the mean is 0 / 0 = nan, as in PyTorch
            total = loss.sum() if reduction == "sum" else loss.sum() / ctx.total
        return np.asarray(total, dtype=input.dtype)

    @staticmethod
    def backward(ctx, grad):
        label, wy = ctx.saved_tensors
        rows_shape, input_shape = ctx.shapes
        d_rows = np.zeros(rows_shape, grad.dtype)
        d_rows[np.arange(len(label)), label] = -wy * _row_grad(grad, ctx.reduction, ctx.total)
        return _class_grad(d_rows, input_shape), None, None, None, None


class CtcLoss(Function):
    """Connectionist temporal classification: -log of the summed probability of
    every alignment of the target with the input (C++ forward-backward)."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
        unbatched = log_probs.ndim == 2  # one sample (T, C): a batch of one
        batched = log_probs[:, None, :] if unbatched else log_probs
        loss, log_alpha = kernels.ctc_loss_forward(batched, targets, input_lengths, target_lengths, blank)
        ctx.save_for_backward(log_probs, targets, input_lengths, target_lengths, loss, log_alpha)
        ctx.args = (blank, reduction, zero_infinity)
        out = np.where(np.isinf(loss), 0, loss).astype(loss.dtype) if zero_infinity else loss
        if reduction == "mean":
            # Each sample's loss is divided by its target length first, as in PyTorch.
            return np.asarray((out / np.maximum(target_lengths, 1)).mean(), dtype=loss.dtype)
        if reduction == "none" and unbatched:
            return out.reshape(())
        return _reduce(out, reduction)

    @staticmethod
    def backward(ctx, grad):
        log_probs, targets, input_lengths, target_lengths, loss, log_alpha = ctx.saved_tensors
        blank, reduction, zero_infinity = ctx.args
        shape = log_probs.shape
        if log_probs.ndim == 2:
            log_probs = log_probs[:, None, :]
        batch = log_probs.shape[1]
        if reduction == "mean":
            per_sample = grad / np.maximum(target_lengths, 1) / batch
        else:
            per_sample = np.broadcast_to(grad, (batch,))
        per_sample = np.ascontiguousarray(per_sample, dtype=log_probs.dtype)
        d = kernels.ctc_loss_backward(per_sample, log_probs, targets, input_lengths, target_lengths, loss, log_alpha,
                                      blank, zero_infinity)
        return d.reshape(shape), None, None, None, None, None, None


# ---- the user-facing functions ----------------------------------------------------

def _difference_loss(op, input, target, reduction, beta=0.0):
    _check_reduction(op, reduction)
    input = _float_input(op, input)
    target = _like_input(op, target, _data(input), "target")
    _check_broadcast(op, _data(input), target, "target")
    return DifferenceLoss.apply(input, target, op, reduction, beta)


def mse_loss(input, target, *, reduction="mean"):
    """Mean squared error: (input - target)^2, reduced."""
    return _difference_loss("mse_loss", input, target, reduction)


def l1_loss(input, target, *, reduction="mean"):
    """Mean absolute error: |input - target|, reduced."""
    return _difference_loss("l1_loss", input, target, reduction)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Huber-like loss: quadratic for |input - target| < beta, linear beyond."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _difference_loss("smooth_l1_loss", input, target, reduction, float(beta))


def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """-w (t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1]."""
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    input = _float_input(op, input)
    x = _data(input)
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"{op}: input values must be probabilities in [0, 1]")
    target = _like_input(op, target, x, "target")
    if _data(target).shape != x.shape:
        raise ValueError(f"{op}: target has shape {tuple(_data(target).shape)} but input has shape {tuple(x.shape)}")
    weight = _optional(weight, x)
    if weight is not None:
        _check_broadcast(op, x, weight, "weight")
    return BinaryCrossEntropy.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one numerically stable formula;
    pos_weight scales the positive term, broadcast along the last (class) axis."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    input = _float_input(op, input)
    x = _data(input)
    target = _like_input(op, target, x, "target")
    if _data(target).shape != x.shape:
        raise ValueError(f"{op}: target has shape {tuple(_data(target).shape)} but input has shape {tuple(x.shape)}")
    weight = _optional(weight, x)
    pos_weight = _optional(pos_weight, x)
    for name, w in (("weight", weight), ("pos_weight", pos_weight)):
        if w is not None:
            _check_broadcast(op, x, w, name)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction)


def kl_div(input, target, *, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with input given as log-probabilities.
    reduction='batchmean' divides the sum by the batch size (the true KL mean)."""
    op = "kl_div"
    _check_reduction(op, reduction, REDUCTIONS + ("batchmean",))
    input = _float_input(op, input)
    target = _like_input(op, target, _data(input), "target")
    _check_broadcast(op, _data(input), target, "target")
    return KlDiv.apply(input, target, reduction, bool(log_target))


def _class_target(op, target, input_data):
    """An index target (integers) or a probability target (floats, input's dtype)."""
    t = _data(target)
    if t.dtype.kind in "iu":
        return t
    if t.dtype.kind == "f":
        return _like_input(op, target, input_data, "target")
    raise TypeError(f"{op}: target must hold class indices (integers) or class probabilities (floats), "
                    f"got dtype {t.dtype}")


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and a target of class indices or class
    probabilities. input is (C,), (N, C) or (N, C, d1, ...); the class axis is 1.

    With label smoothing e the target distribution becomes (1 - e) target + e / C.
    weight (C,) rescales each class; ignore_index drops rows from the loss and
    from the mean's denominator (index targets only)."""
    op = "cross_entropy"
    _check_reduction(op, reduction)
    input = _float_input(op, input)
    x = _data(input)
    target = _class_target(op, target, x)
    return CrossEntropy.apply(input, target, _optional(weight, x), int(ignore_index), reduction,
                              float(label_smoothing))


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities input
    ((C,), (N, C) or (N, C, d1, ...), class axis 1)."""
    op = "nll_loss"
    _check_reduction(op, reduction)
    input = _float_input(op, input)
    x = _data(input)
    t = _data(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold class indices (integers), got dtype {t.dtype}")
    weight = _optional(weight, x)
    if weight is not None and weight.shape != (x.shape[0 if x.ndim == 1 else 1],):
        raise ValueError(f"{op}: weight has shape {weight.shape} but input {tuple(x.shape)} has "
                         f"{x.shape[0 if x.ndim == 1 else 1]} classes")
    return NllLoss.apply(input, t, weight, int(ignore_index), reduction)


def _lengths(op, lengths, name, batch):
    arr = np.asarray(_data(lengths))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.int64).reshape(-1) if arr.ndim == 0 else np.asarray(arr, dtype=np.int64)
    if arr.shape != (batch,):
        raise ValueError(f"{op}: {name} has shape {tuple(arr.shape)} but the batch has {batch} samples")
    return arr


def ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss (PyTorch's conventions).

    log_probs: (T, N, C) log-softmax outputs, or (T, C) for one sample.
    targets: padded (N, S) labels or all targets concatenated (sum of target_lengths,).
    input_lengths, target_lengths: (N,) integers. 'mean' divides each sample's
    loss by its target length, then averages over the batch. zero_infinity
    replaces the infinite loss of an impossible target (and its gradient) by 0."""
    op = "ctc_loss"
    _check_reduction(op, reduction)
    log_probs = _float_input(op, log_probs, "log_probs")
    lp = _data(log_probs)
    t = _data(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must hold integer labels, got dtype {t.dtype}")
    if lp.ndim not in (2, 3):
        raise ValueError(f"{op}: log_probs must be (T, N, C) or (T, C), got shape {tuple(lp.shape)}")
    batch = 1 if lp.ndim == 2 else lp.shape[1]
    if lp.ndim == 2:  # one sample: its targets (S,) become a batch of one
        t = t.reshape(1, -1)
    il = _lengths(op, input_lengths, "input_lengths", batch)
    tl = _lengths(op, target_lengths, "target_lengths", batch)
    return CtcLoss.apply(log_probs, t, il, tl, int(blank), reduction, bool(zero_infinity))
