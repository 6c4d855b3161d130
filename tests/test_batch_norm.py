import numpy as np
import pytest

import pyengine
import reference as ref
from pyengine.autograd import gradcheck
from pyengine.ops.normalization import batch_norm


def check_batch_norm(shape, dtype, training, affine=True, contiguous=True):
    """Forward, running statistics and every gradient against the reference."""
    rng = np.random.default_rng(len(shape) * 10 + training)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    if not contiguous:
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    rm, rv = rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.5).astype(dtype)
    w = rng.standard_normal(c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    want, want_rm, want_rv = ref.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-3)
    xt = pyengine.Tensor(x, requires_grad=True)
    wt = pyengine.Tensor(w, requires_grad=True) if affine else None
    bt = pyengine.Tensor(b, requires_grad=True) if affine else None
    rmt, rvt = pyengine.Tensor(rm.copy()), pyengine.Tensor(rv.copy())
    y = batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.3, eps=1e-3)
    tol = 2e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(y.data, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(rmt.data, want_rm, rtol=tol, atol=tol)
    np.testing.assert_allclose(rvt.data, want_rv, rtol=tol, atol=tol)
    seed = rng.standard_normal(shape).astype(dtype)
    y.backward(seed)

    def f(x, w, b):
        return ref.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-3)[0] * seed

    args = (x, w if affine else np.ones(c), b if affine else np.zeros(c))
    grads = [xt.grad] + ([wt.grad, bt.grad] if affine else [])
    for i, g in enumerate(grads):
        numeric = ref.numerical_grad(f, args, i, eps=1e-5)
        np.testing.assert_allclose(g.data, numeric, rtol=5e-4 if dtype == np.float32 else 1e-6,
                                   atol=5e-4 if dtype == np.float32 else 1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 4, 5), (2, 3, 4, 5), (2, 1, 2, 3, 2), (3, 2, 5, 7)])  # the last: planes of 35, whole vectors and a tail
def test_batch_norm(shape, training, dtype):
    check_batch_norm(shape, dtype, training)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_affine_non_contiguous(training):
    check_batch_norm((3, 2, 3, 4), np.float64, training, affine=False, contiguous=False)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_float64(training):
    rng = np.random.default_rng(3)
    x, w, b = (pyengine.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((4, 3, 2, 3), (3,), (3,)))
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    assert gradcheck(lambda x, w, b: batch_norm(x, mean.copy(), var.copy(), w, b, training=training), (x, w, b))


def test_batch_norm_training_without_running_stats():
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    y = batch_norm(pyengine.Tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.data, ref.batch_norm(x, None, None, training=True)[0], rtol=1e-5, atol=1e-5)


def test_batch_norm_large_mean_is_stable():
    """Two-pass variance: a mean far above the spread still normalises to unit variance."""
    x = (np.random.default_rng(1).standard_normal((64, 2)) + 1e4).astype(np.float32)
    y = batch_norm(pyengine.Tensor(x), None, None, training=True, eps=0.0).data
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-3)


def test_batch_norm_bit_identical_across_threads(threads):
    x = np.random.default_rng(2).standard_normal((8, 6, 5, 7)).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        xt = pyengine.Tensor(x, requires_grad=True)
        y = batch_norm(xt, np.zeros(6, np.float32), np.ones(6, np.float32), training=True)
        y.backward(np.cos(np.arange(y.data.size, dtype=np.float32)).reshape(y.shape))
        results.append((y.data, xt.grad.data))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_errors():
    x = pyengine.Tensor(np.zeros((4, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"running_mean has shape \(2,\) but the input has 3 channels"):
        batch_norm(x, np.zeros(2, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="evaluation mode needs running_mean and running_var"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        batch_norm(pyengine.Tensor(np.zeros((1, 3), np.float32)), None, None, training=True)
    with pytest.raises(TypeError, match="running_var has dtype float64"):
        batch_norm(x, np.zeros(3, np.float32), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"input must be \(N, C\) or \(N, C, \*\)"):
        batch_norm(pyengine.Tensor(np.zeros(3, np.float32)), None, None, training=True)
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        batch_norm(x, frozen, np.ones(3, np.float32), training=True)
