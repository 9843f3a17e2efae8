"""``graphad check``: check an expression's gradient against finite differences and SymPy."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import parse_assignments, parse_names

HELP = "check an expression's gradient at a point (AD vs finite differences vs SymPy)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + sin(x*y)"')
    parser.add_argument(
        "--at", required=True, help="the point: input values, e.g. x=3,y=2 or v=[1,2,3]"
    )
    parser.add_argument("--wrt", help="comma-separated inputs to check (default: all)")
    parser.add_argument(
        "--rtol",
        type=float,
        help="fixed relative tolerance (default: per element, from rounding-error analysis)",
    )
    parser.add_argument(
        "--atol",
        type=float,
        help="fixed absolute tolerance (default: per element, from rounding-error analysis)",
    )
    parser.add_argument("--no-sympy", action="store_true", help="skip the SymPy witness")
    parser.add_argument(
        "--order",
        type=int,
        choices=(1, 2),
        default=1,
        help="1: the gradient (default); 2: Hessian-vector products vs differences of the gradient",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 for an inconclusive verdict too"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Exit status: 0 pass (or inconclusive unless --strict), 1 fail; bad input raises."""
    import sys

    import graphad as ga

    out = out or sys.stdout
    for flag in ("rtol", "atol"):
        tol = getattr(args, flag)
        if tol is not None and not (tol >= 0 and tol != float("inf")):
            raise ga.GraphadError(f"--{flag} must be a finite number >= 0, not {tol}")
    values = parse_assignments(args.at)
    with ga.Graph():
        e = ga.parse(args.expr)
        wrt = parse_names(args.wrt) or None
        if wrt:
            unknown = [w for w in wrt if w not in e.free_symbols]
            if unknown:
                raise ga.UnknownNameError(
                    f"--wrt names {', '.join(map(repr, unknown))}, which "
                    f"the expression does not use "
                    f"(it uses {', '.join(e.free_symbols) or 'no inputs'})"
                )
        report = ga.check_grad(
            e,
            at=values,
            wrt=wrt,
            rtol=args.rtol,
            atol=args.atol,
            sympy=not args.no_sympy,
            strict=args.strict,
            order=getattr(args, "order", 1),
        )
    print(report.to_json() if args.json else str(report), file=out)
    return 0 if report.ok else 1


def demo(out: TextIO) -> None:
    """Check the gradient of x**2 + sin(x*y) at x=3, y=2 and print the report."""
    print("== Checking a gradient: AD vs finite differences vs SymPy ==", file=out)
    args = argparse.Namespace(
        expr="x**2 + sin(x*y)",
        at="x=3,y=2",
        wrt=None,
        rtol=None,
        atol=None,
        no_sympy=False,
        strict=False,
        json=False,
        order=1,
    )
    print(f'$ graphad check "{args.expr}" --at {args.at}', file=out)
    status = run(args, out)
    print(f"(exit status {status})", file=out)
