import numpy as np
import pytest

import pyengine
import reference as ref
from pyengine.autograd import gradcheck
from pyengine.ops import loss as F

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


def tolerance(dtype, terms=1):
    """Value tolerances: float32 error grows with the number of summed terms."""
    if dtype == np.float64:
        return dict(rtol=1e-10, atol=1e-12)
    return dict(rtol=2e-5 * max(1.0, np.sqrt(terms)), atol=2e-5 * max(1.0, np.sqrt(terms)))


def check_loss(fn, ref_fn, args, diff=(0,), dtype=np.float64, **kwargs):
    """Runs fn on Tensors made from args (float arrays cast to dtype, those at
    positions `diff` requiring grad) and compares its value with ref_fn on the
    float64 arrays; in float64 also checks every gradient with gradcheck."""
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]
    tensors = [pyengine.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    out = fn(*tensors, **kwargs)
    expected = ref_fn(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], **kwargs)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, expected, **tolerance(dtype, np.size(args[0])))
    if dtype != np.float64 or not diff:
        return out
    gradcheck(lambda *a: fn(*a, **kwargs), tensors, atol=1e-8, rtol=1e-6)
    return out


# ---- pointwise losses ----------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_l1(name, reduction, dtype, rng):
    x, y = rng.standard_normal((2, 3, 7))
    check_loss(getattr(F, name), getattr(ref, name), [x, y], diff=(0, 1), dtype=dtype, reduction=reduction)


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_smooth_l1(beta, reduction, dtype, rng):
    x, y = rng.standard_normal((2, 4, 5))
    check_loss(F.smooth_l1_loss, ref.smooth_l1_loss, [x, y], diff=(0, 1), dtype=dtype, reduction=reduction, beta=beta)


def test_pointwise_losses_broadcast_target_and_read_views(rng):
    x = rng.standard_normal((6, 10))[:, ::2]
    y = rng.standard_normal(5)
    check_loss(F.mse_loss, ref.mse_loss, [x, y], diff=(0, 1))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy(weighted, reduction, dtype, rng):
    p = rng.uniform(0.05, 0.95, (4, 6))
    y = rng.uniform(0, 1, (4, 6))
    w = rng.uniform(0.5, 2, 6) if weighted else None
    check_loss(F.binary_cross_entropy, ref.binary_cross_entropy, [p, y], diff=(0, 1), dtype=dtype, weight=w,
               reduction=reduction)


