"""``graphad render``: draw an expression's graph (and its gradient) to SVG, PNG, PDF or DOT."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import parse_assignments, parse_names

HELP = "draw the computational graph (forward and, with --grad, gradient nodes) to a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + sin(x*y)"')
    parser.add_argument(
        "-o", "--output", default="graph.svg",
        help="output file; the suffix picks the format: .svg (default graph.svg), .png, .pdf, "
        ".dot/.gv (no Graphviz program needed), or .html: a page stepping through the "
        "backward pass node by node (needs --at)",
    )  # fmt: skip
    parser.add_argument("--grad", action="store_true", help="also draw the gradient nodes")
    parser.add_argument("--wrt", help="inputs to differentiate with respect to (implies --grad)")
    parser.add_argument("--at", help="input values shown on every node, e.g. x=3,y=2 or v=[1,2,3]")
    parser.add_argument("--rankdir", default="TB", choices=("TB", "LR", "BT", "RL"),
                        help="layout direction (default TB: top to bottom)")  # fmt: skip
    parser.add_argument("--max-nodes", type=int, default=200,
                        help="collapse or hide nodes beyond this many (default 200)")  # fmt: skip


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    import graphad as ga

    out = out or sys.stdout
    with ga.Graph():
        e = ga.parse(args.expr)
        exprs = [e]
        wrt = parse_names(args.wrt)
        page = args.output.lower().endswith((".html", ".htm"))
        if args.grad or wrt or page:
            wrt = wrt or list(e.free_symbols)
            if not wrt:
                raise ga.GraphadError("--grad: the expression has no inputs to differentiate")
            exprs += ga.grad(e, wrt)
        values = parse_assignments(args.at) or None
        if page and values is None:
            raise ga.GraphadError(
                "an .html page steps through the backward pass at a point: give it with --at, "
                "e.g. --at x=2,y=0.5"
            )
        if args.max_nodes is not None and args.max_nodes < 1:
            raise ga.GraphadError(f"--max-nodes must be at least 1, not {args.max_nodes}")
        # a path that cannot be written, or Graphviz failing, is a GraphadError (exit 2)
        ga.render(exprs, args.output, at=values, rankdir=args.rankdir, max_nodes=args.max_nodes)
    print(args.output, file=out)
    return 0


def demo(out: TextIO) -> None:
    """The notebook's ``x**2 + x - 1`` with its gradient at x=3, drawn to ``backprop.svg``."""
    import graphad as ga

    print("== Drawing the backprop graph of f(x) = x**2 + x - 1 at x=3 ==", file=out)
    with ga.Graph():
        e = ga.parse("x**2 + x - 1")
        gx = ga.grad(e, "x")
        try:
            ga.render([e, gx], "backprop.svg", at={"x": 3.0})
            path = "backprop.svg"
        except ga.GraphadError as exc:  # no Graphviz program: DOT text still works
            ga.render([e, gx], "backprop.dot", at={"x": 3.0})
            path = "backprop.dot"
            print(f"(no SVG: {exc})", file=out)
    print(f"forward nodes (blue), gradient nodes (orange), values and adjoints: {path}",
          file=out)  # fmt: skip
