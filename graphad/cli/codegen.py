"""``graphad codegen``: the generated NumPy source of an expression and its gradient."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import parse_names

HELP = "print the generated Python/NumPy source computing an expression and its gradient"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + sin(x*y)"')
    parser.add_argument(
        "--wrt", help="comma-separated inputs to differentiate by (default: all, sorted)"
    )
    parser.add_argument(
        "--no-grad", action="store_true", help="compile the expression's value only"
    )
    parser.add_argument(
        "--no-optimize", action="store_true", help="skip the graph rewrites (folding, CSE ...)"
    )
    parser.add_argument("-o", "--output", help="also export it as a standalone module here")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    import graphad as ga

    out = out or sys.stdout
    with ga.Graph():
        e = ga.parse(args.expr)
        wrt = parse_names(args.wrt) or list(e.free_symbols)
        outputs = [e]
        if not args.no_grad and wrt:
            outputs += ga.grad(e, wrt)
        inputs = sorted(set(e.free_symbols) | set(wrt))
        f = ga.compile(outputs, inputs=inputs, optimize=not args.no_optimize)
    if args.output:  # first: a path that cannot be written prints nothing but the error
        try:
            ga.export(f, args.output)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ga.GraphadError(f"cannot write {args.output!r}: {reason}") from None
    _header(f, wrt if not args.no_grad else [], out)
    print(f.source, end="", file=out)
    if args.output:
        print(f"# written to {args.output!r}", file=out)
    return 0


def _header(f, wrt: list[str], out: TextIO) -> None:
    """Which parameter is which input and which result is which output.

    Input names are printed here, as comments outside the generated source,
    with ``repr`` so that no name can start a new line (cut to 200 characters).
    """
    from graphad.core._escape import py_comment

    print("# parameters:", file=out)
    for k, name in enumerate(f.input_names):
        print(f"#   x{k} = {py_comment(name)}", file=out)
    results = ["value"] + [f"d/d{py_comment(w)}" for w in wrt]
    print(f"# returns ({', '.join(results)})", file=out)


def demo(out: TextIO) -> None:
    """The compiled gradient of the notebook's f(x) = x**2 + x - 1."""
    import graphad as ga

    print("== Compiling the gradient of f(x) = x**2 + x - 1 to NumPy source ==", file=out)
    with ga.Graph():
        e = ga.parse("x**2 + x - 1")
        f = ga.compile(ga.grad(e, "x"))
    body = f.source[f.source.index("def graphad_function") :]
    print(body, end="", file=out)
    print(f"graphad_function(3.0) = {float(f(3.0)):g}", file=out)
