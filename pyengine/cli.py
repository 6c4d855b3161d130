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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyengine", description="A CPU deep-learning engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="show the build, the instruction set in use and the threads")
    p.set_defaults(func=_cmd_info)
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
