"""``pyengine bench``: small benchmark tables, pyengine against its baseline.

Each section is a function registered with :func:`section` that returns a
:class:`Table`; ``pyengine bench NAME`` runs one, ``pyengine bench`` all.
Timings are medians of interleaved runs (ours, baseline, ours, ...), so a
busy machine slows both sides alike and the ratio stays meaningful.

Adding a section::

    @section("conv")
    def conv_section(threads):
        table = Table("conv2d", ["shape", "threads", "pyengine ms", "numpy ms", "ratio"])
        ...
        return table
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Callable

import numpy as np

SECTIONS: dict[str, Callable[[list[int]], "Table"]] = {}

# Environment variables that force OpenBLAS (NumPy's BLAS) onto a kernel or
# cache size other than the one it would pick for this CPU: a comparison with
# NumPy is only fair without them.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def section(name: str):
    """Registers a benchmark section: ``fn(threads: list[int]) -> Table``."""

    def register(fn):
        SECTIONS[name] = fn
        return fn

    return register


class Table:
    """Rows of formatted cells under a title, printed as aligned columns."""

    def __init__(self, title: str, columns: list[str], notes: list[str] | None = None):
        self.title = title
        self.columns = columns
        self.rows: list[list[str]] = []
        self.notes = list(notes or [])

    def add(self, *cells) -> None:
        self.rows.append([c if isinstance(c, str) else f"{c:.2f}" if isinstance(c, float) else str(c) for c in cells])

    def render(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        line = "  ".join(c.rjust(w) for c, w in zip(self.columns, widths))
        out = [self.title, line, "-" * len(line)]
        out += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in self.rows]
        out += self.notes
        return "\n".join(out)


def compare_medians(fns: list[Callable[[], object]], rounds: int = 5, block_seconds: float = 0.03,
                    settle_seconds: float = 0.1) -> list[float]:
    """Median seconds per call of each function, measured in alternating
    blocks: every round runs each function for ``block_seconds`` of
    consecutive calls. Before each block the process pauses for
    ``settle_seconds`` and makes one untimed call: thread pools (OpenBLAS,
    OpenMP runtimes) keep their workers spinning for a while after a call, and
    without the pause one library's spinning workers would hold the cores
    during the other library's threaded call."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            time.sleep(settle_seconds)
            fn()
            block_start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                ts.append(t1 - t0)
                if t1 - block_start >= block_seconds:
                    break
    return [statistics.median(ts) for ts in times]


