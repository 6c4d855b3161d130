"""conv2d against PyTorch's F.conv2d, forward and forward+backward, at 1 and 2 threads.

    python -m pytest benchmarks/bench_conv.py --benchmark-only      # pytest-benchmark, ratio in extra_info
    python benchmarks/bench_conv.py [--threads 1 2] [--shapes NAME ...]   # the summary table alone

Effective GFLOPS count 2*N*K*(C/groups)*R*S*Hout*Wout per pass, three passes
for forward+backward (input, weight and bias gradients). Both engines run the
same shapes in the same process with the same thread count; the ratio is
PyTorch's median time over pyengine's (above 1: pyengine is faster).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pytest

import pyengine
from pyengine.ops.conv import conv2d

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the table still reports pyengine alone
    torch = None

# name: (N, C, H, W, K, R, S, padding, groups)
SHAPES = {
    "first_c3_32x32_k32_3x3": (32, 3, 32, 32, 32, 3, 3, 1, 1),
    "c64_32x32_k64_3x3": (32, 64, 32, 32, 64, 3, 3, 1, 1),
    "c128_28x28_k128_3x3": (8, 128, 28, 28, 128, 3, 3, 1, 1),
    "first_c1_28x28_k32_5x5": (64, 1, 28, 28, 32, 5, 5, 0, 1),
    "depthwise_c64_32x32_3x3": (32, 64, 32, 32, 64, 3, 3, 1, 64),
    "pointwise_c64_28x28_k128_1x1": (16, 64, 28, 28, 128, 1, 1, 0, 1),
}


def flops(shape, passes):
    n, c, h, w, k, r, s, pad, groups = shape
    out_h, out_w = h + 2 * pad - r + 1, w + 2 * pad - s + 1
    return 2.0 * n * k * (c // groups) * r * s * out_h * out_w * passes


def make_arrays(shape):
    n, c, h, w, k, r, s, pad, groups = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c // groups, r, s)) / np.sqrt(c // groups * r * s)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    out_h, out_w = h + 2 * pad - r + 1, w + 2 * pad - s + 1
    dy = rng.standard_normal((n, k, out_h, out_w)).astype(np.float32)
    return x, wt, b, dy


def pyengine_step(shape, backward):
    pad, groups = shape[7], shape[8]
    x, w, b, dy = make_arrays(shape)
    if not backward:
        xt, wt, bt = pyengine.Tensor(x), pyengine.Tensor(w), pyengine.Tensor(b)
        return lambda: conv2d(xt, wt, bt, padding=pad, groups=groups)

    def step():
        xt, wt, bt = (pyengine.Tensor(a, requires_grad=True) for a in (x, w, b))
        conv2d(xt, wt, bt, padding=pad, groups=groups).backward(dy)

    return step


def torch_step(shape, backward):
    pad, groups = shape[7], shape[8]
    x, w, b, dy = (torch.from_numpy(a) for a in make_arrays(shape))
    if not backward:
        def forward():
            with torch.no_grad():
                F.conv2d(x, w, b, padding=pad, groups=groups)
        return forward

    def step():
        xt, wt, bt = (a.clone().requires_grad_(True) for a in (x, w, b))
        F.conv2d(xt, wt, bt, padding=pad, groups=groups).backward(dy)

    return step


def set_threads(n):
    pyengine.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def median_seconds(fn, min_rounds=5, min_time=0.5):
    fn()  # warm-up: scratch pool, page faults, PyTorch's kernel choice
    times = []
    start = time.perf_counter()
    while len(times) < min_rounds or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return float(np.median(times))


def paired_medians(first, second, min_rounds=7, min_time=1.0):
    """Medians of two functions timed alternately, round after round, so that a
    shared machine's changing load falls on both alike."""
    first(), second()
    a, b = [], []
    start = time.perf_counter()
    while len(a) < min_rounds or (time.perf_counter() - start < min_time and len(a) < 100):
        for fn, times in ((first, a), (second, b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return float(np.median(a)), float(np.median(b))


def measure(name, backward, threads):
    """(pyengine seconds, torch seconds or None): medians of alternating rounds."""
    shape = SHAPES[name]
    set_threads(threads)
    if torch is None:
        return median_seconds(pyengine_step(shape, backward)), None
    return paired_medians(pyengine_step(shape, backward), torch_step(shape, backward))


def summary_row(name, backward, threads, ours, theirs):
    gf = flops(SHAPES[name], 3 if backward else 1) / 1e9
    row = f"{name:30s} {'fwd+bwd' if backward else 'fwd':8s} {threads:2d}  pyengine {ours * 1e3:9.2f} ms {gf / ours:7.1f} GF/s"
    if theirs is not None:
        row += f"   torch {theirs * 1e3:9.2f} ms {gf / theirs:7.1f} GF/s   ratio {theirs / ours:5.2f}x"
    return row


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd+bwd"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_conv2d(benchmark, name, backward, threads):
    shape = SHAPES[name]
    saved = pyengine.get_num_threads()
    set_threads(threads)
    try:
        theirs = median_seconds(torch_step(shape, backward)) if torch is not None else None
        benchmark.pedantic(pyengine_step(shape, backward), rounds=5, warmup_rounds=1)
        ours = benchmark.stats.stats.median
    finally:
        set_threads(saved)
    passes = 3 if backward else 1
    benchmark.extra_info["gflops_pyengine"] = flops(shape, passes) / ours / 1e9
    if theirs is not None:
        benchmark.extra_info["torch_median_s"] = theirs
        benchmark.extra_info["gflops_torch"] = flops(shape, passes) / theirs / 1e9
        benchmark.extra_info["ratio_torch_over_pyengine"] = theirs / ours
    print("\n" + summary_row(name, backward, threads, ours, theirs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--fwd-only", action="store_true")
    args = parser.parse_args()
    print(f"pyengine {pyengine.__version__} isa={pyengine.info()['isa']}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed"))
    for name in args.shapes:
        for backward in ([False] if args.fwd_only else [False, True]):
            for threads in args.threads:
                print(summary_row(name, backward, threads, *measure(name, backward, threads)), flush=True)


if __name__ == "__main__":
    main()
