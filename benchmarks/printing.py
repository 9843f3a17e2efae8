"""Printed length of first derivatives, graphad's printer against SymPy's ``diff``.

Seeded random expressions in three variables (sums, products, quotients,
powers, sin, exp, log, sqrt, tanh, sigmoid, arctan, log1p); for each one and
each variable it uses, the ratio len(graphad's text) / len(str(sympy.diff(...))),
for undeclared symbols (``ga.parse``) and declared float64 scalars, with and
without shared parts named.  Run: ``python -m benchmarks.printing [--n 60] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics

_UNARY = ("sin", "exp", "log", "sqrt", "tanh", "sigmoid", "arctan", "log1p")
_VARS = ("x", "y", "z")


def random_expression(rng: random.Random, depth: int = 3) -> str:
    """Expression text (ga.parse syntax; SymPy reads it with sigmoid/arctan/log1p defined)."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(_VARS) if rng.random() < 0.8 else str(rng.randint(2, 5))
    kind = rng.random()
    if kind < 0.45:
        return f"{rng.choice(_UNARY)}({random_expression(rng, depth - 1)})"
    if kind < 0.55:
        return f"({random_expression(rng, depth - 1)}) ** {rng.randint(2, 3)}"
    if kind < 0.6:
        return f"{rng.randint(2, 3)} ** ({random_expression(rng, depth - 1)})"
    op = rng.choice(["+", "-", "*", "/"])
    return f"({random_expression(rng, depth - 1)}) {op} ({random_expression(rng, depth - 1)})"


def _sympy_namespace(sp):
    return {
        "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
        "arctan": sp.atan,
        "log1p": lambda a: sp.log(1 + a),
        "sqrt": sp.sqrt,
        **{v: sp.Symbol(v, real=True) for v in _VARS},
    }


def measure(n: int, seed: int, depth: int = 3) -> dict[str, list[float]]:
    import sympy as sp

    import graphad as ga
    from graphad.backends.printing import to_text

    rng = random.Random(seed)
    ns = _sympy_namespace(sp)
    ratios: dict[str, list[float]] = {}
    done = 0
    while done < n:
        text = random_expression(rng, depth)
        used = [v for v in _VARS if re.search(rf"\b{v}\b", text)]
        if not used:
            continue
        se = sp.parse_expr(text, local_dict=ns)  # our own generated text, not user input
        if se.has(sp.zoo, sp.nan, sp.oo):  # e.g. a / (z - z): no derivative to compare
            continue
        done += 1
        for declared in (False, True):
            with ga.Graph():
                if declared:
                    for v in _VARS:
                        ga.symbol(v, shape=(), dtype="float64")
                e = ga.parse(text)
                for v in used:
                    ref = len(str(sp.diff(se, ns[v])).replace("**", "^"))
                    g = ga.grad(e, v)
                    for names in (False, True):
                        key = f"{'declared' if declared else 'undeclared'}, names={names}"
                        ours = len(to_text(g, names=names).replace(" ", "").replace("**", "^"))
                        ratios.setdefault(key, []).append(ours / max(ref, 1))
    return ratios


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60, help="random expressions (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--depth", type=int, default=3, help="nesting depth (default 3)")
    a = p.parse_args(argv)
    print(
        f"{a.n} random expressions, depth {a.depth}, seed {a.seed}; printed length / "
        "SymPy diff length (spaces dropped, ** counted as one character in both)"
    )
    for key, r in measure(a.n, a.seed, a.depth).items():
        r = sorted(r)
        p90 = r[min(len(r) - 1, int(0.9 * len(r)))]
        print(
            f"  {key:<26} derivatives {len(r):>3}  median {statistics.median(r):.2f}x  "
            f"p90 {p90:.2f}x  max {r[-1]:.2f}x"
        )


if __name__ == "__main__":
    main()
