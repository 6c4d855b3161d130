import numpy as np
import pytest

import pyengine
import pyengine.kernels as K
import reference as ref
from pyengine.autograd import gradcheck
from pyengine.ops.conv import causal_conv1d, conv1d, conv2d, conv_transpose2d


def pads4(padding, kernel, dilation):
    """The test's own reading of PyTorch's padding forms, as (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph, pw, pw)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def assert_close(got, want, bound, length, dtype):
    """|got - want| within a few roundings per term of a length-`length` sum whose terms total `bound`."""
    eps = np.finfo(dtype).eps
    atol = 8 * eps * np.sqrt(max(length, 1)) * max(float(np.max(bound, initial=0.0)), 1e-300)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=0, atol=atol)


def make_input(rng, shape, dtype, contiguous=True):
    """A standard-normal array; non-contiguous ones are every other column of a wider array."""
    if contiguous:
        return rng.standard_normal(shape).astype(dtype)
    wide = rng.standard_normal(shape[:-1] + (2 * shape[-1],)).astype(dtype)
    return wide[..., ::2]


def check_conv(x_shape, w_shape, dtype=np.float32, bias=True, stride=1, padding=0, dilation=1, groups=1,
               contiguous=True):
    """conv2d forward and every gradient against the reference."""
    rng = np.random.default_rng(hash((x_shape, w_shape)) % 2**32)
    x = make_input(rng, x_shape, dtype, contiguous)
    w = make_input(rng, w_shape, dtype, contiguous)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    xt = pyengine.Tensor(x, requires_grad=True)
    wt = pyengine.Tensor(w, requires_grad=True)
    bt = pyengine.Tensor(b, requires_grad=True) if bias else None
    y = conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    geometry = (pair(stride), pads4(padding, w_shape[2:], pair(dilation)), pair(dilation), groups)
    want = ref.conv2d(x, w, b, *geometry)
    assert y.shape == want.shape and y.dtype == dtype
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    assert_close(y.data, want, ref.conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b), *geometry), taps,
                 dtype)
    dy = rng.standard_normal(want.shape).astype(dtype)
    y.backward(dy)
    dx, dw, db = ref.conv2d_grads(x, w, dy, *geometry)
    bx, bw, _ = ref.conv2d_grads(np.abs(x), np.abs(w), np.abs(dy), *geometry)
    assert_close(xt.grad.data, dx, bx, w_shape[0] // groups * w_shape[2] * w_shape[3], dtype)
    assert_close(wt.grad.data, dw, bw, dy.size // dy.shape[1], dtype)
    if bias:
        assert_close(bt.grad.data, db, np.abs(dy).sum(axis=(0, 2, 3)), dy.size // dy.shape[1], dtype)


CASES = [
    # x shape, w shape, options
    ((2, 3, 7, 9), (4, 3, 3, 3), {}),
    ((2, 3, 7, 9), (4, 3, 3, 3), dict(padding=1)),
    ((1, 5, 8, 11), (6, 5, 3, 2), dict(stride=2, padding=(1, 0))),
    ((2, 4, 9, 7), (3, 4, 3, 3), dict(stride=(2, 3), padding=2, dilation=(2, 1))),
    ((1, 2, 13, 13), (3, 2, 5, 5), dict(dilation=2, padding=3)),
    ((2, 6, 6, 5), (4, 3, 3, 3), dict(groups=2, padding=1)),
    ((2, 6, 6, 5), (9, 2, 2, 3), dict(groups=3, stride=2, padding=1)),
    ((2, 4, 6, 7), (4, 1, 3, 3), dict(groups=4, padding=1)),                      # depthwise
    ((2, 3, 7, 6), (6, 1, 3, 3), dict(groups=3, stride=2, padding=1)),           # depthwise, multiplier 2, stride 2
    ((1, 5, 11, 10), (5, 1, 5, 3), dict(groups=5, padding=(2, 1), dilation=(1, 2))),
    ((2, 7, 5, 6), (3, 7, 1, 1), {}),                                             # 1x1: no im2col
    ((2, 8, 5, 6), (6, 4, 1, 1), dict(groups=2)),
    ((2, 8, 5, 6), (6, 8, 1, 1), dict(stride=2)),
    ((3, 1, 12, 21), (5, 1, 5, 5), {}),                                           # first layer, direct path
    ((2, 3, 11, 19), (9, 3, 3, 3), dict(padding=1)),
    ((2, 4, 10, 17), (6, 4, 3, 3), dict(padding="same", dilation=(2, 1))),
    ((2, 3, 9, 9), (5, 3, 3, 3), dict(stride=2, padding=1)),                      # few channels, strided
    ((1, 1, 1, 1), (1, 1, 1, 1), {}),
    ((1, 2, 4, 4), (3, 2, 4, 4), {}),                                             # kernel = input
    ((1, 3, 5, 5), (2, 3, 4, 2), dict(padding="same")),                           # even kernel: odd cell bottom/right
    ((1, 3, 6, 5), (2, 3, 3, 3), dict(padding="valid")),
    ((2, 5, 2, 3), (4, 5, 5, 5), dict(padding=2)),                               # kernel taller than the image
    ((1, 6, 9, 11), (4, 6, 3, 3), dict(padding="same", dilation=2)),            # "same" rows unfolded as blocks
    # big enough for the blocked GEMM: columns unfolded straight into its packed
    # panels (a last panel cut short, strides and dilation, two blocks of k)
    ((2, 8, 13, 21), (20, 8, 3, 3), dict(padding=1)),
    ((1, 6, 23, 29), (18, 6, 3, 3), dict(stride=(2, 1), padding=2, dilation=2)),
    ((1, 32, 9, 10), (17, 32, 3, 3), dict(padding=1)),
    ((3, 8, 3, 5), (9, 8, 3, 3), dict(padding=1)),                               # small maps: images in parallel
    ((1, 6, 3, 300), (8, 6, 3, 3), dict(padding=1)),                             # a weight-gradient step of one long row
    ((2, 6, 6, 7), (5, 6, 3, 3), dict(padding=3)),                               # padding wider than the kernel's reach
    ((1, 5, 5, 6), (3, 5, 4, 2), dict(padding="same")),                          # left and right padding differ
    ((1, 5, 5, 9), (3, 5, 3, 2), dict(padding="same")),                          # the same, grid tiles at 16, 8 and 4 lanes
    ((2, 6, 9, 10), (4, 6, 3, 1), {}),                                           # grid tiles of no padding: runs cross rows
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,options", CASES)
def test_conv2d(x_shape, w_shape, options, dtype):
    check_conv(x_shape, w_shape, dtype, **options)


@pytest.mark.parametrize("x_shape,w_shape,options", [CASES[1], CASES[7], CASES[10], CASES[13]])
def test_conv2d_non_contiguous(x_shape, w_shape, options):
    check_conv(x_shape, w_shape, contiguous=False, **options)


def test_conv2d_without_bias_and_zero_batch():
    check_conv((2, 3, 5, 5), (4, 3, 3, 3), bias=False, padding=1)
    y = conv2d(pyengine.Tensor(np.zeros((0, 3, 5, 5), np.float32)), pyengine.Tensor(np.ones((4, 3, 3, 3), np.float32)))
    assert y.shape == (0, 4, 3, 3)


@pytest.mark.parametrize("budget", [4096, 20000, 40000])
def test_conv2d_chunked_batch_and_rows(budget):
    """A small scratch budget forces several chunks per batch and, below one
    image's columns, chunks of output rows; results stay the reference's."""
    saved = K.conv_scratch_budget()
    try:
        K.set_conv_scratch_budget(budget)
        # the passes that unfold whole chunks: strided rows, and grouped layers
        check_conv((5, 6, 9, 10), (4, 6, 3, 3), stride=(1, 2), padding=1)
        check_conv((2, 8, 13, 21), (40, 8, 3, 3), stride=2, padding=1)
        check_conv((3, 6, 8, 7), (6, 3, 3, 2), dtype=np.float64, stride=(2, 1), padding=1, groups=2)
    finally:
        K.set_conv_scratch_budget(saved)


def same_at_1_2_3_threads(threads, x, w, b, **options):
    """run_conv's results, asserted byte-identical at 1, 2 and 3 threads."""
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(run_conv(x, w, b, **options))
    for got in results[1:]:
        for a, e in zip(got, results[0]):
            np.testing.assert_array_equal(a, e)
    return results[0]


