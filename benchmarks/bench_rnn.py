"""Recurrent layers: pyengine against PyTorch's nn.LSTM / nn.GRU in the same run.

    python -m pytest benchmarks/bench_rnn.py --benchmark-only

Each case is timed for forward (no graph) and forward+backward, at 1 and 2
threads; the summary printed at the end gives the medians and the ratio
torch / pyengine (above 1: pyengine is faster). Wall-clock numbers, so run on
a quiet machine or read them as relative figures.
"""
import sys

import numpy as np
import pytest

import pyengine
import pyengine.nn as nn

torch = pytest.importorskip("torch")

# (name, seq_len, batch, input_size, hidden_size, num_layers)
SHAPES = [
    ("seq50-b32-i128-h256", 50, 32, 128, 256, 1),
    ("seq100-b1-i64-h128", 100, 1, 64, 128, 1),
    ("seq35-b20-i650-h650-l2", 35, 20, 650, 650, 2),
]
CELLS = ["LSTM", "GRU"]
PASSES = ["forward", "forward+backward"]
THREADS = [1, 2]

_medians = {}  # (cell, shape, pass, threads, impl) -> seconds


def _pyengine_step(cell, shape, backward):
    _, seq_len, batch, input_size, hidden, layers = shape
    model = getattr(nn, cell)(input_size, hidden, num_layers=layers)
    x = np.random.default_rng(0).standard_normal((seq_len, batch, input_size)).astype(np.float32)
    if not backward:
        def run():
            with pyengine.no_grad():
                model(x)
        return run
    xt = pyengine.Tensor(x, requires_grad=True)

    def run():
        for p in model.parameters():
            p.grad = None
        out, _ = model(xt)
        out.sum().backward()
    return run


def _torch_step(cell, shape, backward):
    _, seq_len, batch, input_size, hidden, layers = shape
    model = getattr(torch.nn, cell)(input_size, hidden, num_layers=layers)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((seq_len, batch, input_size)).astype(np.float32))
    if not backward:
        def run():
            with torch.no_grad():
                model(x)
        return run
    x.requires_grad_(True)

    def run():
        model.zero_grad(set_to_none=True)
        out, _ = model(x)
        out.sum().backward()
    return run


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    rows = sorted({k[:4] for k in _medians})
    if not rows:
        return
    out = sys.__stdout__
    out.write("\nrecurrent layers: median seconds per call, ratio = torch / pyengine\n")
    out.write(f"{'cell':5} {'shape':24} {'pass':17} {'thr':>3} {'pyengine':>10} {'torch':>10} {'ratio':>6}\n")
    for cell, shape, pas, threads in rows:
        ours = _medians.get((cell, shape, pas, threads, "pyengine"))
        theirs = _medians.get((cell, shape, pas, threads, "torch"))
        ratio = f"{theirs / ours:6.2f}" if ours and theirs else "     -"
        fmt = lambda v: f"{v:10.5f}" if v else "         -"  # noqa: E731
        out.write(f"{cell:5} {shape:24} {pas:17} {threads:3d} {fmt(ours)} {fmt(theirs)} {ratio}\n")


@pytest.mark.parametrize("impl", ["pyengine", "torch"])
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("pas", PASSES)
@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_layer(benchmark, cell, shape, pas, threads, impl):
    saved = (pyengine.get_num_threads(), torch.get_num_threads())
    pyengine.set_num_threads(threads)
    torch.set_num_threads(threads)
    try:
        step = (_pyengine_step if impl == "pyengine" else _torch_step)(cell, shape, pas != "forward")
        benchmark.group = f"{cell} {shape[0]} {pas} {threads}t"
        benchmark.pedantic(step, rounds=7, warmup_rounds=1)
    finally:
        pyengine.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])
    median = benchmark.stats.stats.median
    _medians[(cell, shape[0], pas, threads, impl)] = median
    benchmark.extra_info["median_s"] = median
    other = _medians.get((cell, shape[0], pas, threads, "pyengine" if impl == "torch" else "torch"))
    if other:
        benchmark.extra_info["ratio_torch_over_pyengine"] = (median if impl == "torch" else other) / \
            (other if impl == "torch" else median)
