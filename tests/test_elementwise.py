import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyengine.kernels as K
import reference as ref

SIZES = [0, 1, 7, 8, 9, 1023, 1025]
DTYPES = [np.float32, np.float64]
# Relative tolerance per dtype: a few ulp of float, ~50 ulp of double.
RTOL = {np.float32: 2e-6, np.float64: 1e-13}

# name: (reference in float64, input range)
FORWARD = {
    "relu": (ref.relu, (-5, 5)),
    "leaky_relu": (ref.leaky_relu, (-5, 5)),
    "exp": (np.exp, (-80, 80)),
    "log": (np.log, (1e-30, 1e30)),
    "tanh": (np.tanh, (-10, 10)),
    "sigmoid": (ref.sigmoid, (-80, 80)),
    "gelu": (ref.gelu_exact, (-10, 10)),
    "erf": (ref.erf, (-6, 6)),
}

# name: (derivative in float64 given the forward input x, reads forward output?)
BACKWARD = {
    "relu_backward": (lambda x: (x > 0).astype(np.float64), None),
    "leaky_relu_backward": (lambda x: np.where(x > 0, 1.0, 0.01), None),
    "gelu_backward": (ref.gelu_derivative, None),
    "tanh_backward": (lambda x: 1 - np.tanh(x) ** 2, np.tanh),
    "sigmoid_backward": (lambda x: ref.sigmoid(x) * (1 - ref.sigmoid(x)), ref.sigmoid),
}


def inputs(rng, shape, dtype, low=-5.0, high=5.0):
    return rng.uniform(low, high, shape).astype(dtype)


def check(got, want, dtype, atol=0.0, rtol=None):
    """got has the input dtype and matches the float64 reference."""
    assert got.dtype == dtype
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype] if rtol is None else rtol, atol=atol)


def check_forward(name, x):
    reference, _ = FORWARD[name]
    check(getattr(K, name)(x), reference(x.astype(np.float64)), x.dtype.type, atol=1e-37)


def check_backward(name, x, dy):
    derivative, forward = BACKWARD[name]
    x64 = x.astype(np.float64)
    # The kernels of tanh and sigmoid read the forward output, rounded to the dtype.
    first = x if forward is None else forward(x64).astype(x.dtype)
    want = dy.astype(np.float64) * derivative(x64)
    atol = 4 * np.finfo(x.dtype).eps * np.abs(dy).max(initial=0)  # y rounded to dtype in 1 - y^2
    check(getattr(K, name)(first, dy), want, x.dtype.type, atol=atol)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FORWARD)
def test_forward(name, n, dtype, rng):
    low, high = FORWARD[name][1]
    x = rng.uniform(low, high, n) if name != "log" else np.exp(rng.uniform(math.log(low), math.log(high), n))
    check_forward(name, x.astype(dtype))


@pytest.mark.parametrize("n", [1, 9, 1025])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BACKWARD)
def test_backward(name, n, dtype, rng):
    check_backward(name, inputs(rng, n, dtype), inputs(rng, n, dtype))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "exp", "tanh", "sigmoid", "gelu"])
def test_forward_reads_non_contiguous_and_reversed_views(name, rng):
    x = inputs(rng, (33, 17), np.float32)
    for view in (x[:, ::2], x[::-1], x.T, x[::-3, ::-1]):
        check_forward(name, view)


@pytest.mark.parametrize("name", BACKWARD)
def test_backward_reads_views(name, rng):
    x = inputs(rng, (20, 30), np.float64)
    dy = inputs(rng, (30, 20), np.float64)
    check_backward(name, x[::-1], dy.T)


def test_leaky_relu_slope(rng):
    x = inputs(rng, 100, np.float64)
    np.testing.assert_array_equal(K.leaky_relu(x, negative_slope=0.2), ref.leaky_relu(x, 0.2))
    dy = inputs(rng, 100, np.float64)
    np.testing.assert_array_equal(K.leaky_relu_backward(x, dy, 0.2), dy * np.where(x > 0, 1.0, 0.2))


def test_relu_keeps_nan():
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    np.testing.assert_array_equal(K.relu(x), [np.nan, 0.0, 2.0])


# ---- finite-difference gradient checks (float64) -------------------------------


