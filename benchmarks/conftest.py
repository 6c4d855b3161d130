"""Shared helpers for the pytest-benchmark suites.

A suite records each timing with ``bench_results.add(group, impl, seconds,
work)``; at the end of the session one table per group prints the median
time, the rate (work / second, e.g. GFLOPS) and each implementation's ratio
to the baseline (``numpy`` unless a row says otherwise).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


class BenchResults:
    def __init__(self):
        self.rows = {}  # group -> {impl: (seconds, work)}
        self.notes = []

    def add(self, group, impl, seconds, work=None):
        self.rows.setdefault(group, {})[impl] = (seconds, work)

    def render(self, baseline="numpy", unit="GFLOPS"):
        lines = []
        for group, impls in self.rows.items():
            base = impls.get(baseline)
            for impl, (seconds, work) in impls.items():
                rate = f"{work / seconds * 1e-9:8.1f} {unit}" if work else ""
                ratio = f"  x{base[0] / seconds:5.2f} vs {baseline}" if base and impl != baseline else ""
                lines.append(f"{group:<40} {impl:<10} {seconds * 1e3:10.3f} ms {rate}{ratio}")
        return "\n".join(self.notes + lines)


_results = BenchResults()


@pytest.fixture(scope="session")
def bench_results():
    return _results


def pytest_terminal_summary(terminalreporter):
    if _results.rows:
        terminalreporter.write_sep("=", "benchmark summary (medians; ratio > 1: faster than the baseline)")
        terminalreporter.write_line(_results.render())
