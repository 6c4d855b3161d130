"""Loss benchmarks: pyengine against NumPy and PyTorch in the same run, at the
same thread count. Run with
    python -m pytest benchmarks/bench_loss.py --benchmark-only -s
Each case runs on one thread and on all of pyengine's threads, PyTorch being
set to the same count. The summary table at the end gives medians and the
ratio baseline / pyengine (above 1: pyengine is faster)."""
import numpy as np
import pytest

import pyengine
from pyengine.ops import loss as F

torch = pytest.importorskip("torch")

MEDIANS = {}  # (case, threads, engine) -> median seconds
ALL_THREADS = pyengine.get_num_threads()
THREADS = sorted({1, ALL_THREADS})


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    pyengine.set_num_threads(ALL_THREADS)
    print(f"\nloss benchmarks, ISA {pyengine.info()['isa']} (medians)")
    for case, threads in sorted({key[:2] for key in MEDIANS}):
        ours = MEDIANS.get((case, threads, "pyengine"))
        for engine in ("numpy", "torch"):
            base = MEDIANS.get((case, threads, engine))
            if ours and base:
                print(f"  {case:<26} {threads} thr  pyengine {ours * 1e3:8.3f} ms   {engine:<6} {base * 1e3:8.3f} ms"
                      f"   ratio {base / ours:5.2f}x")


def record(benchmark, case, threads, engine, fn):
    pyengine.set_num_threads(threads)
    torch.set_num_threads(threads)
    benchmark(fn)
    MEDIANS[(case, threads, engine)] = benchmark.stats.stats.median
    benchmark.extra_info.update(case=case, threads=threads)


# ---- cross-entropy forward + backward on (512, 1000) -----------------------------------

def cross_entropy_inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((512, 1000)).astype(np.float32), rng.integers(0, 1000, 512)


def cross_entropy_numpy(x, y):
    """log-softmax + NLL mean and its gradient (softmax - one-hot) / rows in NumPy."""
    shifted = x - x.max(1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(1, keepdims=True)
    loss = (np.log(s[:, 0]) - shifted[np.arange(len(y)), y]).mean()
    grad = e / s
    grad[np.arange(len(y)), y] -= 1
    return loss, grad / len(y)


@pytest.mark.parametrize("engine", ["pyengine", "numpy", "torch"])
@pytest.mark.parametrize("threads", THREADS)
def test_cross_entropy_forward_backward(benchmark, threads, engine):
    x, y = cross_entropy_inputs()
    if engine == "pyengine":
        def step():
            t = pyengine.Tensor(x, requires_grad=True)
            F.cross_entropy(t, y).backward()
            return t.grad
    elif engine == "numpy":
        def step():
            return cross_entropy_numpy(x, y)
    else:
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            t = tx.detach().requires_grad_()
            torch.nn.functional.cross_entropy(t, ty).backward()
            return t.grad
    record(benchmark, "cross_entropy (512, 1000)", threads, engine, step)


# ---- CTC forward + backward, T=100, N=16, C=30, targets of 20 ---------------------------

def ctc_inputs():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((100, 16, 30)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = rng.integers(1, 30, (16, 20))
    return log_probs, targets, np.full(16, 100), np.full(16, 20)


@pytest.mark.parametrize("engine", ["pyengine", "torch"])
@pytest.mark.parametrize("threads", THREADS)
def test_ctc_forward_backward(benchmark, threads, engine):
    log_probs, targets, input_lengths, target_lengths = ctc_inputs()
    if engine == "pyengine":
        def step():
            t = pyengine.Tensor(log_probs, requires_grad=True)
            F.ctc_loss(t, targets, input_lengths, target_lengths).backward()
            return t.grad
    else:
        args = [torch.from_numpy(a) for a in (targets, input_lengths, target_lengths)]
        tlp = torch.from_numpy(log_probs)

        def step():
            t = tlp.detach().requires_grad_()
            torch.nn.functional.ctc_loss(t, *args).backward()
            return t.grad
    record(benchmark, "ctc T=100 N=16 C=30 S=20", threads, engine, step)
