"""The `minibert` console script (also `python -m minibert`).

Each command lives in its own module with two functions, `add_parser(subparsers)` and
`run(args) -> int`; this file only collects them. Errors a user can cause are reported as
one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command modules, in the order `minibert --help` lists them.
COMMAND_MODULES: list[str] = [
    "minibert.commands.embed",
    "minibert.commands.search",
    "minibert.commands.train",
    "minibert.commands.predict",
    "minibert.commands.evaluate",
    "minibert.commands.demo",
    "minibert.commands.info",
    "minibert.commands.parity",
    "minibert.commands.attention",
    "minibert.commands.pretrain",
]


class CommandError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minibert", description="BERT from scratch in plain PyTorch.")
    parser.add_argument("--version", action="version", version=f"minibert {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def installed_version() -> str:
    """The version pip installed (the package metadata); the source's own when run from a
    checkout that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minibert")
    except PackageNotFoundError:
        from minibert import __version__

        return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(argv) if argv is not None else sys.argv[1:]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"minibert {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A command that can continue says how (its `on_interrupt(args, argv)` returns a line, or None).
        hint = getattr(args, "on_interrupt", lambda *_: None)(args, argv)
        print(f"minibert {args.command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
