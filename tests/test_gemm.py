"""pyengine.kernels.gemm / gemm_batched against the float64 reference.

The sizes sweep the register tiles of both paths (AVX2: 6 x 16 float32,
6 x 8 float64; scalar: 4 x 8, 4 x 4), and the shapes reach each path of the
driver: matrix-vector (m or n = 1), thin k (k <= 8, C written row by row),
skinny (min(m, n) <= 16 or tiny, A read in place), and blocked (packed five loops, k split into several passes).
Run the file with PYENGINE_ISA=scalar as well.
"""
import itertools

import numpy as np
import pytest

import pyengine
import pyengine.kernels as K
import reference as ref

ACTIVATIONS = [None, "relu", "gelu", "tanh", "sigmoid"]


@pytest.fixture(autouse=True)
def one_thread(threads):
    """The bulk of the checks run on one thread (the results do not depend on
    the count, which the thread tests below check): fast on a busy machine."""
    threads(1)
# One shape per driver path: gemv (both forms), thin k, skinny, tiny, blocked with
# two passes over k (k > 256) and edge tiles in both directions, reading A
# in place (n <= 128) and packing it.
PATH_SHAPES = [(1, 40, 33), (33, 40, 1), (37, 5, 41), (7, 50, 33), (20, 30, 40), (29, 300, 37), (23, 301, 150)]


def layout(x, kind):
    """x (a C-contiguous array) with the same values in another memory layout."""
    if kind == "c":
        return x
    if kind == "f":
        return np.asfortranarray(x)
    if kind == "sliced":  # every other row and column of a bigger array
        big = np.zeros((2 * x.shape[0] + 1, 2 * x.shape[1] + 3), x.dtype)
        big[1::2, 3::2] = x
        return big[1::2, 3::2]
    if kind == "neg":  # negative strides in both dimensions
        return np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    if kind == "transposed":  # a transposed view of a C-contiguous array
        return np.ascontiguousarray(x.T).T
    raise ValueError(kind)


def tolerance(a, b, out, dtype, alpha, beta, bias, trans_a, trans_b):
    """Elementwise error bound: eps * sqrt(k) times the magnitude of the terms
    summed, with slack for the activation's own rounding."""
    eps = np.finfo(dtype).eps
    a = np.abs(a.T if trans_a else a).astype(np.float64)
    b = np.abs(b.T if trans_b else b).astype(np.float64)
    k = a.shape[1]
    size = abs(alpha) * (a @ b)
    if beta != 0:
        size = size + abs(beta) * np.abs(out.astype(np.float64))
    if bias is not None:
        size = size + np.abs(bias.astype(np.float64))
    return 4 * eps * np.sqrt(k + 1) * (size + 1)


def check_gemm(m, k, n, dtype=np.float32, layouts=("c", "c", "c"), nan_out=False, rng=None, alpha=1.0, beta=0.0,
               bias=False, trans_a=False, trans_b=False, activation=None):
    rng = rng or np.random.default_rng(m * 1000003 + k * 1009 + n)
    a = layout(rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype), layouts[0])
    b = layout(rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype), layouts[1])
    bias_arr = rng.standard_normal(n).astype(dtype) if bias else None
    out = None
    if beta != 0 or nan_out or layouts[2] != "c":
        start = np.full((m, n), np.nan, dtype) if nan_out else rng.standard_normal((m, n)).astype(dtype)
        out = layout(start, layouts[2])
    kw = dict(trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, bias=bias_arr, activation=activation)
    want = ref.gemm(a, b, None if out is None else out.copy(), **kw)
    tol = tolerance(a, b, out, dtype, alpha, beta, bias_arr, trans_a, trans_b)
    got = K.gemm(a, b, out, **kw)
    assert got.dtype == dtype and got.shape == (m, n)
    if out is not None:
        assert got is out
    assert np.all(np.abs(got - want) <= tol), f"max error {np.max(np.abs(got - want), initial=0)}"


