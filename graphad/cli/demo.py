"""``graphad demo``: a tour of what graphad does, from the two notebooks it grew from."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import TextIO

HELP = "run a short tour: differentiate, compile, draw, check, minimize and train"

# (command module, what its demo shows), in the order of the tour
SECTIONS = ("grad", "codegen", "render", "check", "minimize", "train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    skip = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    for name in SECTIONS:
        if name in skip:
            continue
        module = import_module(f"graphad.cli.{name}")
        module.demo(out)
        print(file=out)
    return 0


def demo(out: TextIO) -> None:  # the tour itself has no sub-section
    run(argparse.Namespace(skip=""), out)
