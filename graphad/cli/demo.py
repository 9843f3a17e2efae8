"""``graphad demo``: a tour of what graphad does, from the two notebooks it grew from."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import TextIO

HELP = (
    "run a short tour: differentiate, compile, draw, check, minimize and train "
    "(examples/tour.ipynb is the same tour as a notebook)"
)
NOTEBOOK = "examples/tour.ipynb"

# (command module, what its demo shows), in the order of the tour
SECTIONS = ("grad", "codegen", "render", "check", "minimize", "train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip", default="",
        help=f"comma-separated sections to skip, of: {', '.join(SECTIONS)}",
    )  # fmt: skip


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    skip = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    unknown = sorted(skip - set(SECTIONS))
    if unknown:
        from graphad.core.errors import GraphadError

        raise GraphadError(
            f"--skip: no section named {', '.join(map(repr, unknown))}; "
            f"the sections are {', '.join(SECTIONS)}"
        )
    for name in SECTIONS:
        if name in skip:
            continue
        module = import_module(f"graphad.cli.{name}")
        module.demo(out)
        print(file=out)
    print(
        f"The same tour as a notebook, with pictures: {NOTEBOOK} in the graphad repository",
        file=out,
    )
    return 0


def demo(out: TextIO) -> None:  # the tour itself has no sub-section
    run(argparse.Namespace(skip=""), out)
