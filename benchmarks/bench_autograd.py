"""Autograd overhead against PyTorch, in the same run.

- the cost of one recorded `add` on 1-element tensors (forward + graph record),
- one training step of a 784-256-128-10 ReLU MLP (forward, cross-entropy written
  as log_softmax + gather, backward, plain SGD under no_grad) at batch 64 and 1.

Both libraries run on the same thread count (BENCH_THREADS, default pyengine's). Run with
`python -m pytest benchmarks/bench_autograd.py --benchmark-only -s`; the summary
table at the end prints the median times of the two libraries measured in
alternating blocks, and the PyTorch / pyengine ratios.
"""
import os

import numpy as np
import pytest

import pyengine as pe
from pyengine.bench import compare_medians

torch = pytest.importorskip("torch")

THREADS = int(os.environ.get("BENCH_THREADS", pe.get_num_threads()))
LAYERS = [784, 256, 128, 10]
LR = 0.01
_medians = {}


@pytest.fixture(autouse=True, scope="module")
def same_threads():
    saved = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    pe.set_num_threads(THREADS)
    yield
    torch.set_num_threads(saved)


def _compare(benchmark, case, step):
    """Times pyengine's step with pytest-benchmark, and both libraries' steps in
    alternating blocks (compare_medians) for the ratio, so that a change in the
    machine's speed during the run reaches both alike."""
    benchmark(step("pyengine"))
    mine, theirs = compare_medians([step("pyengine"), step("torch")], rounds=5, block_seconds=0.3)
    _medians[case] = (mine, theirs)
    benchmark.extra_info["torch_over_pyengine"] = theirs / mine


# ---- one recorded add on 1-element tensors ---------------------------------------------------
def test_add_overhead(benchmark):
    def step(backend):
        lib = pe if backend == "pyengine" else torch
        a = lib.ones(1, requires_grad=True)
        b = lib.ones(1, requires_grad=True)

        def add_100():
            # 100 adds per call, so the timer's own overhead does not count.
            for _ in range(10):
                a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b  # noqa: E702
        return add_100

    _compare(benchmark, "add, 1 element, x100", step)


# ---- MLP training step -------------------------------------------------------------------------
def _mlp_params(lib, layers=LAYERS):
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(layers[:-1], layers[1:]):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
        params += [lib.tensor(w, requires_grad=True), lib.tensor(b, requires_grad=True)]
    return params


def train_step(lib, linear, x, y, params):
    """The same code for both libraries: lib is pyengine or torch."""
    w1, b1, w2, b2, w3, b3 = params
    h = linear(x, w1, b1).relu()
    h = linear(h, w2, b2).relu()
    logits = linear(h, w3, b3)
    loss = -logits.log_softmax(-1).gather(1, y[:, None]).mean()
    loss.backward()
    with lib.no_grad():
        for p in params:
            p -= p.grad * LR
            p.grad = None
    return loss.detach()


# The 784-256-128-10 MLP of the targets, and a 16-16-16-10 one whose step is
# nearly all framework overhead (the matrix products are tiny).
@pytest.mark.parametrize("layers,batch", [(LAYERS, 64), (LAYERS, 1), ([16, 16, 16, 10], 1)],
                         ids=["784-256-128-10 batch 64", "784-256-128-10 batch 1", "16-16-16-10 batch 1"])
def test_mlp_training_step(benchmark, layers, batch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], batch)

    def step(backend):
        lib, linear = (pe, pe.linear) if backend == "pyengine" else (torch, torch.nn.functional.linear)
        xt, yt, params = lib.tensor(x), lib.tensor(y), _mlp_params(lib, layers)
        first = float(train_step(lib, linear, xt, yt, params))
        assert float(train_step(lib, linear, xt, yt, params)) < first  # the steps do train
        return lambda: train_step(lib, linear, xt, yt, params)

    _compare(benchmark, f"MLP {'-'.join(map(str, layers))}, batch {batch}", step)


@pytest.fixture(autouse=True, scope="module")
def summary_table():
    """Prints the medians and ratios once every benchmark of the module has run."""
    yield
    if not _medians:
        return
    print(f"\n{'case':<34}{'pyengine':>14}{'torch':>14}{'torch/pyengine':>16}   ({THREADS} threads)")
    for case, (mine, theirs) in sorted(_medians.items()):
        print(f"{case:<34}{mine * 1e6:>12.1f}us{theirs * 1e6:>12.1f}us{theirs / mine:>15.2f}x")
