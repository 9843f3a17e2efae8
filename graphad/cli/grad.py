"""``graphad grad``: the gradient of an expression, as text and at a point."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import parse_assignments, parse_names

HELP = "differentiate an expression (prints each partial derivative, and its value with --at)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + sin(x*y)"')
    parser.add_argument("--wrt", help="comma-separated inputs (default: all, sorted)")
    parser.add_argument("--at", help="input values, e.g. x=3,y=2 or v=[1,2,3] (a tensor)")
    parser.add_argument(
        "--order", type=int, default=1, choices=(1, 2), help="1: gradient (default), 2: Hessian"
    )
    parser.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    parser.add_argument(
        "--no-names",
        action="store_true",
        help="write shared parts out at each use (default: name them after 'where')",
    )
    parser.add_argument(
        "--simplify",
        action="store_true",
        help="simplify each derivative with SymPy (time-boxed, see --timeout)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds --simplify may take for each derivative (default 10)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    import graphad as ga

    out = out or sys.stdout
    if getattr(args, "simplify", False) and not args.timeout > 0:
        raise ga.GraphadError(f"--timeout must be a positive number of seconds, not {args.timeout}")
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
            text = _shown(g, args)
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


def _shown(g, args: argparse.Namespace) -> str:
    """A derivative as people read it (graphad.backends.printing), or SymPy's simplified form."""
    from graphad.backends import printing

    names = not getattr(args, "no_names", False)
    as_latex = getattr(args, "latex", False)
    if getattr(args, "simplify", False):
        done, text = _sympy_simplify(g, as_latex, getattr(args, "timeout", 10.0))
        if done:
            return text
        ours = printing.latex(g, names=names) if as_latex else printing.to_text(g, names=names)
        return f"{ours}   ({text})"
    if as_latex:
        return printing.latex(g, names=names)
    return printing.to_text(g, names=names)


# The child: reads a pickled SymPy expression (built here, never from text), simplifies
# it and writes back its text.  Killed at the deadline by subprocess.run.
_CHILD = (
    "import pickle, sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
    "import sympy; e, tex = pickle.load(sys.stdin.buffer); s = sympy.simplify(e); "
    "sys.stdout.write(sympy.latex(s) if tex else str(s))"
)


def _sympy_simplify(g, as_latex: bool, timeout: float) -> tuple[bool, str]:
    """(True, SymPy's simplified text) or (False, why not): SymPy runs in a child
    process that is killed after ``timeout`` seconds, so nothing keeps running."""
    import pickle
    import subprocess
    import sys

    try:
        from graphad.backends.sympy import to_sympy

        job = pickle.dumps((to_sympy(g), as_latex))
    except Exception as exc:  # an op without a SymPy form, SymPy missing
        return False, f"not simplified: SymPy cannot take it: {type(exc).__name__}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=job,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"SymPy's simplify gave up after {timeout:g} s; shown unsimplified"
    if done.returncode != 0:
        return False, "SymPy's simplify failed; shown unsimplified"
    return True, done.stdout.decode("utf-8", "replace")


def _fmt(value) -> str:
    import numpy as np

    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item():.10g}"
    return np.array2string(arr, precision=6)


def demo(out: TextIO) -> None:
    """The notebook's example: x**2 + x - 1, its gradient graph and value 7 at x=3."""
    import graphad as ga

    print("== Differentiating f(x) = x**2 + x - 1 (as in examples/tour.ipynb) ==", file=out)
    with ga.Graph() as g:
        e = parse_scalar("x**2 + x - 1")
        gx = ga.grad(e, "x")
        print(f"f(x)      = {e}", file=out)
        print(f"f'(x)     = {gx}", file=out)
        print(f"f(3)      = {_fmt(e.eval(x=3.0))}", file=out)
        print(f"f'(3)     = {_fmt(gx.eval(x=3.0))}", file=out)
        # the graph as it runs for a float64 scalar x: the shape helpers an input of
        # unknown shape needs are gone (graphad.transforms.specialize)
        import numpy as np

        from graphad.core.graph import topo_order
        from graphad.transforms.specialize import specialize

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
