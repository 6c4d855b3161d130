"""The ``pyengine`` command."""
from __future__ import annotations

import argparse
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    import pyengine

    for key, value in pyengine.info().items():
        if isinstance(value, list):
            value = ", ".join(value)
        elif key.startswith("cache_"):
            value = f"{value // 1024} KiB"
        print(f"{key:>14}: {value}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    from pyengine import bench

    # OpenBLAS reads these when NumPy loads it: the comparison needs them unset
    # from the start, so the command restarts itself without them.
    if any(k in os.environ for k in bench.OPENBLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in bench.OPENBLAS_OVERRIDES}
        print("bench: restarting without " + ", ".join(bench.openblas_overrides()), flush=True)
        os.execve(sys.executable, [sys.executable, "-m", "pyengine", *sys.argv[1:]], env)
    return bench.run(args.sections, args.threads)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyengine", description="A CPU deep-learning engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="show the build, the instruction set in use and the threads")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("bench", help="time the kernels against NumPy and print the tables")
    p.add_argument("sections", nargs="*", metavar="SECTION", help="sections to run (default: all), e.g. gemm")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