def test_conv2d_small_maps_identical_across_threads(threads):
    # 3 x 5 outputs per image: too few tiles to share, so images run in parallel
    # at 2 and 3 threads and one after another at 1.
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(5, 8, 3, 5), (9, 8, 3, 3), (9,)])
    same_at_1_2_3_threads(threads, x, w, b, padding=1)


@pytest.mark.parametrize("channels,kernel", [(12, 3), (16, 5), (16, 3)], ids=["indirect", "indirect 5x5", "winograd"])
def test_conv2d_forward_shares_out_tiles_without_changing_bytes(threads, channels, kernel):
    # Several chunks of tiles per image and an odd batch: whichever thread ends up
    # computing a chunk (its owner or a helper), each output is the same kernel call's.
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal(s).astype(np.float32)
               for s in [(7, channels, 20, 22), (40, channels, kernel, kernel), (40,)])
    threads(1)
    pads = [kernel // 2] * 4
    want = K.conv2d_forward(x, w, b, [1, 1], pads)
    for n in (2, 3, 2, 3):
        threads(n)
        assert K.conv2d_forward(x, w, b, [1, 1], pads).tobytes() == want.tobytes()


# 3x3, stride-1 layers of at least 16 channels in and out and 128 tiles of
# 2 x 2 outputs in the batch take the Winograd F(2x2, 3x3) path (their input
# gradients too, 3x3 convolutions with K and C exchanged); each case is
# checked against the direct sum.
WINOGRAD_CASES = [
    ((8, 16, 8, 8), (16, 16, 3, 3), dict(padding=1)),             # tile rows of 4: panels wrap rows
    ((4, 17, 9, 13), (19, 17, 3, 3), dict(padding=1)),            # odd maps: tiles half outside; K past whole tiles
    ((4, 16, 5, 40), (16, 16, 3, 3), {}),                         # 19 tiles to a row, no padding
    ((6, 20, 7, 7), (40, 20, 3, 3), dict(padding=2)),             # padding past the kernel's reach; two blocks of K
    ((11, 16, 6, 11), (16, 16, 3, 3), dict(padding=(0, 1))),
    ((128, 16, 3, 3), (16, 16, 3, 3), {}),                        # one output: one tile, 3 of its 4 outputs outside
    ((130, 16, 2, 2), (18, 16, 3, 3), dict(padding=1)),
    # images of at least 128 tiles: the weight gradient takes the path too
    ((2, 16, 24, 26), (16, 16, 3, 3), dict(padding=1)),
    ((1, 17, 25, 23), (19, 17, 3, 3), dict(padding=1)),           # odd maps: a last panel of the image cut short
    ((2, 16, 30, 27), (24, 16, 3, 3), {}),
]
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,options", WINOGRAD_CASES)
def test_conv2d_winograd(x_shape, w_shape, options, dtype):
    check_conv(x_shape, w_shape, dtype, **options)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_winograd_uneven_padding(dtype):
    # The kernel-level API takes each side's padding: (top, bottom, left, right).
    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(6, 16, 9, 10), (17, 16, 3, 3), (17,)])
    pads = (0, 2, 1, 0)
    y = K.conv2d_forward(x, w, b, [1, 1], list(pads))
    geometry = ((1, 1), pads, (1, 1), 1)
    want = ref.conv2d(x, w, b, *geometry)
    assert y.shape == want.shape
    assert_close(y, want, ref.conv2d(np.abs(x), np.abs(w), np.abs(b), *geometry), 16 * 9, dtype)
    dy = rng.standard_normal(want.shape).astype(dtype)
    dx = K.conv2d_backward_input(dy, w, list(x.shape), [1, 1], list(pads))
    bx, _, _ = ref.conv2d_grads(np.abs(x), np.abs(w), np.abs(dy), *geometry)
    assert_close(dx, ref.conv2d_grads(x, w, dy, *geometry)[0], bx, 17 * 9, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_winograd_keeps_the_direct_sums_infinities(dtype):
    # The transforms add and subtract inputs: an infinite pixel would give NaN
    # (inf - inf) where the direct sum gives +-inf, and a 2 x 2 block of huge
    # inputs adds up past the largest float where the direct sum, whose weights
    # are small, does not. Such outputs are computed again as the direct sum.
    rng = np.random.default_rng(9)
    x, b = rng.standard_normal((8, 16, 8, 8)).astype(dtype), rng.standard_normal(16).astype(dtype)
    w = rng.uniform(-0.2, 0.2, (16, 16, 3, 3)).astype(dtype)
    x[0, 3, 4, 4] = np.inf
    x[1, 2, 2:4, 2:4] = 0.3 * np.finfo(dtype).max
    y = K.conv2d_forward(x, w, b, [1, 1], [1, 1, 1, 1])
    geometry = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    want = ref.conv2d(x, w, b, *geometry)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
    np.testing.assert_array_equal(y[np.isinf(y)], want[np.isinf(want)])
    assert np.isfinite(y[1:]).all()
    assert_close(y[1:], want[1:], ref.conv2d(np.abs(x[1:]), np.abs(w), np.abs(b), *geometry), 16 * 9, dtype)


def test_conv2d_winograd_weight_gradient_keeps_infinities():
    # An infinite input makes the weight gradients that see it +-inf or NaN,
    # as in the direct sum, not NaN throughout the transformed sums.
    rng = np.random.default_rng(10)
    x, dy = (rng.standard_normal(s).astype(np.float32) for s in [(2, 16, 24, 24), (2, 16, 24, 24)])
    x[1, 5, 7, 9] = np.inf
    dw = K.conv2d_backward_weight(x, dy, [16, 16, 3, 3], [1, 1], [1, 1, 1, 1])
    _, want, _ = ref.conv2d_grads(x, np.zeros((16, 16, 3, 3)), dy, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(dw), np.isinf(want))
    assert np.isfinite(dw[:, :5]).all() and not np.isfinite(dw[:, 5]).all()


def test_conv2d_input_gradient_of_an_empty_input():
    # Padding 2 around 0 rows gives 2 output rows, whose input gradient is the
    # convolution of a shape with no outputs at all.
    x = pyengine.Tensor(np.zeros((2, 8, 0, 3), np.float32), requires_grad=True)
    w = pyengine.Tensor(np.ones((8, 8, 3, 3), np.float32), requires_grad=True)
    b = pyengine.Tensor(np.zeros(8, np.float32), requires_grad=True)
    y = conv2d(x, w, b, padding=(2, 1))
    assert y.shape == (2, 8, 2, 3)
    y.backward(np.ones(y.shape, np.float32))
    assert x.grad.shape == (2, 8, 0, 3)
    np.testing.assert_array_equal(w.grad.data, 0)
    np.testing.assert_array_equal(b.grad.data, 12)


def run_conv(x, w, b, **options):
    xt, wt, bt = (pyengine.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(xt, wt, bt, **options)
    y.backward(np.cos(np.arange(y.data.size, dtype=x.dtype)).reshape(y.shape))
    return y.data, xt.grad.data, wt.grad.data, bt.grad.data


@pytest.mark.parametrize("w_shape,options", [
    ((8, 6, 3, 3), dict(padding=1)),                 # indirect kernel, weight gradient on one thread
    ((48, 8, 3, 3), dict(padding=1)),                 # weight gradient: threads split its rows
    ((8, 6, 1, 1), {}),                               # pointwise
    ((8, 1, 3, 3), {}),                               # first layer: one input channel, direct kernels
    ((6, 1, 3, 3), dict(groups=6, padding=1)),        # depthwise
])
def test_conv2d_bit_identical_across_threads(threads, w_shape, options):
    rng = np.random.default_rng(3)
    c = w_shape[1] * options.get("groups", 1)
    x = rng.standard_normal((7, c, 11, 13)).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    results = []
    saved = K.conv_scratch_budget()
    for n, budget in [(1, saved), (2, saved), (2, 30000), (1, 30000)]:
        threads(n)
        K.set_conv_scratch_budget(budget)
        try:
            results.append(run_conv(x, w, b, **options))
        finally:
            K.set_conv_scratch_budget(saved)
    for got in results[1:2]:
        for a, e in zip(got, results[0]):
            np.testing.assert_array_equal(a, e)
    for a, e in zip(results[3], results[2]):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("x_shape,w_shape,options", [
    ((8, 16, 16, 16), (48, 8, 3, 3), dict(groups=2, padding=1)),   # grouped weight gradient on several threads
    ((2, 64, 16, 16), (16, 64, 3, 3), dict(padding=1)),            # more rows per thread than one unfolded block
    ((1, 12, 28, 28), (16, 12, 3, 3), dict(padding=1)),            # batch 1: grid tiles shared out over threads
    ((1, 16, 28, 28), (16, 16, 3, 3), dict(padding=1)),            # batch 1, Winograd: chunks shared out
    ((5, 24, 9, 30), (20, 24, 3, 3), dict(padding=1)),             # Winograd: images in parallel, panels wrap rows
    ((2, 32, 24, 24), (17, 32, 3, 3), dict(padding=1)),            # Winograd weight gradient: a thread of one column
    ((2, 16, 26, 24), (40, 16, 3, 3), dict(padding=1)),            # ... and a share of K cut short
])
def test_conv2d_threaded_paths_identical_across_threads(threads, x_shape, w_shape, options):
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [x_shape, w_shape, w_shape[:1]])
    same_at_1_2_3_threads(threads, x, w, b, **options)
    check_conv(x_shape, w_shape, **options)


def test_conv2d_winograd_weight_grad_identical_across_threads_float64(threads):
    rng = np.random.default_rng(11)
    x, w, b = (rng.standard_normal(s) for s in [(2, 16, 24, 25), (33, 16, 3, 3), (33,)])
    same_at_1_2_3_threads(threads, x, w, b, padding=1)


def test_conv2d_weight_grad_split_by_columns_identical_across_threads(threads):
    # Five input channels of a 1x1 layer: one register tile of rows for 96
    # output channels, so the threads split the weight gradient's columns.
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(8, 5, 24, 40), (96, 5, 1, 1), (96,)])
    y, _, got_dw, _ = same_at_1_2_3_threads(threads, x, w, b)
    geometry = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    dy = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
    _, dw, _ = ref.conv2d_grads(x, w, dy, *geometry)
    _, bw, _ = ref.conv2d_grads(np.abs(x), np.abs(w), np.abs(dy), *geometry)
    assert_close(got_dw, dw, bw, dy.size // dy.shape[1], np.float32)


def leaves(rng, *shapes):
    """float64 leaf tensors that require grad."""
    return [pyengine.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes]


@pytest.mark.parametrize("w_shape,options", [
    ((4, 2, 3, 2), dict(stride=(1, 2), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((3, 4, 1, 1), {}),
    ((4, 1, 3, 3), dict(groups=4, padding=1)),
    ((3, 4, 2, 2), dict(stride=2, padding="valid")),
])
def test_conv2d_gradcheck_float64(w_shape, options):
    x, w, b = leaves(np.random.default_rng(5), (2, 4, 5, 4), w_shape, (w_shape[0],))
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, **options), (x, w, b))


# ---- conv1d ---------------------------------------------------------------------


def check_conv1d(x_shape, w_shape, padding, dtype=np.float64, stride=1, dilation=1, groups=1):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    xt, wt, bt = (pyengine.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv1d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if isinstance(padding, str):
        total = 0 if padding == "valid" else dilation * (w_shape[2] - 1)
        lr = (total // 2, total - total // 2)
    else:
        lr = (padding, padding) if isinstance(padding, int) else padding
    geometry = ((1, stride), (0, 0) + tuple(lr), (1, dilation), groups)
    want = ref.conv2d(x[:, :, None], w[:, :, None], b, *geometry)[:, :, 0]
    np.testing.assert_allclose(y.data, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    dy = rng.standard_normal(want.shape).astype(dtype)
    y.backward(dy)
    dx, dw, db = ref.conv2d_grads(x[:, :, None], w[:, :, None], dy[:, :, None], *geometry)
    for got, expected in ((xt.grad, dx[:, :, 0]), (wt.grad, dw[:, :, 0]), (bt.grad, db)):
        np.testing.assert_allclose(got.data, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,options", [
    ((2, 3, 17), (4, 3, 3), dict(padding=1)),
    ((2, 3, 17), (4, 3, 3), dict(padding=(4, 0), dilation=2)),         # causal
    ((1, 4, 10), (4, 1, 5), dict(padding="same", groups=4)),
    ((2, 2, 13), (3, 2, 4), dict(padding="valid", stride=3)),
    ((1, 2, 9), (2, 2, 2), dict(padding=(0, 3))),
])
def test_conv1d(x_shape, w_shape, options, dtype):
    check_conv1d(x_shape, w_shape, dtype=dtype, **options)


def test_causal_conv1d_sees_only_the_past():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 20)), rng.standard_normal((3, 2, 3))
    y = causal_conv1d(pyengine.Tensor(x), pyengine.Tensor(w), dilation=4).data
    assert y.shape == (1, 3, 20)
    x2 = x.copy()
    x2[:, :, 12:] += 1.0  # changing the future leaves outputs before t=12 unchanged
    y2 = causal_conv1d(pyengine.Tensor(x2), pyengine.Tensor(w), dilation=4).data
    np.testing.assert_array_equal(y2[:, :, :12], y[:, :, :12])
    assert not np.allclose(y2[:, :, 12:], y[:, :, 12:])


# ---- conv_transpose2d --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,options", [
    ((2, 4, 5, 6), (4, 3, 3, 3), {}),
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ((1, 6, 4, 3), (6, 2, 3, 3), dict(stride=(2, 3), padding=(1, 0), groups=3, dilation=(1, 2))),
    ((2, 3, 4, 4), (3, 1, 2, 2), dict(stride=2, groups=3)),
])
def test_conv_transpose2d(x_shape, w_shape, options, dtype):
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[1] * options.get("groups", 1)).astype(dtype)
    y = conv_transpose2d(pyengine.Tensor(x), pyengine.Tensor(w), pyengine.Tensor(b), **options)
    want = ref.conv_transpose2d(x, w, b, pair(options.get("stride", 1)), pair(options.get("padding", 0)),
                                pair(options.get("output_padding", 0)), pair(options.get("dilation", 1)),
                                options.get("groups", 1))
    np.testing.assert_allclose(y.data, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_conv_transpose2d_gradcheck_float64():
    x, w, b = leaves(np.random.default_rng(10), (2, 4, 3, 3), (4, 1, 3, 2), (2,))
    assert gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
                     (x, w, b))


