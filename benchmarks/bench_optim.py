"""One optimizer step over an MLP with ~1.07M parameters (784-1024-256-10),
pyengine's fused per-parameter kernels against torch.optim (default: foreach)
in the same run, at the same thread count (1, and all of pyengine's threads).

    python -m pytest benchmarks/bench_optim.py --benchmark-only
"""
import statistics

import numpy as np
import pytest

import pyengine as pe
import pyengine.optim as optim
from pyengine.nn import Parameter

torch = pytest.importorskip("torch")

LAYERS = [(784, 1024), (1024, 256), (256, 10)]
CONFIGS = {
    "Adam": (dict(lr=1e-3), dict(lr=1e-3)),
    "AdamW": (dict(lr=1e-3), dict(lr=1e-3)),
    "SGD": (dict(lr=0.01, momentum=0.9), dict(lr=0.01, momentum=0.9)),
}
_medians = {}
THREADS = sorted({1, pe.get_num_threads()})


def mlp_arrays(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [s for n_in, n_out in LAYERS for s in ((n_out, n_in), (n_out,))]
    return [rng.standard_normal(s).astype(np.float32) for s in shapes], \
        [rng.standard_normal(s).astype(np.float32) * 1e-2 for s in shapes]


def make_step(library, name, threads):
    pe.set_num_threads(threads)
    values, grads = mlp_arrays()
    if library == "pyengine":
        params = [Parameter(v.copy()) for v in values]
        for p, g in zip(params, grads):
            p.grad = pe.tensor(g)
        opt = getattr(optim, name)(params, **CONFIGS[name][0])
    else:
        torch.set_num_threads(threads)
        params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        opt = getattr(torch.optim, name)(params, **CONFIGS[name][1])
    opt.step()  # state allocated outside the timing
    return opt.step


@pytest.mark.parametrize("library", ["pyengine", "torch"])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("threads", THREADS)
def test_optimizer_step(benchmark, threads, name, library):
    saved = pe.get_num_threads()
    step = make_step(library, name, threads)
    try:
        benchmark.pedantic(step, rounds=40, iterations=1, warmup_rounds=3)
    finally:
        pe.set_num_threads(saved)
    median = statistics.median(benchmark.stats.stats.data)
    _medians[(threads, name, library)] = median
    benchmark.extra_info.update(params=sum(i * o + o for i, o in LAYERS), threads=threads)
    other = _medians.get((threads, name, "torch" if library == "pyengine" else "pyengine"))
    if other is not None:
        ours = median if library == "pyengine" else other
        theirs = other if library == "pyengine" else median
        benchmark.extra_info["speedup_vs_torch"] = theirs / ours
        print(f"\n{name}, {threads} thread(s): pyengine {ours * 1e3:.3f} ms, torch {theirs * 1e3:.3f} ms (medians), "
              f"speed-up {theirs / ours:.2f}x")