def numerical_grad(f, x, dy, h=1e-6):
    """d/dx sum(dy * f(x)) by central differences, one element at a time."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = np.sum(dy * (f(xp) - f(xm))) / (2 * h)
    return g


# name: (forward, backward called with the saved tensor)
GRADCHECK = {
    "relu": (K.relu, lambda x, y, dy: K.relu_backward(x, dy)),
    "leaky_relu": (K.leaky_relu, lambda x, y, dy: K.leaky_relu_backward(x, dy)),
    "gelu": (K.gelu, lambda x, y, dy: K.gelu_backward(x, dy)),
    "tanh": (K.tanh, lambda x, y, dy: K.tanh_backward(y, dy)),
    "sigmoid": (K.sigmoid, lambda x, y, dy: K.sigmoid_backward(y, dy)),
    "softmax": (K.softmax, lambda x, y, dy: K.softmax_backward(y, dy)),
    "log_softmax": (K.log_softmax, lambda x, y, dy: K.log_softmax_backward(y, dy)),
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name, rng):
    forward, backward = GRADCHECK[name]
    x = rng.uniform(-3, 3, (3, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu's kink out of the difference quotient
    dy = rng.standard_normal((3, 7))
    np.testing.assert_allclose(backward(x, forward(x), dy), numerical_grad(forward, x, dy), rtol=1e-6, atol=1e-8)


# ---- softmax ---------------------------------------------------------------------

SOFTMAX_SHAPES = [(1, 1), (1, 7), (3, 8), (5, 9), (2, 1025), (4, 3, 17), (7,), (0, 5), (3, 0)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_forward(name, shape, dtype, rng):
    x = inputs(rng, shape, dtype, -20, 20)
    # x - max(x) is rounded in the dtype: exp of it is off by up to |x - max| / 2 ulp.
    rtol = RTOL[dtype] + 40 * np.finfo(dtype).eps
    check(getattr(K, name)(x), getattr(ref, name)(x.astype(np.float64)), dtype, atol=1e-30, rtol=rtol)


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_backward(name, shape, dtype, rng):
    y = getattr(K, name)(inputs(rng, shape, dtype, -3, 3))
    dy = inputs(rng, shape, dtype)
    want = getattr(ref, name + "_backward")(y.astype(np.float64), dy.astype(np.float64))
    scale = np.abs(dy).sum(axis=-1, keepdims=True) if dy.size else 0.0
    check(getattr(K, name + "_backward")(y, dy), want, dtype, atol=float(np.max(4 * np.finfo(dtype).eps * scale, initial=0)))


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e30, -1e30, -1e30]], np.float32)
    np.testing.assert_array_equal(K.softmax(x), np.float32([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]]))
    assert np.all(np.isfinite(K.log_softmax(x)))


def test_softmax_reads_views(rng):
    x = inputs(rng, (16, 40), np.float32, -5, 5)
    for view in (x[:, ::2], x[::-1, ::-1], x.T):
        check(K.softmax(view), ref.softmax(view.astype(np.float64)), np.float32)


rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=20),
                  elements=st.floats(-50, 50, allow_nan=False))


@settings(max_examples=50, deadline=None)
@given(rows)
def test_softmax_rows_sum_to_one(x):
    y = K.softmax(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(rows, st.floats(-1e3, 1e3))
def test_softmax_invariant_to_adding_a_constant(x, c):
    np.testing.assert_allclose(K.softmax(x + c), K.softmax(x), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(np.exp(K.log_softmax(x)), K.softmax(x), rtol=1e-12, atol=1e-300)


# ---- sum -------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES + [16384, 16385, 100003])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sum(n, dtype, rng):
    x = inputs(rng, n, dtype)
    got = K.sum(x)
    assert got.dtype == dtype and got.shape == ()
    exact = math.fsum(x.astype(np.float64))
    # float64 accumulation: float32 results are the correctly rounded sum or next to it.
    tol = np.finfo(dtype).eps * abs(exact) + (n * 1e-16 * 5 if dtype == np.float64 else 1e-30)
    assert abs(float(got) - exact) <= tol + np.finfo(dtype).eps * np.abs(x).sum()


def test_sum_is_bit_identical_for_any_thread_count(threads, rng):
    x = rng.standard_normal(1_000_003).astype(np.float32) * 1e3
    results = []
    for n in (1, 2, 3, 4):
        threads(n)
        results.append((K.sum(x).tobytes(), K.sum(x.astype(np.float64)).tobytes()))
    assert len(set(results)) == 1


def test_sum_reads_views_of_any_shape(rng):
    x = rng.standard_normal((50, 60))
    for view in (x, x.T, x[::-2, 3:], x[None]):
        assert abs(float(K.sum(view)) - math.fsum(view.ravel())) < 1e-12
    assert float(K.sum(np.full((), 3.5))) == 3.5


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax", "gelu", "log_softmax"])
def test_results_do_not_depend_on_threads(name, threads, rng):
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        threads(n)
        outs.append(getattr(K, name)(x).tobytes())
    assert outs[0] == outs[1] == outs[2]


# ---- arithmetic operators --------------------------------------------------------
ARITHMETIC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def check_arithmetic(name, a, b):
    """The kernel gives NumPy's bytes, into a new array and in place."""
    want = ARITHMETIC[name](a, b)
    kernel = getattr(K, name)
    assert kernel(a, b).tobytes() == want.tobytes()
    target = np.ascontiguousarray(a).copy()
    assert kernel(target, b, out=target) is target
    assert target.tobytes() == want.tobytes()


