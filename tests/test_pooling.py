import numpy as np
import pytest

import pyengine
import reference as ref
from pyengine.autograd import gradcheck
from pyengine.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def distinct_input(shape, dtype, seed=0):
    """Values with no ties, so the arg-max (and its gradient) is unambiguous."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0).astype(dtype)


def check_pool(fn, reference, x, grad_reference, **options):
    """Forward and input gradient of a pooling op against the reference."""
    xt = pyengine.Tensor(x, requires_grad=True)
    y = fn(xt, **options)
    want = reference(x)
    tol = 1e-6 if x.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y.data, want, rtol=tol, atol=tol)
    dy = np.random.default_rng(1).standard_normal(want.shape).astype(x.dtype)
    y.backward(dy)
    np.testing.assert_allclose(xt.grad.data, grad_reference(x, dy), rtol=tol, atol=tol)


MAX_CASES = [
    ((2, 3, 7, 9), dict(kernel_size=2)),
    ((2, 3, 6, 37), dict(kernel_size=2)),  # rows of 18: two blocks of eight outputs and a tail
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 8, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ((2, 1, 7, 7), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((1, 2, 6, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 1, 1, 1), dict(kernel_size=1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,options", MAX_CASES)
def test_max_pool2d(shape, options, dtype):
    k = pair(options["kernel_size"])
    geometry = (k, pair(options.get("stride", k)), pair(options.get("padding", 0)), pair(options.get("dilation", 1)),
                options.get("ceil_mode", False))

    def grad_ref(x, dy):
        _, idx = ref.max_pool2d(x, *geometry)
        dx = np.zeros(x.shape[:2] + (x.shape[2] * x.shape[3],))
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                np.add.at(dx[n, c], idx[n, c].reshape(-1), dy[n, c].reshape(-1))
        return dx.reshape(x.shape)

    x = distinct_input(shape, dtype)
    check_pool(max_pool2d, lambda x: ref.max_pool2d(x, *geometry)[0], x, grad_ref, **options)
    _, indices = max_pool2d(pyengine.Tensor(x), return_indices=True, **options)
    np.testing.assert_array_equal(indices.data, ref.max_pool2d(x, *geometry)[1])


def test_max_pool2d_ties_nan_and_unbatched():
    x = np.array([[[1.0, 1.0], [0.0, 1.0]]], np.float32)  # (C, H, W), a tie in the window
    y, idx = max_pool2d(pyengine.Tensor(x), 2, return_indices=True)
    assert y.shape == (1, 1, 1) and idx.data.item() == 0
    x = np.array([[[[1.0, np.nan], [3.0, 0.0]]]], np.float32)
    assert np.isnan(max_pool2d(pyengine.Tensor(x), 2).data.item())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_2x2_ties_and_nans_along_wide_rows(dtype):
    """Whole 2x2 blocks, rows long enough for eight outputs at a time: the first maximum
    in scan order wins a tie, and a window holding NaNs gives its last NaN."""
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (2, 3, 6, 37)).astype(dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.05] = -np.inf
    y, idx = max_pool2d(pyengine.Tensor(x), 2, return_indices=True)
    want_y, want_idx = np.empty(y.shape, dtype), np.empty(y.shape, np.int64)
    for n, c, oh, ow in np.ndindex(*y.shape):
        at = [(2 * oh + i) * x.shape[3] + 2 * ow + j for i in (0, 1) for j in (0, 1)]  # scan order
        values = x[n, c].reshape(-1)[at]
        k = max(i for i in range(4) if np.isnan(values[i])) if np.isnan(values).any() else int(np.argmax(values))
        want_y[n, c, oh, ow], want_idx[n, c, oh, ow] = values[k], at[k]
    np.testing.assert_array_equal(y.data, want_y)
    np.testing.assert_array_equal(idx.data, want_idx)


AVG_CASES = [
    ((2, 3, 7, 9), dict(kernel_size=2)),
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((1, 2, 6, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 6, 10), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False)),
    ((2, 1, 5, 5), dict(kernel_size=5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,options", AVG_CASES)
def test_avg_pool2d(shape, options, dtype):
    k = pair(options["kernel_size"])
    geometry = (k, pair(options.get("stride", k)), pair(options.get("padding", 0)), options.get("ceil_mode", False),
                options.get("count_include_pad", True))

    def grad_ref(x, dy):  # avg pooling is linear: its adjoint applied to dy, column by column
        basis = np.eye(x[0, 0].size).reshape((-1, 1) + x.shape[2:])
        columns = ref.avg_pool2d(basis, *geometry).reshape(x[0, 0].size, -1)  # (H*W, Hout*Wout)
        return np.einsum("ip,ncp->nci", columns, dy.reshape(dy.shape[:2] + (-1,))).reshape(x.shape)

    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    check_pool(avg_pool2d, lambda x: ref.avg_pool2d(x, *geometry), x, grad_ref, **options)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,output_size", [((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), 1), ((1, 1, 3, 4), (5, 7)),
                                               ((1, 2, 8, 6), (None, 3))])
def test_adaptive_avg_pool2d(shape, output_size, dtype):
    out = pair(output_size)
    out = tuple(shape[2 + d] if out[d] is None else out[d] for d in range(2))

    def grad_ref(x, dy):
        basis = np.eye(x[0, 0].size).reshape((-1, 1) + x.shape[2:])
        columns = ref.adaptive_avg_pool2d(basis, out).reshape(x[0, 0].size, -1)
        return np.einsum("ip,ncp->nci", columns, dy.reshape(dy.shape[:2] + (-1,))).reshape(x.shape)

    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    check_pool(adaptive_avg_pool2d, lambda x: ref.adaptive_avg_pool2d(x, out), x, grad_ref, output_size=output_size)


@pytest.mark.parametrize("op,options", [(max_pool2d, dict(kernel_size=3, stride=2, padding=1)),
                                        (avg_pool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                                        (adaptive_avg_pool2d, dict(output_size=(2, 3)))])
def test_pooling_gradcheck_non_contiguous_float64(op, options):
    wide = distinct_input((2, 2, 5, 14), np.float64, seed=4)
    x = pyengine.Tensor(wide[..., ::2], requires_grad=True)  # non-contiguous
    assert gradcheck(lambda x: op(x, **options), (x,))


def test_pooling_bit_identical_across_threads(threads):
    x = np.random.default_rng(6).standard_normal((4, 5, 13, 11)).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        xt = pyengine.Tensor(x, requires_grad=True)
        y = max_pool2d(xt, 3, 2, 1) * 2.0 + avg_pool2d(xt, 3, 2, 1)
        y.backward(np.ones(y.shape, np.float32))
        results.append((y.data, xt.grad.data))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_pooling_errors():
    x = pyengine.Tensor(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half of the kernel \(3, 3\)"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel \(5, 5\) .* larger than the padded input \(4, 4\)"):
        avg_pool2d(x, 5)
    with pytest.raises(ValueError, match=r"input must be \(N, C, H, W\) or \(C, H, W\), got shape \(4, 4\)"):
        max_pool2d(pyengine.Tensor(np.zeros((4, 4), np.float32)), 2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        adaptive_avg_pool2d(x, 0)
    import pyengine.kernels as K
    with pytest.raises(ValueError, match=r"indices holds 16 at flat position 0, outside an input plane of 16 elements "
                                         r"\(input_shape \(1, 1, 4, 4\)\)"):
        K.max_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), np.full((1, 1, 1, 1), 16), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="indices holds -1 at flat position 2, outside an input plane of 16 elements"):
        K.max_pool2d_backward(np.ones((2, 1, 1, 2), np.float32), np.array([[[[0, 3]]], [[[-1, 2]]]]), (2, 1, 4, 4))
