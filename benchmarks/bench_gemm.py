"""GEMM against NumPy's matmul (and PyTorch when installed), same threads.

Run with OpenBLAS free to pick its own kernel for this CPU:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest benchmarks/bench_gemm.py --benchmark-only

Each case reports GFLOPS, the ratio to NumPy, and the fraction of the
measured FMA peak (pyengine.kernels.peak_gflops) at that thread count.
The shapes are pyengine.bench.GEMM_CASES, the ones `pyengine bench gemm`
prints.
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import pyengine
from pyengine import kernels
from pyengine.bench import GEMM_CASES, gemm_callables, numpy_blas, openblas_overrides

try:
    import torch
except ImportError:  # PyTorch is an optional baseline
    torch = None

IMPLS = ["pyengine", "numpy"] + (["torch"] if torch is not None else [])
_peaks = {}


def peak(threads, dtype):
    if (threads, dtype) not in _peaks:
        _peaks[threads, dtype] = kernels.peak_gflops(threads, dtype)
    return _peaks[threads, dtype]


def torch_callable(shape, dtype, epilogue):
    from pyengine.bench import gemm_operands

    a, b, bias = (torch.from_numpy(x) for x in gemm_operands(shape, dtype))
    out = torch.empty(shape[0], shape[2], dtype=a.dtype)
    if epilogue == "bias_relu":
        return lambda: torch.relu(torch.addmm(bias, a, b, out=out))
    return lambda: torch.mm(a, b, out=out)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", GEMM_CASES, ids=lambda c: f"{c[0]}-{'x'.join(map(str, c[1]))}-{c[2]}")
@pytest.mark.parametrize("impl", IMPLS)
def test_gemm(benchmark, bench_results, impl, case, threads):
    label, shape, dtype, epilogue = case
    if not bench_results.notes:
        bench_results.notes.append(f"NumPy BLAS: {numpy_blas()}; pyengine ISA: {pyengine.info()['isa']}")
        if openblas_overrides():
            bench_results.notes.append("WARNING: " + ", ".join(openblas_overrides()) + " set: NumPy runs a forced kernel")
    ours, theirs = gemm_callables(shape, dtype, epilogue)
    fn = {"pyengine": ours, "numpy": theirs}.get(impl) or torch_callable(shape, dtype, epilogue)
    saved = pyengine.get_num_threads()
    pyengine.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            benchmark.pedantic(fn, rounds=max(5, int(2e8 / np.prod(shape))), warmup_rounds=1)
    finally:
        pyengine.set_num_threads(saved)
    gflop = 2.0 * np.prod(shape) * 1e-9
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(gflops=gflop / median, peak_fraction=gflop / median / peak(threads, dtype))
    bench_results.add(f"{label} {'x'.join(map(str, shape))} {dtype} t={threads}", impl, median, gflop * 1e9)
