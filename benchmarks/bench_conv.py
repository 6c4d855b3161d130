"""conv2d against PyTorch's F.conv2d, forward and forward+backward, at 1 and 2 threads.

    python -m pytest benchmarks/bench_conv.py --benchmark-only   # pytest-benchmark, ratio in extra_info
    pyengine bench conv                                          # the same shapes as one table

The shapes, operands and callables are pyengine.bench's (CONV_CASES), so the
two reports measure the same thing. Effective GFLOPS count
2*N*K*(C/groups)*R*S*Hout*Wout per pass, three passes for forward+backward
(input, weight and bias gradients). PyTorch runs in the same process with the
same thread count, its rounds alternating with pyengine's; the ratio is
PyTorch's median time over pyengine's (above 1: pyengine is faster).
"""
import pytest

import pyengine
from pyengine.bench import CONV_CASES, compare_medians, conv_callables, conv_flops


def set_threads(n):
    pyengine.set_num_threads(n)
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd+bwd"])
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv2d(benchmark, name, backward, threads):
    shape = CONV_CASES[name]
    saved = pyengine.get_num_threads()
    set_threads(threads)
    try:
        ours, theirs = conv_callables(shape, backward)
        benchmark.pedantic(ours, rounds=5, warmup_rounds=1)
        median = benchmark.stats.stats.median
        torch_median = None
        if theirs is not None:
            # The ratio comes from the two measured in alternating blocks, so that a change in the
            # machine's speed between pytest-benchmark's rounds and PyTorch's reaches both alike.
            median, torch_median = compare_medians([ours, theirs])
    finally:
        set_threads(saved)
    gflop = conv_flops(shape, backward) * 1e-9
    benchmark.extra_info["gflops_pyengine"] = gflop / median
    line = f"{name} {'fwd+bwd' if backward else 'fwd'} threads={threads}: pyengine {median * 1e3:.2f} ms"
    if torch_median is not None:
        benchmark.extra_info["torch_median_s"] = torch_median
        benchmark.extra_info["gflops_torch"] = gflop / torch_median
        benchmark.extra_info["ratio_torch_over_pyengine"] = torch_median / median
        line += f", torch {torch_median * 1e3:.2f} ms, ratio {torch_median / median:.2f}x"
    print("\n" + line)