def test_conv1d_gradcheck_float64():
    x, w, b = leaves(np.random.default_rng(11), (2, 2, 9), (3, 2, 3), (3,))
    assert gradcheck(lambda x, w, b: causal_conv1d(x, w, b, dilation=2), (x, w, b))
    assert gradcheck(lambda x, w, b: conv1d(x, w, b, stride=2, padding=(2, 1)), (x, w, b))


# ---- im2col / col2im --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_are_adjoint(dtype):
    """<im2col(x), c> == <x, col2im(c)>, and im2col matches the reference's windows."""
    rng = np.random.default_rng(12)
    geometry = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2))
    x = rng.standard_normal((3, 7, 6)).astype(dtype)
    cols = K.im2col(x, **geometry)
    w = np.zeros((1, 3, 3, 2))
    out = ref.conv2d(x[None], w, None, (2, 1), (1, 0, 2, 1), (1, 2))
    assert cols.shape == (3 * 3 * 2, out.shape[2] * out.shape[3])
    # Row (c, r, s) of cols is what a one-hot weight at (c, r, s) convolves to.
    for row in (0, 7, 17):
        w1 = np.zeros((1, 3, 3, 2))
        w1.reshape(-1)[row] = 1.0
        np.testing.assert_array_equal(cols[row], ref.conv2d(x[None], w1, None, (2, 1), (1, 0, 2, 1), (1, 2)).reshape(-1))
    c = rng.standard_normal(cols.shape).astype(dtype)
    back = K.col2im(c, x.shape, **geometry)
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-5 if dtype == np.float32 else 1e-12)