def numpy_blas() -> str:
    """Which BLAS NumPy runs and which of its kernels (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            return f"{lib.get('internal_api')} {lib.get('version')}, kernel {lib.get('architecture')}"
    return "unknown"


def openblas_overrides() -> list[str]:
    return [f"{k}={os.environ[k]}" for k in OPENBLAS_OVERRIDES if k in os.environ]


# ---- gemm --------------------------------------------------------------------

# (label, (m, k, n), dtype, epilogue): the shapes pyengine's GEMM is measured
# on; "bias_relu" fuses act(a @ b + bias) against NumPy's two-step version.
GEMM_CASES = [
    ("square", (64, 64, 64), "float32", None),
    ("square", (256, 256, 256), "float32", None),
    ("square", (512, 512, 512), "float32", None),
    ("square", (1024, 1024, 1024), "float32", None),
    ("square", (2048, 2048, 2048), "float32", None),
    ("gemv", (1, 1024, 1024), "float32", None),
    ("mlp", (64, 784, 128), "float32", None),
    ("conv", (256, 4608, 64), "float32", None),
    ("conv", (3136, 576, 64), "float32", None),
    ("wide", (128, 128, 4096), "float32", None),
    ("bias+relu", (64, 784, 128), "float32", "bias_relu"),
    ("square", (1024, 1024, 1024), "float64", None),
]


def gemm_operands(shape, dtype, seed=0):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    return a, b, bias


def gemm_callables(shape, dtype, epilogue):
    """(pyengine, numpy) callables computing the same product, with outputs
    allocated once so both measure the product, not the allocator."""
    from pyengine import kernels

    a, b, bias = gemm_operands(shape, dtype)
    out = np.empty((shape[0], shape[2]), dtype)
    ref = np.empty_like(out)
    if epilogue == "bias_relu":
        return (lambda: kernels.gemm(a, b, out, bias=bias, activation="relu"),
                lambda: np.maximum(np.matmul(a, b, out=ref) + bias, 0))
    return lambda: kernels.gemm(a, b, out), lambda: np.matmul(a, b, out=ref)


@section("gemm")
def gemm_section(threads: list[int]) -> Table:
    import pyengine
    from pyengine import kernels
    from threadpoolctl import threadpool_limits

    notes = [f"NumPy: {numpy_blas()}; pyengine: {pyengine.info()['isa']} kernels.",
             "ratio = NumPy time / pyengine time (> 1: pyengine is faster); "
             "peak = measured FMA peak (pyengine.kernels.peak_gflops) at that thread count."]
    if openblas_overrides():
        notes.append("WARNING: " + ", ".join(openblas_overrides()) + " is set: NumPy runs a forced OpenBLAS kernel.")
    table = Table("GEMM (GFLOPS, median of interleaved runs)",
                  ["case", "m x k x n", "dtype", "threads", "pyengine", "numpy", "ratio", "% peak"], notes)
    saved = pyengine.get_num_threads()
    try:
        for t in threads:
            pyengine.set_num_threads(t)
            peak = {d: kernels.peak_gflops(t, d) for d in ("float32", "float64")}
            with threadpool_limits(limits=t, user_api="blas"):
                for label, shape, dtype, epilogue in GEMM_CASES:
                    ours, theirs = compare_medians(list(gemm_callables(shape, dtype, epilogue)))
                    gflop = 2.0 * shape[0] * shape[1] * shape[2] * 1e-9
                    table.add(label, " x ".join(map(str, shape)), dtype, t, gflop / ours, gflop / theirs,
                              theirs / ours, 100.0 * gflop / ours / peak[dtype])
    finally:
        pyengine.set_num_threads(saved)
    return table


def run(names: list[str] | None = None, threads: list[int] | None = None) -> int:
    """Runs the named sections (all when empty) and prints their tables."""
    names = names or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"bench: unknown section {', '.join(unknown)} (choose from {', '.join(SECTIONS)})", file=sys.stderr)
        return 2
    threads = threads or [1, 2]
    for name in names:
        print(SECTIONS[name](threads).render(), flush=True)
        print()
    return 0


# ---- recurrent ---------------------------------------------------------------

# (label, seq_len, batch, input_size, hidden_size, num_layers)
RECURRENT_CASES = [
    ("seq50 b32 i128 h256", 50, 32, 128, 256, 1),
    ("seq100 b1 i64 h128", 100, 1, 64, 128, 1),
    ("seq35 b20 i650 h650 x2", 35, 20, 650, 650, 2),
]


def recurrent_callables(cell: str, case, backward: bool, torch=None):
    """(pyengine, torch or None) callables running nn.<cell> ('LSTM' or 'GRU')
    over one float32 batch: forward without a graph, or forward and backward
    of output.sum(). Both models hold the same weights."""
    import pyengine
    import pyengine.nn as nn

    _, seq_len, batch, input_size, hidden, layers = case
    model = getattr(nn, cell)(input_size, hidden, num_layers=layers)
    x = np.random.default_rng(0).standard_normal((seq_len, batch, input_size)).astype(np.float32)
    x_grad = pyengine.Tensor(x, requires_grad=True)

    def ours():
        if not backward:
            with pyengine.no_grad():
                return model(x)
        model.zero_grad()
        out, _ = model(x_grad)
        out.sum().backward()

    if torch is None:
        return ours, None
    ref = getattr(torch.nn, cell)(input_size, hidden, num_layers=layers)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(model, name).data))
    tx = torch.from_numpy(x)
    tx_grad = torch.from_numpy(x.copy()).requires_grad_(True)

    def theirs():
        if not backward:
            with torch.no_grad():
                return ref(tx)
        ref.zero_grad(set_to_none=True)
        out, _ = ref(tx_grad)
        out.sum().backward()

    return ours, theirs


@section("recurrent")
def recurrent_section(threads: list[int]) -> Table:
    import pyengine

    try:
        import torch
    except ImportError:
        torch = None
    notes = ["ratio = PyTorch time / pyengine time (> 1: pyengine is faster); fwd+bwd = forward and backward "
             "of output.sum()."]
    if torch is None:
        notes.append("PyTorch is not installed: pyengine alone.")
    table = Table("Recurrent layers (ms, median of interleaved runs)",
                  ["cell", "shape", "pass", "threads", "pyengine", "torch", "ratio"], notes)
    saved = (pyengine.get_num_threads(), torch.get_num_threads() if torch else 0)
    try:
        for t in threads:
            pyengine.set_num_threads(t)
            if torch:
                torch.set_num_threads(t)
            for cell in ("LSTM", "GRU"):
                for case in RECURRENT_CASES:
                    for backward in (False, True):
                        fns = [f for f in recurrent_callables(cell, case, backward, torch) if f is not None]
                        times = compare_medians(fns)
                        row = [cell, case[0], "fwd+bwd" if backward else "fwd", t, 1e3 * times[0]]
                        row += [1e3 * times[1], times[1] / times[0]] if torch else ["-", "-"]
                        table.add(*row)
    finally:
        pyengine.set_num_threads(saved[0])
        if torch:
            torch.set_num_threads(saved[1])
    return table


# ---- conv --------------------------------------------------------------------

# name: (N, C, H, W, K, R, S, padding, groups), float32, stride 1; also the
# shapes of benchmarks/bench_conv.py.
CONV_CASES = {
    "first_c3_32x32_k32_3x3": (32, 3, 32, 32, 32, 3, 3, 1, 1),
    "c64_32x32_k64_3x3": (32, 64, 32, 32, 64, 3, 3, 1, 1),
    "c128_28x28_k128_3x3": (8, 128, 28, 28, 128, 3, 3, 1, 1),
    "first_c1_28x28_k32_5x5": (64, 1, 28, 28, 32, 5, 5, 0, 1),
    "depthwise_c64_32x32_3x3": (32, 64, 32, 32, 64, 3, 3, 1, 64),
    "pointwise_c64_28x28_k128_1x1": (16, 64, 28, 28, 128, 1, 1, 0, 1),
}


def conv_flops(shape, backward: bool) -> float:
    """2*N*K*(C/groups)*R*S*Hout*Wout per pass; forward+backward is three passes."""
    n, c, h, w, k, r, s, pad, groups = shape
    out_h, out_w = h + 2 * pad - r + 1, w + 2 * pad - s + 1
    return 2.0 * n * k * (c // groups) * r * s * out_h * out_w * (3 if backward else 1)


def conv_arrays(shape, seed=0):
    """x, weight, bias and an output gradient for a CONV_CASES shape."""
    n, c, h, w, k, r, s, pad, groups = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = (rng.standard_normal((k, c // groups, r, s)) / np.sqrt(c // groups * r * s)).astype(np.float32)
    bias = rng.standard_normal(k).astype(np.float32)
    dy = rng.standard_normal((n, k, h + 2 * pad - r + 1, w + 2 * pad - s + 1)).astype(np.float32)
    return x, weight, bias, dy


def conv_callables(shape, backward: bool):
    """(pyengine, torch or None) callables: conv2d forward, or forward + backward
    to the input, weight and bias gradients."""
    import pyengine
    from pyengine.ops.conv import conv2d

    pad, groups = shape[7], shape[8]
    x, w, b, dy = conv_arrays(shape)

    def ours():
        xt, wt, bt = (pyengine.Tensor(a, requires_grad=backward) for a in (x, w, b))
        y = conv2d(xt, wt, bt, padding=pad, groups=groups)
        if backward:
            y.backward(dy)

    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return ours, None
    tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))

    def theirs():
        with torch.set_grad_enabled(backward):
            xt, wt, bt = (a.clone().requires_grad_(backward) for a in (tx, tw, tb))
            y = F.conv2d(xt, wt, bt, padding=pad, groups=groups)
            if backward:
                y.backward(tdy)

    return ours, theirs


@section("conv")
def conv_section(threads: list[int]) -> Table:
    import pyengine

    try:
        import torch
    except ImportError:
        torch = None
    notes = ["GFLOPS = 2*N*K*C/groups*R*S*Hout*Wout per pass, x3 for fwd+bwd (input, weight and bias gradients).",
             "ratio = PyTorch time / pyengine time (> 1: pyengine is faster), same thread count on both."]
    if torch is None:
        notes.append("PyTorch is not installed: pyengine alone.")
    table = Table("conv2d (median of interleaved runs)",
                  ["case", "pass", "threads", "pyengine ms", "pyengine GF/s", "torch ms", "torch GF/s", "ratio"], notes)
    saved = pyengine.get_num_threads()
    saved_torch = torch.get_num_threads() if torch is not None else None
    try:
        for t in threads:
            pyengine.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            for name, shape in CONV_CASES.items():
                for backward in (False, True):
                    fns = [f for f in conv_callables(shape, backward) if f is not None]
                    times = compare_medians(fns)
                    gflop = conv_flops(shape, backward) * 1e-9
                    row = [name, "fwd+bwd" if backward else "fwd", t, times[0] * 1e3, gflop / times[0]]
                    row += [times[1] * 1e3, gflop / times[1], times[1] / times[0]] if len(times) > 1 else ["-"] * 3
                    table.add(*row)
    finally:
        pyengine.set_num_threads(saved)
        if torch is not None:
            torch.set_num_threads(saved_torch)
    return table