@pytest.mark.parametrize("n", SIZES + [31, 33, 100003])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ARITHMETIC)
def test_arithmetic_gives_numpys_bytes(name, n, dtype, rng):
    a, b = inputs(rng, n, dtype), inputs(rng, n, dtype, 0.5, 5.0)
    check_arithmetic(name, a, b)
    check_arithmetic(name, a, 0.37)


@pytest.mark.parametrize("name", ARITHMETIC)
def test_arithmetic_special_values_and_views(name, rng):
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, 3e38, -2.5, 7.0], np.float32)
    with np.errstate(all="ignore"):
        check_arithmetic(name, special, special[::-1].copy())
        check_arithmetic(name, special, 0.0)
        check_arithmetic(name, special, float("inf"))
        x = inputs(rng, (40, 30), np.float64)
        check_arithmetic(name, x.T, x[::-1].T)  # views are read through a contiguous copy
        check_arithmetic(name, x[:, ::3], 2)


def test_arithmetic_flushes_denormals_as_every_kernel_does():
    tiny = np.array([1e-45, -1e-40, 2e-38], np.float32)  # two denormals and a normal number
    assert K.mul(tiny, 1.0).tobytes() == np.array([0.0, -0.0, 2e-38], np.float32).tobytes()
    assert K.mul(np.float32([1e-20]), 1e-20).tolist() == [0.0]  # a denormal product


def test_arithmetic_is_bit_identical_for_any_thread_count(threads, rng):
    a, b = inputs(rng, 1_000_003, np.float32), inputs(rng, 1_000_003, np.float32)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(b"".join(getattr(K, name)(a, b).tobytes() + getattr(K, name)(a, 0.1).tobytes()
                                for name in ARITHMETIC))
    assert results[0] == results[1] == results[2]


def test_arithmetic_bad_input():
    a = np.zeros(6, np.float32)
    with pytest.raises(ValueError, match=r"add: b has shape \(5,\) but a has shape \(6,\)"):
        K.add(a, np.zeros(5, np.float32))
    with pytest.raises(TypeError, match="mul: b has dtype float64 but the other operands are float32"):
        K.mul(a, np.zeros(6))
    with pytest.raises(TypeError, match="sub: b must be a numpy.ndarray or a Python number, got list"):
        K.sub(a, [1.0])
    with pytest.raises(TypeError, match="div: a must be float32 or float64, got int64"):
        K.div(np.arange(3), 2.0)
    with pytest.raises(ValueError, match=r"add: out has shape \(3,\) but a has shape \(6,\)"):
        K.add(a, 1.0, out=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="add: out overlaps a without being the same array"):
        K.add(a[1:], 1.0, out=a[:-1])
    with pytest.raises(ValueError, match="mul: out must be C-contiguous"):
        K.mul(a[::2], 1.0, out=np.zeros((6, 2), np.float32)[:, 0][::2])
    read_only = np.zeros(6, np.float32)
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="sub: out is read-only"):
        K.sub(a, 1.0, out=read_only)


# ---- bad input -------------------------------------------------------------------


def test_bad_input_names_op_and_argument():
    with pytest.raises(TypeError, match="relu: x must be float32 or float64, got int64"):
        K.relu(np.arange(3))
    with pytest.raises(ValueError, match=r"relu_backward: grad_output has shape \(2,\) but x has shape \(3,\)"):
        K.relu_backward(np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError, match="tanh_backward: grad_output has dtype float32 but the other operands are float64"):
        K.tanh_backward(np.zeros(3), np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="exp: x must be a numpy.ndarray, got list"):
        K.exp([1.0, 2.0])
    with pytest.raises(ValueError, match=r"softmax: x must have at least one dimension, got shape \(\)"):
        K.softmax(np.zeros((), np.float32))
    with pytest.raises(ValueError, match=r"softmax_backward: grad_output has shape \(2, 3\) but y has shape \(3, 2\)"):
        K.softmax_backward(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="sum: x must be float32 or float64, got float16"):
        K.sum(np.zeros(3, np.float16))


def test_read_only_and_empty_inputs(rng):
    x = inputs(rng, (4, 5), np.float32)
    x.setflags(write=False)
    check_forward("sigmoid", x)
    assert K.softmax(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert K.gelu_backward(np.zeros((2, 0)), np.zeros((2, 0))).shape == (2, 0)
