"""Recurrent layers: pyengine's nn.LSTM / nn.GRU against PyTorch's in the same run.

    python -m pytest benchmarks/bench_rnn.py --benchmark-only

Each round calls pyengine and then PyTorch (same weights, same input), so a
busy machine slows both alike; the benchmark's own statistics are those of
the pair, and extra_info holds each side's median and the ratio
torch / pyengine (> 1: pyengine is faster), also printed as a table at the end.
The same cases run as ``pyengine bench recurrent``.
"""
import statistics
import time

import pytest

import pyengine
from pyengine.bench import RECURRENT_CASES, recurrent_callables

torch = pytest.importorskip("torch")

_rows = []


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    if not _rows:
        return
    # Module teardown output is captured like a test's; the table goes to the terminal.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\nrecurrent layers: median ms per call (interleaved rounds), ratio = torch / pyengine")
        print(f"{'cell':5} {'shape':24} {'pass':8} {'thr':>3} {'pyengine':>9} {'torch':>9} {'ratio':>6}")
        for cell, shape, pas, threads, ours, theirs in _rows:
            print(f"{cell:5} {shape:24} {pas:8} {threads:3d} {1e3 * ours:9.2f} {1e3 * theirs:9.2f} "
                  f"{theirs / ours:6.2f}")

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", RECURRENT_CASES, ids=[c[0].replace(" ", "-") for c in RECURRENT_CASES])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_layer(benchmark, cell, case, backward, threads):
    saved = (pyengine.get_num_threads(), torch.get_num_threads())
    pyengine.set_num_threads(threads)
    torch.set_num_threads(threads)
    ours, theirs = recurrent_callables(cell, case, backward, torch)
    times = {"pyengine": [], "torch": []}

    def pair():
        for name, fn in (("pyengine", ours), ("torch", theirs)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    try:
        benchmark.group = f"{cell} {case[0]} {'fwd+bwd' if backward else 'fwd'} {threads}t"
        benchmark.pedantic(pair, rounds=7, warmup_rounds=1)
    finally:
        pyengine.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])
    ours_s = statistics.median(times["pyengine"][1:])  # [0] is the warm-up round
    theirs_s = statistics.median(times["torch"][1:])
    benchmark.extra_info.update(pyengine_median_s=ours_s, torch_median_s=theirs_s, ratio=theirs_s / ours_s)
    _rows.append((cell, case[0], "fwd+bwd" if backward else "fwd", threads, ours_s, theirs_s))
