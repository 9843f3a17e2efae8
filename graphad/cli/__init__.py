"""The ``graphad`` command line.

Each subcommand lives in ``graphad/commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; only the chosen one's
module runs, and graphad itself is imported inside ``run``, so ``--help``
starts fast.  Exit status: 0 success, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

__all__ = ["main", "COMMANDS"]

COMMANDS = ("grad", "render", "check", "minimize", "codegen", "train", "demo")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphad",
        description="Differentiate, compile, draw and check expressions as computational graphs.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = import_module(f"graphad.cli.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from graphad import __version__

        print(f"graphad {__version__}")
        return 0
    if args.command is None:  # a usage error: the help goes to stderr, as argparse's errors
        parser.print_help(sys.stderr)
        return 2
    from graphad.core.errors import GraphadError

    try:
        return int(args._module.run(args) or 0)
    except GraphadError as exc:
        print(f"graphad {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `graphad check ... | head`: the reader has seen enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet final flush
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
