"""Accuracy of the vector math of csrc/simd/math.h, measured through the kernels.

Float32 results are compared with float64 NumPy; float64 results with NumPy's
extended precision (x87 long double, 64-bit mantissa) where it exists, and with
math.erf for erf. Errors are relative where the reference is a normal number;
in the denormal range (which the kernels flush to zero) the absolute error must
stay below the smallest normal number.
"""
import json

import numpy as np
import pytest

import pyengine
import pyengine.kernels as K
import reference as ref
from conftest import run_python

FUNCTIONS = ["exp", "log", "tanh", "sigmoid", "erf"]
# Largest relative error allowed. Measured maxima: float32 exp 7.5e-8, log
# 7.9e-8, tanh 1.3e-7, sigmoid 1.4e-7, erf 2.1e-7; float64 all 1.4e-16 to
# 2.5e-16 (about one ulp).
BOUND = {
    np.float32: dict.fromkeys(["exp", "log", "tanh", "sigmoid", "erf"], 4e-7),
    np.float64: dict.fromkeys(["exp", "log", "tanh", "sigmoid", "erf"], 1e-15),
}
HAVE_LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63


def reference(name, x):
    """The function in more precision than x has."""
    wide = np.float64 if x.dtype == np.float32 or name == "erf" or not HAVE_LONG_DOUBLE else np.longdouble
    w = x.astype(wide)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-w))
        if name == "erf":
            return ref.erf(w)
        return getattr(np, name)(w)


