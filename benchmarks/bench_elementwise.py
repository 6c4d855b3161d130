"""Elementwise kernels against NumPy (and PyTorch when installed), same run.

    python -m pytest benchmarks/bench_elementwise.py --benchmark-only

One benchmark group per op; each group times pyengine (all threads and one
thread), NumPy and PyTorch on the same float32 input, and the summary printed
at the end gives the median times and NumPy's time divided by pyengine's
(above 1: pyengine is faster). On a loaded machine the threaded medians
include waiting for a free core; the one-thread column shows the kernel.
"""
import numpy as np
import pytest

import pyengine
import pyengine.kernels as K

try:
    import torch
except ImportError:
    torch = None

N = 1 << 20  # 1M float32 values
SOFTMAX_SHAPE = (1024, 1024)


def numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# op: (input maker, pyengine, NumPy, PyTorch's name or a callable)
OPS = {
    "exp": (lambda r: r.uniform(-10, 10, N), K.exp, np.exp, "exp"),
    "log": (lambda r: r.uniform(1e-3, 1e3, N), K.log, np.log, "log"),
    "tanh": (lambda r: r.uniform(-5, 5, N), K.tanh, np.tanh, "tanh"),
    "sigmoid": (lambda r: r.uniform(-10, 10, N), K.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "sigmoid"),
    "relu": (lambda r: r.standard_normal(N), K.relu, lambda x: np.maximum(x, 0), "relu"),
    "gelu": (lambda r: r.standard_normal(N), K.gelu, None, "nn.functional.gelu"),
    "softmax": (lambda r: r.standard_normal(SOFTMAX_SHAPE), K.softmax, numpy_softmax, "softmax"),
    "log_softmax": (lambda r: r.standard_normal(SOFTMAX_SHAPE), K.log_softmax, numpy_log_softmax, "log_softmax"),
    "sum": (lambda r: r.standard_normal(N), K.sum, np.sum, "sum"),
    "mul x*0.01": (lambda r: r.standard_normal(N), lambda x: K.mul(x, 0.01), lambda x: x * 0.01, lambda t: t * 0.01),
    "add x+x": (lambda r: r.standard_normal(N), lambda x: K.add(x, x), lambda x: x + x, lambda t: t + t),
}

MEDIANS = {}  # op -> {implementation: median seconds}


def torch_fn(name):
    if callable(name):
        return name
    fn = torch
    for part in name.split("."):
        fn = getattr(fn, part)
    if name in ("softmax", "log_softmax"):
        return lambda t: fn(t, dim=-1)
    return fn


def on_one_thread(fn):
    def run(x):
        saved = pyengine.get_num_threads()
        pyengine.set_num_threads(1)
        try:
            return fn(x)
        finally:
            pyengine.set_num_threads(saved)

    return run


def implementations(op):
    make, ours, numpy_fn, torch_name = OPS[op]
    impls = {"pyengine": ours, "pyengine_1thread": on_one_thread(ours)}
    if numpy_fn is not None:
        impls["numpy"] = numpy_fn
    if torch is not None:
        impls["torch"] = torch_fn(torch_name)
    return make, impls


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not MEDIANS:
        return
    print(f"\nelementwise, float32, {pyengine.info()['isa']}, {pyengine.get_num_threads()} threads (median µs)")
    columns = ("pyengine", "pyengine_1thread", "numpy", "torch")
    print(f"{'op':<12}" + "".join(f"{c:>18}" for c in columns) + f"{'numpy/pyengine':>16}{'numpy/1thread':>15}")
    for op, m in MEDIANS.items():
        cells = "".join(f"{m[k] * 1e6:>18.0f}" if k in m else f"{'-':>18}" for k in columns)
        ratios = [f"{m['numpy'] / m[k]:.2f}x" if "numpy" in m and k in m else "-" for k in columns[:2]]
        print(f"{op:<12}{cells}{ratios[0]:>16}{ratios[1]:>15}")


CASES = [(op, impl) for op in OPS for impl in ("pyengine", "pyengine_1thread", "numpy", "torch")]


@pytest.mark.parametrize("op, impl", CASES)
def test_elementwise(benchmark, op, impl):
    make, impls = implementations(op)
    if impl not in impls:
        pytest.skip(f"no {impl} baseline for {op}")
    x = make(np.random.default_rng(0)).astype(np.float32)
    arg = torch.from_numpy(x) if impl == "torch" else x
    benchmark.group = op
    benchmark.extra_info["impl"] = impl
    benchmark(impls[impl], arg)
    MEDIANS.setdefault(op, {})[impl] = benchmark.stats.stats.median
    if impl in ("numpy", "torch") and "pyengine" in MEDIANS[op]:
        benchmark.extra_info["ratio_to_pyengine"] = benchmark.stats.stats.median / MEDIANS[op]["pyengine"]
