"""``graphad grad``: the gradient of an expression, as text and at a point."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import parse_assignments, parse_names

HELP = "differentiate an expression (prints each partial derivative, and its value with --at)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + sin(x*y)"')
    parser.add_argument("--wrt", help="comma-separated inputs (default: all, sorted)")
    parser.add_argument("--at", help="input values, e.g. x=3,y=2")
    parser.add_argument(
        "--order", type=int, default=1, choices=(1, 2), help="1: gradient (default), 2: Hessian"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    import graphad as ga

    out = out or sys.stdout
    with ga.Graph():
        e = parse_scalar(args.expr)
        wrt = parse_names(args.wrt) or list(e.free_symbols)
        values = parse_assignments(args.at)
        if args.order == 1:
            rows = [(f"d/d{w}", g) for w, g in zip(wrt, ga.grad(e, wrt), strict=True)]
        else:
            h = ga.hessian(e, wrt)
            rows = [(f"d2/d{a}d{b}", h[i][j]) for i, a in enumerate(wrt) for j, b in enumerate(wrt)]
        if values:
            print(f"f = {e}  =  {_fmt(e.eval(values))}", file=out)
        for label, g in rows:
            text = _simplified(g)
            if values:
                print(f"{label} = {text}  =  {_fmt(g.eval(values))}", file=out)
            else:
                print(f"{label} = {text}", file=out)
    return 0


def parse_scalar(text: str):
    """Parse ``text`` once, its inputs undeclared: command-line values are scalars, and a
    gradient prints per element (as a person writes it) whatever the shapes."""
    import graphad as ga

    return ga.parse(text)


def _simplified(g) -> str:
    """The gradient's text after the compiler's simplifications, when available."""
    try:
        from graphad.expr import Expr
        from graphad.rewrite import optimize

        graph, (nid,) = optimize([g])
        return str(Expr(graph, nid))
    except ImportError:
        return str(g)


def _fmt(value) -> str:
    import numpy as np

    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item():.10g}"
    return np.array2string(arr, precision=6)


def demo(out: TextIO) -> None:
    """The notebook's example: x**2 + x - 1, its gradient graph and value 7 at x=3."""
    import graphad as ga

    print("== Differentiating the notebook's f(x) = x**2 + x - 1 ==", file=out)
    with ga.Graph() as g:
        e = parse_scalar("x**2 + x - 1")
        gx = ga.grad(e, "x")
        print(f"f(x)      = {e}", file=out)
        print(f"f'(x)     = {_simplified(gx)}", file=out)
        print(f"f(3)      = {_fmt(e.eval(x=3.0))}", file=out)
        print(f"f'(3)     = {_fmt(gx.eval(x=3.0))}", file=out)
        # the graph as it runs for a float64 scalar x: the shape helpers an input of
        # unknown shape needs are gone (graphad.specialize)
        import numpy as np

        from graphad.graph import topo_order
        from graphad.specialize import specialize

        spec = specialize(g, [e.id, gx.id], [g.input_id("x")], [((), np.dtype("float64"))])
        g = spec.graph
        print("gradient graph for a float64 scalar x (node: op(args), role):", file=out)
        for n in topo_order(g, list(spec.outputs)):
            node = g.node(n)
            args = ", ".join(g.label(a) for a in node["args"])
            what = (
                node["name"]
                if node["op"] == "input"
                else (_fmt(node["value"]) if node["op"] == "constant" else f"{node['op']}({args})")
            )
            marks = ", ".join(f"d{g.label(o)}/d{g.label(m)}" for o, m in node.get("adjoint", []))
            print(
                f"  v{n:<3} = {what:<28} {node['role']}{'  holds ' + marks if marks else ''}",
                file=out,
            )