def test_binary_cross_entropy_clamps_log_at_certain_probabilities():
    p = pyengine.tensor(np.array([0.0, 1.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(p.grad.data).all()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_with_logits(weighted, pos_weighted, reduction, dtype, rng):
    x = 3 * rng.standard_normal((5, 4))
    y = rng.uniform(0, 1, (5, 4))
    check_loss(F.binary_cross_entropy_with_logits, ref.binary_cross_entropy_with_logits, [x, y], diff=(0, 1),
               dtype=dtype, reduction=reduction, weight=rng.uniform(0.5, 2, (5, 1)) if weighted else None,
               pos_weight=rng.uniform(0.5, 3, 4) if pos_weighted else None)


def test_binary_cross_entropy_with_logits_is_stable_for_large_logits():
    x = np.array([-1000.0, 1000.0, -1000.0, 1000.0], np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    loss = F.binary_cross_entropy_with_logits(pyengine.tensor(x), y, reduction="none")
    np.testing.assert_array_equal(loss.data, [0.0, 0.0, 1000.0, 1000.0])


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_div(log_target, reduction, dtype, rng):
    x = np.log(rng.dirichlet(np.ones(6), 3))
    t = rng.dirichlet(np.ones(6), 3)
    t = np.log(t) if log_target else t
    check_loss(F.kl_div, ref.kl_div, [x, t], diff=(0, 1), dtype=dtype, reduction=reduction, log_target=log_target)


def test_kl_div_zero_target_contributes_nothing(rng):
    x = np.log(rng.dirichlet(np.ones(4), 2))
    t = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    check_loss(F.kl_div, ref.kl_div, [x, t], reduction="sum")


# ---- cross-entropy and NLL -------------------------------------------------------------

def class_problem(rng, shape, ignore=None, probabilities=False):
    """Logits of `shape` (class axis 1) and a target: labels with every third
    one set to `ignore`, or rows of class probabilities."""
    x = 2 * rng.standard_normal(shape)
    classes = shape[0] if len(shape) == 1 else shape[1]
    samples = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if probabilities:
        t = np.moveaxis(rng.dirichlet(np.ones(classes), samples), -1, min(1, len(shape) - 1))
        return x, np.ascontiguousarray(t)
    y = rng.integers(0, classes, samples)
    if ignore is not None and y.ndim:
        y.reshape(-1)[::3] = ignore
    return x, y


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (3, 8), (4, 9), (2, 17), (5,), (4, 3, 2, 3)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_index_target(shape, reduction, dtype, rng):
    x, y = class_problem(rng, shape)
    check_loss(F.cross_entropy, ref.cross_entropy, [x, y], dtype=dtype, reduction=reduction)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weight_ignore_index_smoothing(smoothing, ignore_index, reduction, rng):
    x, y = class_problem(rng, (6, 5, 2), ignore=ignore_index)
    w = rng.uniform(0.2, 2.0, 5)
    check_loss(F.cross_entropy, ref.cross_entropy, [x, y], weight=w, ignore_index=ignore_index,
               reduction=reduction, label_smoothing=smoothing)


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5), (7,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_target(shape, weighted, smoothing, reduction, rng):
    x, p = class_problem(rng, shape, probabilities=True)
    w = rng.uniform(0.2, 2.0, shape[0] if len(shape) == 1 else shape[1]) if weighted else None
    check_loss(F.cross_entropy, ref.cross_entropy, [x, p], diff=(0, 1), weight=w, reduction=reduction,
               label_smoothing=smoothing)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_wide_rows_and_views(dtype, rng):
    x = 3 * rng.standard_normal((40, 2002))[:, ::2]  # a non-contiguous view of 1001 classes
    y = rng.integers(0, 1001, 40)
    for smoothing in (0.0, 0.1):
        check_loss(F.cross_entropy, ref.cross_entropy, [x, y], diff=(), dtype=dtype, label_smoothing=smoothing)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_large_and_infinite_logits(dtype):
    x = np.array([[1e4, 0.0, -1e4], [-np.inf, 0.0, 1.0], [50.0, 50.0, 50.0]], dtype)
    loss = F.cross_entropy(pyengine.tensor(x), np.array([1, 2, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, [1e4, np.log1p(np.exp(-1.0)), np.log(3.0)], rtol=1e-6)


def test_cross_entropy_all_rows_ignored_gives_nan_mean_and_zero_gradient(rng):
    x = pyengine.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, np.full(3, -100))
    assert np.isnan(loss.item())
    assert F.cross_entropy(x, np.full(3, -100), reduction="sum").item() == 0.0
    F.cross_entropy(x, np.full(3, -100), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.data, 0.0)


def test_cross_entropy_gradient_is_softmax_minus_one_hot(rng):
    x = rng.standard_normal((5, 9)).astype(np.float32)
    y = rng.integers(0, 9, 5)
    t = pyengine.tensor(x, requires_grad=True)
    F.cross_entropy(t, y, reduction="sum").backward()
    softmax = np.exp(x - x.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    np.testing.assert_allclose(t.grad.data, softmax - np.eye(9)[y], atol=1e-6)


def test_cross_entropy_is_bit_identical_for_any_thread_count(threads, rng):
    x = rng.standard_normal((513, 100)).astype(np.float32)
    y = rng.integers(0, 100, 513)
    results = []
    for n in (1, 2):
        threads(n)
        t = pyengine.tensor(x, requires_grad=True)
        loss = F.cross_entropy(t, y, label_smoothing=0.1)
        loss.backward()
        results.append((loss.data.copy(), t.grad.data.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_cross_entropy_accepts_any_integer_target_dtype(rng):
    x, y = class_problem(rng, (4, 6))
    a = F.cross_entropy(pyengine.tensor(x), y.astype(np.int32)).item()
    assert a == F.cross_entropy(pyengine.tensor(x), y).item()


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 2, 3), (5,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss(shape, weighted, reduction, dtype, rng):
    x, y = class_problem(rng, shape, ignore=-100)
    classes = shape[0] if len(shape) == 1 else shape[1]
    w = rng.uniform(0.2, 2.0, classes) if weighted else None
    check_loss(F.nll_loss, ref.nll_loss, [x, y], dtype=dtype, weight=w, reduction=reduction)


def test_cross_entropy_equals_nll_of_log_softmax(rng):
    x, y = class_problem(rng, (6, 7), ignore=-100)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    w = rng.uniform(0.5, 2, 7)
    np.testing.assert_allclose(F.cross_entropy(pyengine.tensor(x), y, w).item(),
                               F.nll_loss(pyengine.tensor(logp), y, w).item(), rtol=1e-12)


# ---- CTC --------------------------------------------------------------------------

def log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def ctc_problem(rng, T, N, C, max_target, blank=0, padded=True, lengths=None):
    """Random log-softmax outputs (T, N, C) and targets avoiding the blank,
    each with its first label repeated (the case that needs a blank between)."""
    log_probs = log_softmax(rng.standard_normal((T, N, C)))
    labels = [c for c in range(C) if c != blank]
    target_lengths = np.array(lengths if lengths is not None else rng.integers(0, max_target + 1, N))
    input_lengths = np.array([rng.integers(min(T, 2 * n + 1), T + 1) for n in target_lengths])
    targets = rng.choice(labels, (N, max_target))
    targets[:, 1:2] = targets[:, :1]
    if not padded:
        targets = np.concatenate([targets[b, :n] for b, n in enumerate(target_lengths)])
    return log_probs, targets, input_lengths, target_lengths


@pytest.mark.parametrize("target", [[], [1], [1, 1], [1, 2], [2, 1, 2]])
def test_ctc_matches_brute_force_sum_over_alignments(target, rng):
    logp = log_softmax(rng.standard_normal((5, 1, 3)))
    loss = F.ctc_loss(pyengine.tensor(logp), np.array([target], np.int64).reshape(1, -1), [5], [len(target)],
                      reduction="none")
    np.testing.assert_allclose(loss.data, [ref.ctc_brute_force(logp[:, 0], target)], rtol=1e-12)


def test_ctc_brute_force_with_blank_last(rng):
    logp = log_softmax(rng.standard_normal((5, 1, 3)))
    loss = F.ctc_loss(pyengine.tensor(logp), np.array([[0, 0, 1]]), [5], [3], blank=2, reduction="none")
    np.testing.assert_allclose(loss.data, [ref.ctc_brute_force(logp[:, 0], [0, 0, 1], blank=2)], rtol=1e-12)


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("blank", [0, 3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_matches_log_space_recursion(padded, blank, reduction, dtype, rng):
    lp, targets, il, tl = ctc_problem(rng, 30, 5, 7, 8, blank=blank, padded=padded, lengths=[8, 0, 3, 5, 8])
    out = check_loss(F.ctc_loss, ref.ctc_loss, [lp, targets, il, tl], diff=(), dtype=dtype, blank=blank,
                     reduction=reduction)
    assert np.isfinite(out.data).all()


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_gradient(padded, reduction, rng):
    lp, targets, il, tl = ctc_problem(rng, 6, 3, 4, 2, padded=padded, lengths=[2, 1, 0])
    check_loss(F.ctc_loss, ref.ctc_loss, [lp, targets, il, tl], reduction=reduction)


def test_ctc_gradient_with_repeated_labels_and_blank_not_zero(rng):
    lp = log_softmax(rng.standard_normal((7, 2, 4)))
    check_loss(F.ctc_loss, ref.ctc_loss, [lp, np.array([[1, 1, 0], [2, 0, 2]]), np.array([7, 6]), np.array([3, 2])],
               blank=3, reduction="sum")


def test_ctc_gradient_through_log_softmax_is_softmax_minus_occupancy(rng):
    """d loss / d logits = softmax - gamma, gamma_t(c) the posterior of label c at
    step t: its rows sum to 1, so each row of the logit gradient sums to 0."""
    x = pyengine.tensor(rng.standard_normal((8, 1, 5)))
    lp = log_softmax(x.data)
    t = pyengine.tensor(lp, requires_grad=True)
    F.ctc_loss(t, np.array([[1, 2, 2]]), [8], [3], reduction="sum").backward()
    gamma = -t.grad.data
    np.testing.assert_allclose(gamma.sum(-1), 1.0, rtol=1e-12)
    assert (gamma >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_impossible_target_is_infinite_and_zero_infinity_clears_it(dtype, rng):
    lp = log_softmax(rng.standard_normal((3, 2, 3))).astype(dtype)
    targets = np.array([[1, 1, 1], [1, 2, 0]])  # sample 0 needs 5 steps, sample 1 fits
    il, tl = [3, 3], [3, 2]
    loss = F.ctc_loss(pyengine.tensor(lp), targets, il, tl, reduction="none")
    assert np.isinf(loss.data[0]) and np.isfinite(loss.data[1])
    t = pyengine.tensor(lp, requires_grad=True)
    F.ctc_loss(t, targets, il, tl, reduction="sum").backward()
    assert np.isnan(t.grad.data[:, 0]).all() and np.isfinite(t.grad.data[:, 1]).all()
    t = pyengine.tensor(lp, requires_grad=True)
    cleared = F.ctc_loss(t, targets, il, tl, reduction="sum", zero_infinity=True)
    np.testing.assert_allclose(cleared.item(), loss.data[1], rtol=1e-6)
    cleared.backward()
    np.testing.assert_array_equal(t.grad.data[:, 0], 0.0)
    assert np.abs(t.grad.data[:, 1]).sum() > 0


def test_ctc_zero_probabilities_give_finite_loss_and_gradient(rng):
    lp, targets, il, tl = ctc_problem(rng, 12, 2, 5, 3, lengths=[3, 2])
    targets[targets == 4] = 1
    lp[:, :, 4] = -np.inf  # a class never emitted
    lp[3, 0, targets[0, 2]] = -np.inf  # a target label impossible at one step
    t = pyengine.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(t, targets, il, tl, reduction="none")
    np.testing.assert_allclose(loss.data, ref.ctc_loss(lp, targets, il, tl, reduction="none"), rtol=1e-12)
    loss.sum().backward()
    assert np.isfinite(t.grad.data).all()
    np.testing.assert_array_equal(t.grad.data[:, :, 4], 0.0)


def test_ctc_zero_lengths():
    lp = np.log(np.full((4, 3, 3), 1 / 3))
    loss = F.ctc_loss(pyengine.tensor(lp), np.zeros((3, 0), np.int64), [4, 0, 0], [0, 0, 0], reduction="none")
    np.testing.assert_allclose(loss.data, [4 * np.log(3), 0.0, 0.0], rtol=1e-12)
    assert np.isinf(F.ctc_loss(pyengine.tensor(lp[:, :1]), np.array([[1]]), [0], [1], reduction="none").item())


def test_ctc_gradient_is_zero_past_input_length(rng):
    lp, targets, _, tl = ctc_problem(rng, 9, 2, 4, 2, lengths=[2, 1])
    t = pyengine.tensor(lp, requires_grad=True)
    F.ctc_loss(t, targets, [5, 9], tl).backward()
    np.testing.assert_array_equal(t.grad.data[5:, 0], 0.0)
    assert (t.grad.data[:5, 0] != 0).any()


def test_ctc_reads_non_contiguous_log_probs(rng):
    lp, targets, il, tl = ctc_problem(rng, 10, 3, 5, 3)
    view = np.swapaxes(np.ascontiguousarray(np.swapaxes(lp, 0, 1)), 0, 1)  # (T, N, C) with batch-major strides
    t = pyengine.from_numpy(view)
    assert not t.data.flags.c_contiguous
    np.testing.assert_allclose(F.ctc_loss(t, targets, il, tl, reduction="none").data,
                               ref.ctc_loss(lp, targets, il, tl, reduction="none"), rtol=1e-12)


def test_ctc_unbatched_input(rng):
    lp = log_softmax(rng.standard_normal((6, 4)))
    t = pyengine.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(t, np.array([1, 3]), 6, 2, reduction="none")
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), ref.ctc_log_alpha_loss(lp, [1, 3]), rtol=1e-12)
    loss.backward()
    assert t.grad.shape == (6, 4)


def test_ctc_is_bit_identical_for_any_thread_count(threads, rng):
    lp, targets, il, tl = ctc_problem(rng, 50, 7, 10, 12)
    lp = lp.astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        t = pyengine.tensor(lp, requires_grad=True)
        loss = F.ctc_loss(t, targets, il, tl)
        loss.backward()
        results.append((loss.data.copy(), t.grad.data.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---- errors ------------------------------------------------------------------------

def test_errors_name_the_op_and_shapes(rng):
    x = pyengine.tensor(rng.standard_normal((4, 5)))
    cases = [
        (ValueError, r"mse_loss: input \(4, 5\) and target \(3,\) cannot be broadcast",
         lambda: F.mse_loss(x, np.zeros(3))),
        (ValueError, "l1_loss: reduction must be one of 'none', 'mean', 'sum', got 'avg'",
         lambda: F.l1_loss(x, x, reduction="avg")),
        (ValueError, r"cross_entropy: target has shape \(3,\) but input \(4, 5\) needs \(4,\)",
         lambda: F.cross_entropy(x, np.zeros(3, np.int64))),
        (ValueError, "cross_entropy: target 5 at row 1 is out of range for 5 classes",
         lambda: F.cross_entropy(x, np.array([0, 5, 1, 1]))),
        (ValueError, r"cross_entropy: weight has shape \(4,\) but input has 5 classes",
         lambda: F.cross_entropy(x, np.zeros(4, np.int64), np.ones(4))),
        (ValueError, r"cross_entropy: label_smoothing must be in \[0, 1\]",
         lambda: F.cross_entropy(x, np.zeros(4, np.int64), label_smoothing=1.5)),
        (ValueError, r"cross_entropy: probability target has shape \(4, 5, 1\) but input \(4, 5\) needs",
         lambda: F.cross_entropy(x, np.zeros((4, 5, 1)))),
        (TypeError, "cross_entropy: input must be a float32 or float64 tensor, got dtype int64",
         lambda: F.cross_entropy(np.zeros((2, 3), np.int64), np.zeros(2, np.int64))),
        (ValueError, "nll_loss: target 7 is out of range for 5 classes",
         lambda: F.nll_loss(x, np.array([0, 7, 1, 1]))),
        (ValueError, r"binary_cross_entropy: input values must be probabilities in \[0, 1\]",
         lambda: F.binary_cross_entropy(x, np.zeros((4, 5)))),
        (ValueError, "smooth_l1_loss: beta must be >= 0", lambda: F.smooth_l1_loss(x, x, beta=-1.0)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


def test_ctc_errors_name_the_op_and_shapes(rng):
    lp = pyengine.tensor(log_softmax(rng.standard_normal((5, 2, 4))))
    targets = np.array([[1, 2], [3, 1]])
    cases = [
        (r"ctc_loss: input_lengths\[1\] = 6 is outside \[0, 5\] \(log_probs \(5, 2, 4\)\)",
         lambda: F.ctc_loss(lp, targets, [5, 6], [2, 2])),
        (r"ctc_loss: target_lengths\[0\] = 3 exceeds the padded targets' length \(targets \(2, 2\)\)",
         lambda: F.ctc_loss(lp, targets, [5, 5], [3, 2])),
        (r"ctc_loss: target label 0 of sample 0 \(position 1\) must be in \[0, 4\) and differ from blank 0",
         lambda: F.ctc_loss(lp, np.array([[1, 0], [3, 1]]), [5, 5], [2, 2])),
        (r"ctc_loss: blank 4 is out of range for 4 classes", lambda: F.ctc_loss(lp, targets, [5, 5], [2, 2], blank=4)),
        (r"ctc_loss: input_lengths has shape \(3,\) but the batch has 2 samples",
         lambda: F.ctc_loss(lp, targets, [5, 5, 5], [2, 2])),
        (r"ctc_loss: concatenated targets have 3 labels but target_lengths sum to 4",
         lambda: F.ctc_loss(lp, np.array([1, 2, 3]), [5, 5], [2, 2])),
        (r"ctc_loss: log_probs must be \(T, N, C\) or \(T, C\), got shape \(5,\)",
         lambda: F.ctc_loss(pyengine.tensor(np.zeros(5)), targets, [5, 5], [2, 2])),
    ]
    for message, call in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="ctc_loss: targets must hold integer labels, got dtype float64"):
        F.ctc_loss(lp, targets.astype(float), [5, 5], [2, 2])


# ---- modules -----------------------------------------------------------------------

def module_cases(rng):
    """(module, functional call giving the same loss, module inputs) per loss module."""
    from pyengine import nn

    x, y = rng.standard_normal((2, 4, 5))
    labels = rng.integers(0, 5, 4)
    w = rng.uniform(0.5, 2, 5)
    p = rng.uniform(0.1, 0.9, (4, 5))
    logp = log_softmax(rng.standard_normal((6, 2, 5)))
    ctc_args = (logp, np.array([[1, 2], [3, 0]]), [6, 5], [2, 1])
    return [
        (nn.MSELoss(reduction="sum"), lambda: F.mse_loss(x, y, reduction="sum"), (x, y)),
        (nn.L1Loss(), lambda: F.l1_loss(x, y), (x, y)),
        (nn.SmoothL1Loss(beta=0.5), lambda: F.smooth_l1_loss(x, y, beta=0.5), (x, y)),
        (nn.CrossEntropyLoss(w, ignore_index=1, label_smoothing=0.1),
         lambda: F.cross_entropy(x, labels, w, ignore_index=1, label_smoothing=0.1), (x, labels)),
        (nn.NLLLoss(w, reduction="none"), lambda: F.nll_loss(x, labels, w, reduction="none"), (x, labels)),
        (nn.BCELoss(w), lambda: F.binary_cross_entropy(p, p, w), (p, p)),
        (nn.BCEWithLogitsLoss(pos_weight=w), lambda: F.binary_cross_entropy_with_logits(x, p, pos_weight=w), (x, p)),
        (nn.KLDivLoss("batchmean", log_target=True), lambda: F.kl_div(x, y, reduction="batchmean", log_target=True),
         (x, y)),
        (nn.CTCLoss(blank=4, zero_infinity=True), lambda: F.ctc_loss(*ctc_args, blank=4, zero_infinity=True),
         ctc_args),
    ]


def test_loss_modules_match_their_functions(rng):
    for module, functional, inputs in module_cases(rng):
        tensors = [pyengine.tensor(a) if isinstance(a, np.ndarray) else a for a in inputs]
        np.testing.assert_array_equal(module(*tensors).data, functional().data, err_msg=type(module).__name__)


def test_loss_module_weights_are_buffers(rng):
    from pyengine import nn

    loss = nn.BCEWithLogitsLoss(np.ones(3), pos_weight=np.full(3, 2.0))
    assert list(loss.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert loss.to(pyengine.float64).pos_weight.dtype == np.float64
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        nn.CrossEntropyLoss(reduction="batchmean")
