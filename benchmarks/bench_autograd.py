"""Autograd overhead against PyTorch, in the same run.

- the cost of one recorded `add` on 1-element tensors (forward + graph record),
- one training step of a 784-256-128-10 ReLU MLP (forward, cross-entropy written
  as log_softmax + gather, backward, plain SGD under no_grad) at batch 64 and 1.

Both libraries run on the same thread count (BENCH_THREADS, default pyengine's). Run with
`python -m pytest benchmarks/bench_autograd.py --benchmark-only -s`; the summary
table at the end prints the median times and the PyTorch / pyengine ratios.
"""
import os

import numpy as np
import pytest

import pyengine as pe

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


def _record(benchmark, case, backend):
    _medians[(case, backend)] = benchmark.stats.stats.median
    other = _medians.get((case, "torch" if backend == "pyengine" else "pyengine"))
    if other is not None:
        mine = _medians[(case, "pyengine")]
        benchmark.extra_info["torch_over_pyengine"] = _medians[(case, "torch")] / mine


# ---- one recorded add on 1-element tensors ---------------------------------------------------
@pytest.mark.parametrize("backend", ["pyengine", "torch"])
def test_add_overhead(benchmark, backend):
    lib = pe if backend == "pyengine" else torch
    a = lib.ones(1, requires_grad=True)
    b = lib.ones(1, requires_grad=True)

    def add_100():
        # 100 adds per call, so the timer's own overhead does not count.
        for _ in range(10):
            a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b; a + b  # noqa: E702

    benchmark(add_100)
    _record(benchmark, "add, 1 element, x100", backend)


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
@pytest.mark.parametrize("backend", ["pyengine", "torch"])
def test_mlp_training_step(benchmark, backend, layers, batch):
    lib, linear = (pe, pe.linear) if backend == "pyengine" else (torch, torch.nn.functional.linear)
    rng = np.random.default_rng(1)
    x = lib.tensor(rng.standard_normal((batch, layers[0])).astype(np.float32))
    y = lib.tensor(rng.integers(0, layers[-1], batch))
    params = _mlp_params(lib, layers)
    first = float(train_step(lib, linear, x, y, params))
    benchmark(train_step, lib, linear, x, y, params)
    assert float(train_step(lib, linear, x, y, params)) < first  # the steps do train
    _record(benchmark, f"MLP {'-'.join(map(str, layers))}, batch {batch}", backend)


@pytest.fixture(autouse=True, scope="module")
def summary_table():
    """Prints the medians and ratios once every benchmark of the module has run."""
    yield
    if not _medians:
        return
    cases = sorted({case for case, _ in _medians})
    print(f"\n{'case':<34}{'pyengine':>14}{'torch':>14}{'torch/pyengine':>16}   ({THREADS} threads)")
    for case in cases:
        mine, theirs = _medians.get((case, "pyengine")), _medians.get((case, "torch"))
        if mine is not None and theirs is not None:
            print(f"{case:<34}{mine * 1e6:>12.1f}us{theirs * 1e6:>12.1f}us{theirs / mine:>15.2f}x")
