"""A progress bar for the apps: tqdm on a terminal, plain lines otherwise.

Logs and CI capture a redrawn bar as thousands of carriage returns, so when the
stream is not a terminal (or tqdm is not installed) the bar becomes one line
every ``interval`` seconds and one when it closes.
"""
from __future__ import annotations

import sys
import time


def _format_stats(stats: dict) -> str:
    parts = []
    for key, value in stats.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class Progress:
    """Counts ``total`` items (images, tokens ...) of one pass and shows the
    count, the live statistics given to ``update`` and the items per second."""

    def __init__(self, total: int, desc: str = "", unit: str = "img", stream=None,
                 use_tqdm: bool | None = None, interval: float = 10.0):
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.count = 0
        self.stats: dict = {}
        self.start = time.perf_counter()
        self._last_line = self.start
        self._closed = False
        self._bar = None
        if use_tqdm is None:
            use_tqdm = bool(getattr(self.stream, "isatty", lambda: False)())
        if use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, unit_scale=True,
                                 file=self.stream, dynamic_ncols=True, leave=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        elapsed = self.elapsed
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, n: int, **stats) -> None:
        """Adds ``n`` finished items; ``stats`` (e.g. loss=0.31, acc=0.9) replace the shown ones."""
        self.count += n
        self.stats.update(stats)
        if self._bar is not None:
            self._bar.set_postfix_str(_format_stats(self.stats), refresh=False)
            self._bar.update(n)
        elif time.perf_counter() - self._last_line >= self.interval:
            self._write_line()

    def line(self) -> str:
        """The plain-text state: ``desc count/total stats rate``."""
        text = f"{self.desc} {self.count}/{self.total} {self.unit}"
        if self.stats:
            text += " " + _format_stats(self.stats)
        return f"{text} {self.rate:.0f} {self.unit}/s".strip()

    def _write_line(self) -> None:
        self._last_line = time.perf_counter()
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self._write_line()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