# ---- errors -----------------------------------------------------------------------------


def f32(*shape):
    return pyengine.Tensor(np.zeros(shape, np.float32))


def test_channel_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 4 "
                                         r"\(input \(8, 3, 32, 32\), weight \(16, 4, 3, 3\)\)"):
        conv2d(f32(8, 3, 32, 32), f32(16, 4, 3, 3))
    with pytest.raises(ValueError, match=r"input channels 6 are not divisible by groups=4"):
        conv2d(f32(1, 6, 5, 5), f32(4, 1, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 3 channels but weight expects 4"):
        conv_transpose2d(f32(1, 3, 5, 5), f32(4, 2, 3, 3))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"conv2d: kernel \(5, 5\) .* larger than the padded input \(4, 4\) "
                                         r"\(input \(1, 1, 2, 2\), weight \(1, 1, 5, 5\)\)"):
        conv2d(f32(1, 1, 2, 2), f32(1, 1, 5, 5), padding=1)
    with pytest.raises(ValueError, match=r"spans \(5, 3\)"):
        conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), dilation=(2, 1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        conv2d(f32(1, 1, 5, 5), f32(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv2d(f32(1, 1, 5, 5), f32(1, 1, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv2d(f32(1, 1, 5, 5), f32(1, 1, 3, 3), padding=-1)
    with pytest.raises(ValueError, match=r"input must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"):
        conv2d(f32(3, 5, 5), f32(1, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\) but weight has 2 output channels"):
        conv2d(f32(1, 1, 5, 5), f32(2, 1, 3, 3), f32(3))
    with pytest.raises(TypeError, match="weight has dtype float64 but the other operands are float32"):
        conv2d(f32(1, 1, 5, 5), pyengine.Tensor(np.zeros((1, 1, 3, 3))))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        K.conv2d_forward(np.zeros((1, 1, 3, 3), np.int64), np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(f32(1, 2, 3, 3), f32(2, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 2, 3, 3\) but the convolution output"):
        K.conv2d_backward_input(np.zeros((1, 2, 3, 3), np.float32), np.zeros((2, 1, 3, 3), np.float32), (1, 1, 4, 4))