def spread(dtype, n, rng):
    """n finite values spread over the whole range: uniform random bit
    patterns (every binade equally likely), plus uniform values where the
    functions change shape."""
    bits = np.uint32 if dtype == np.float32 else np.uint64
    x = rng.integers(0, np.iinfo(bits).max, n, dtype=bits, endpoint=True).view(dtype)
    x = x[np.isfinite(x)]
    return np.concatenate([x, rng.uniform(-30, 30, n // 2), rng.uniform(-800, 800, n // 10)]).astype(dtype)


def max_error(name, x):
    """(largest relative error, argument where it occurs) over x; asserts the
    non-finite and denormal results on the way."""
    dtype = x.dtype.type
    got = getattr(K, name)(x).astype(np.longdouble)
    want = reference(name, x)
    with np.errstate(over="ignore"):
        want_rounded = want.astype(dtype)  # overflow to inf happens in the dtype
    finite = np.isfinite(want_rounded)
    np.testing.assert_array_equal(got[~finite], want_rounded[~finite])
    got, want, x = got[finite], want[finite].astype(np.longdouble), x[finite]
    normal = np.abs(want) >= np.finfo(dtype).tiny
    assert np.all(np.abs(got[~normal] - want[~normal]) <= np.finfo(dtype).tiny)
    rel = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    worst = int(np.argmax(rel))
    return float(rel[worst]), x[normal][worst]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_error_bound_over_the_whole_range(name, dtype):
    if name == "log":
        rng = np.random.default_rng(7)
        x = np.abs(spread(dtype, 1_000_000, rng))
    else:
        x = spread(dtype, 1_000_000, np.random.default_rng(7))
    err, where = max_error(name, x)
    assert err <= BOUND[dtype][name], f"{name}: relative error {err:.3g} at x = {where!r}"


# (function, input, expected) for IEEE special values and limits.
SPECIAL = [
    ("exp", 0.0, 1.0), ("exp", -0.0, 1.0), ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0),
    ("exp", 1e4, np.inf), ("exp", -1e4, 0.0), ("exp", np.nan, np.nan), ("exp", 1e-40, 1.0),
    ("log", 0.0, -np.inf), ("log", -0.0, -np.inf), ("log", -1.0, np.nan), ("log", -np.inf, np.nan),
    ("log", np.inf, np.inf), ("log", np.nan, np.nan), ("log", 1.0, 0.0), ("log", -1e-40, np.nan),
    ("tanh", 0.0, 0.0), ("tanh", 1e4, 1.0), ("tanh", -1e4, -1.0), ("tanh", np.inf, 1.0),
    ("tanh", -np.inf, -1.0), ("tanh", np.nan, np.nan), ("tanh", 1e-40, 1e-40), ("tanh", -1e-40, -1e-40),
    ("sigmoid", 0.0, 0.5), ("sigmoid", -1e4, 0.0), ("sigmoid", 1e4, 1.0), ("sigmoid", -np.inf, 0.0),
    ("sigmoid", np.inf, 1.0), ("sigmoid", np.nan, np.nan), ("sigmoid", 1e-40, 0.5),
    ("erf", 0.0, 0.0), ("erf", np.inf, 1.0), ("erf", -np.inf, -1.0), ("erf", 1e4, 1.0), ("erf", np.nan, np.nan),
    ("gelu", -np.inf, 0.0), ("gelu", np.inf, np.inf), ("gelu", 0.0, 0.0), ("gelu", np.nan, np.nan),
    ("gelu", -1e4, 0.0), ("gelu", 1e30, 1e30),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, x, expected", SPECIAL)
def test_special_values(name, x, expected, dtype):
    got = getattr(K, name)(np.array([x], dtype))
    np.testing.assert_array_equal(got, np.array([expected], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_largest_finite_arguments(dtype):
    big = np.array([np.finfo(dtype).max, -np.finfo(dtype).max], dtype)
    np.testing.assert_array_equal(K.exp(big), np.array([np.inf, 0], dtype))
    np.testing.assert_array_equal(K.tanh(big), np.array([1, -1], dtype))
    np.testing.assert_array_equal(K.sigmoid(big), np.array([1, 0], dtype))
    np.testing.assert_array_equal(K.erf(big), np.array([1, -1], dtype))
    np.testing.assert_array_equal(K.gelu(big), np.array([big[0], 0], dtype))
    log_max = K.log(big[:1])
    np.testing.assert_allclose(log_max, np.log(big[:1].astype(np.float64)), rtol=BOUND[dtype]["log"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_signs_of_zero(dtype):
    z = np.array([0.0, -0.0], dtype)
    assert list(np.signbit(K.tanh(z))) == [False, True]
    assert list(np.signbit(K.erf(z))) == [False, True]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_of_denormals(dtype):
    tiny = np.finfo(dtype).tiny
    x = np.array([tiny / 2, tiny / 3, tiny * 2 ** -20, np.finfo(dtype).smallest_subnormal], dtype)
    np.testing.assert_allclose(K.log(x), np.log(x.astype(np.float64)), rtol=BOUND[dtype]["log"])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1023, 1025])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_odd_sizes_give_the_same_values_as_one_long_array(name, n):
    # Each element takes the same instructions wherever it sits (padded tail).
    x = np.random.default_rng(n).uniform(0.01, 20, 2048).astype(np.float32)
    np.testing.assert_array_equal(getattr(K, name)(x[:n]), getattr(K, name)(x)[:n])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_non_contiguous_and_negatively_strided(name, dtype):
    x = np.random.default_rng(3).uniform(0.01, 20, (64, 33)).astype(dtype)
    for view in (x[::-1], x[:, ::-2], x.T, x[5:40:3, ::7]):
        np.testing.assert_array_equal(getattr(K, name)(view), getattr(K, name)(np.ascontiguousarray(view)))


def test_bad_input_raises():
    with pytest.raises(TypeError, match="tanh: x must be float32 or float64, got int32"):
        K.tanh(np.arange(4, dtype=np.int32))
    with pytest.raises(TypeError, match="log: x must be float32 or float64, got complex128"):
        K.log(np.ones(3, complex))
    with pytest.raises(TypeError, match="sigmoid: x must be a numpy.ndarray, got float"):
        K.sigmoid(1.0)


SCRIPT = """
import json, sys
import numpy as np
import pyengine, pyengine.kernels as K
x = np.random.default_rng(11).uniform(-30, 30, 4099)
out = {"isa": pyengine.info()["isa"]}
for dtype in ("float32", "float64"):
    for name in ("exp", "log", "tanh", "sigmoid", "erf", "gelu", "softmax"):
        v = np.abs(x) if name == "log" else x
        out[name + "_" + dtype] = getattr(K, name)(v.astype(dtype)).astype(float).tolist()
print(json.dumps(out))
"""


def test_scalar_path_agrees_with_the_best_path():
    if pyengine.info()["isa_best"] == "scalar":
        pytest.skip("this CPU runs only the scalar path")
    runs = {}
    for isa in ("scalar", pyengine.info()["isa_best"]):
        proc = run_python(["-c", SCRIPT], env={"PYENGINE_ISA": isa})
        assert proc.returncode == 0, proc.stderr
        runs[isa] = json.loads(proc.stdout)
        assert runs[isa]["isa"] == isa
    scalar, best = runs.values()
    for key in scalar:
        if key != "isa":
            rtol = 1e-6 if key.endswith("float32") else 1e-14
            np.testing.assert_allclose(best[key], scalar[key], rtol=rtol, atol=1e-30, err_msg=key)