SIZES = [
    (0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0), (1, 1, 1), (2, 3, 2),
    # around the scalar tiles (4 x 8, 4 x 4) and the AVX2 tiles (6 x 16, 6 x 8)
    (3, 9, 7), (4, 9, 8), (5, 9, 9), (5, 11, 15), (6, 11, 16), (7, 11, 17),
    (17, 13, 15), (18, 13, 16), (19, 13, 17), (23, 64, 33), (24, 70, 32), (25, 70, 31),
    # primes, with k over several passes of the blocked path
    (31, 257, 37), (67, 523, 61), (131, 131, 127),
    # tall-skinny and short-wide (skinny path), matrix-vector up to ~1000
    (1009, 29, 5), (11, 37, 1013), (1, 997, 1009), (1013, 991, 1), (1, 7, 1),
    # thin k: one to eight outer products, across the kernel's sweeps of four and eight rows
    (53, 1, 70), (41, 4, 33), (29, 7, 131), (64, 8, 100),
    # the one big square-ish case
    (251, 263, 241),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_transposed_a_over_several_row_blocks(dtype):
    # A given transposed is packed column by column, a block of rows at a
    # time: more rows than one block (252 float, 126 double), the last panel short.
    check_gemm(301, 70, 150, dtype, trans_a=True)


@pytest.mark.parametrize("layouts", [("c", "c", "c"), ("sliced", "c", "c")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_packs_a_large_a_of_few_columns(layouts, dtype):
    # n <= 128 reads a row-major A in place unless its rows span more than L2
    # (2.2 MB here, float32): then it is packed, the last panel short.
    check_gemm(1103, 500, 100, dtype, layouts=layouts, bias=True, activation="relu")


@pytest.mark.parametrize("m,k,n", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_sizes(m, k, n, dtype):
    check_gemm(m, k, n, dtype)


@pytest.mark.parametrize("m,k,n", PATH_SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-0.5, 0.75)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("activation,dtype", [(act, np.float32) for act in ACTIVATIONS]
                         + [(None, np.float64), ("gelu", np.float64)])
def test_gemm_options(m, k, n, trans_a, trans_b, alpha, beta, bias, activation, dtype):
    check_gemm(m, k, n, dtype, alpha=alpha, beta=beta, bias=bias, trans_a=trans_a, trans_b=trans_b,
               activation=activation)


KINDS = ["c", "f", "sliced", "neg", "transposed"]


LAYOUTS = ([(x, x, x) for x in KINDS] + [(x, "c", "c") for x in KINDS[1:]] + [("c", x, "c") for x in KINDS[1:]]
           + [("c", "c", x) for x in KINDS[1:]])


@pytest.mark.parametrize("m,k,n", PATH_SHAPES + [(1, 5, 1)])
@pytest.mark.parametrize("layouts", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_reads_any_strides_in_place(m, k, n, layouts, dtype):
    check_gemm(m, k, n, dtype, layouts=layouts, alpha=0.5, beta=-1.5, bias=True, activation="relu")


@pytest.mark.parametrize("m,k,n", PATH_SHAPES + [(0, 3, 2), (3, 0, 2)])
@pytest.mark.parametrize("out_layout", ["c", "f", "neg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_beta_zero_never_reads_out(m, k, n, out_layout, dtype):
    check_gemm(m, k, n, dtype, layouts=("c", "c", out_layout), nan_out=True, bias=True, activation="tanh")


def test_nan_in_the_inputs_propagates_through_relu():
    a = np.ones((30, 40), np.float32)
    a[3, 5] = np.nan
    got = K.gemm(a, np.ones((40, 50), np.float32), activation="relu")
    assert np.isnan(got[3]).all() and not np.isnan(np.delete(got, 3, axis=0)).any()


# Shapes for each path and each way the threads split the work, each with
# enough work (> 3 x 2^20 multiply-adds) to use 3 threads.
THREAD_SHAPES = [(300, 200, 60), (60, 200, 300), (5, 700, 1000), (1000, 700, 5), (1, 2000, 1600), (1600, 2000, 1),
                 (1000, 3, 1200), (130, 600, 140)]


@pytest.mark.parametrize("m,k,n", THREAD_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bit_identical_for_any_thread_count(m, k, n, dtype, threads, rng):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    results = []
    for t in (1, 2, 3):
        threads(t)
        results.append(K.gemm(a, b, bias=bias, activation="gelu").tobytes())
        results.append(K.gemm_batched(np.stack([a, a[::-1]]), b).tobytes())
    assert results[0] == results[2] == results[4]
    assert results[1] == results[3] == results[5]


def test_threaded_product_is_checked_against_the_reference(threads, rng):
    threads(2)
    check_gemm(130, 600, 140, rng=rng, bias=True, activation="sigmoid")


def test_scratch_comes_from_the_pool(rng):
    a = rng.standard_normal((200, 300)).astype(np.float32)
    b = rng.standard_normal((300, 100)).astype(np.float32)
    K.gemm(a, b)
    fresh = pyengine._C.scratch_pool_stats()["fresh_allocations"]
    for _ in range(3):
        K.gemm(a, b)
    assert pyengine._C.scratch_pool_stats()["fresh_allocations"] == fresh


def check_gemm_batched(a_shape, b_shape, dtype=np.float32, **kw):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    got = K.gemm_batched(a, b, **kw)
    want = ref.gemm_batched(a, b, **kw)
    k = a_shape[-2] if kw.get("trans_a") else a_shape[-1]
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * np.finfo(dtype).eps * np.sqrt(k) * np.abs(want).max(initial=1))


@pytest.mark.parametrize("a_shape,b_shape", [
    ((4, 7, 9), (4, 9, 5)),       # a stack of small products, threads over the batch
    ((3, 7, 9), (9, 5)),          # b shared
    ((9, 5), (3, 5, 40)),         # a shared
    ((1, 7, 9), (3, 9, 5)),       # a batch of one broadcasts
    ((2, 130, 300), (2, 300, 70)),  # big products, each threaded
    ((0, 7, 9), (9, 5)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_batched(a_shape, b_shape, dtype):
    check_gemm_batched(a_shape, b_shape, dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gemm_batched_options(activation):
    rng = np.random.default_rng(3)
    bias = rng.standard_normal(6).astype(np.float32)
    check_gemm_batched((3, 11, 7), (6, 11), trans_a=True, trans_b=True, alpha=2.0, bias=bias, activation=activation)


def test_gemm_batched_beta_and_strided_out(rng):
    a = rng.standard_normal((3, 8, 5)).astype(np.float32)
    b = rng.standard_normal((5, 20)).astype(np.float32)
    out = rng.standard_normal((3, 20, 8)).astype(np.float32).transpose(0, 2, 1)
    want = ref.gemm_batched(a, b, out.copy(), beta=0.5)
    assert K.gemm_batched(a, b, out, beta=0.5) is out
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


f32 = np.float32


def z(*shape, dtype=f32):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("call,error,message", [
    (lambda: K.gemm(z(2, 3), z(4, 5)), ValueError,
     r"gemm: op\(a\) has shape \(2, 3\) and op\(b\) has shape \(4, 5\); inner dimensions 3 and 4 differ \(a \(2, 3\), b \(4, 5\)\)"),
    (lambda: K.gemm(z(3, 2), z(4, 5), trans_a=True), ValueError, r"op\(a\) has shape \(2, 3\)"),
    (lambda: K.gemm(z(2, 3, 1), z(3, 5)), ValueError, r"gemm: a must be 2-D, got shape \(2, 3, 1\)"),
    (lambda: K.gemm(z(2, 3), z(3)), ValueError, r"gemm: b must be 2-D, got shape \(3,\)"),
    (lambda: K.gemm(z(2, 3, dtype=np.int32), z(3, 5)), TypeError, "gemm: a must be float32 or float64, got int32"),
    (lambda: K.gemm(z(2, 3), z(3, 5, dtype=np.float64)), TypeError,
     "gemm: b has dtype float64 but the other operands are float32"),
    (lambda: K.gemm([[1.0]], z(1, 1)), TypeError, "gemm: a must be a numpy.ndarray, got list"),
    (lambda: K.gemm(z(2, 3), z(3, 5), z(5, 2)), ValueError,
     r"gemm: out has shape \(5, 2\) but the product has shape \(2, 5\)"),
    (lambda: K.gemm(z(2, 3), z(3, 5), z(2, 5, dtype=np.float64)), TypeError, "gemm: out has dtype float64"),
    (lambda: K.gemm(z(2, 3), z(3, 5), np.broadcast_to(z(5), (2, 5))), ValueError, "gemm: out is read-only"),
    (lambda: K.gemm(z(2, 3), z(3, 5), bias=z(3)), ValueError,
     r"gemm: bias has shape \(3,\) but the product has 5 columns"),
    (lambda: K.gemm(z(2, 3), z(3, 5), activation="swish"), ValueError, "gemm: unknown activation 'swish'"),
    (lambda: K.gemm(z(2, 3), z(3, 5), activation=1), TypeError, "gemm: activation must be None or a string"),
    (lambda: K.gemm(z(2, 3), z(3, 5), beta=1.0), ValueError, "gemm: beta=1 needs an out array"),
    (lambda: K.gemm_batched(z(2, 3, 4), z(3, 4, 5)), ValueError,
     r"gemm_batched: a has a batch of 2 but b has a batch of 3 \(a \(2, 3, 4\), b \(3, 4, 5\)\)"),
    (lambda: K.gemm_batched(z(3, 4), z(4, 5)), ValueError, "gemm_batched: a or b must be 3-D"),
    (lambda: K.gemm_batched(z(1, 2, 3, 4), z(4, 5)), ValueError, r"gemm_batched: a must be 2-D or 3-D, got shape \(1, 2, 3, 4\)"),
    (lambda: K.gemm_batched(z(2, 3, 4), z(4, 5), z(2, 5, 3)), ValueError,
     r"gemm_batched: out has shape \(2, 5, 3\) but the product has shape \(2, 3, 5\)"),
    (lambda: K.peak_gflops(0), ValueError, "peak_gflops: threads must be >= 1"),
])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_out_sharing_memory_with_an_input_is_refused():
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="gemm: out shares memory with a"):
        K.gemm(a, np.ones((4, 4), np.float32), out=a[::-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_peak_gflops_is_a_rate(dtype):
    assert 0 < K.peak_gflops(1, dtype) < 1e5
