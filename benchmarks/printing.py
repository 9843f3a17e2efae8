"""Printed length of first derivatives, graphad's printer against SymPy's ``diff``.

Seeded random expressions in three variables (sums, products, quotients,
powers, sin, exp, log, sqrt, tanh, sigmoid, arctan, log1p); for each one and
each variable it uses, the ratio of graphad's printed length to
``str(sympy.diff(...))``'s, for undeclared symbols (``ga.parse``) and declared
float64 scalars, with and without shared parts named.

Both texts are measured the same way: spaces dropped (SymPy writes ``x + y``,
graphad ``x * y``) and ``**`` counted as one character.

Three kinds of expression, one row each:

- ``nested`` (the default): the kind issue 20 shows,
  ``sigmoid(log(sigmoid(2**(-(x - z)))))``.  Its nesting depth is exactly 4 or
  5 (chosen at random per expression): a chain of calls, powers and binary
  operations, whose other operand of a binary operation is a random smaller
  expression (a variable or a number more often than not);
- ``nested6``: the same at depth exactly 6, the depth of the issue's own example
  (sigmoid, log, sigmoid, power, negation, subtraction);
- ``depth<=3``: the earlier measure, a random tree cut off at depth 3 and
  earlier with probability 0.2 at every level (about half of its derivatives
  are ``cos(x)``-like, already as short as SymPy's).

Expressions with a part that is infinite or undefined everywhere (``log(z - z)``)
are skipped: SymPy folds such a part away where NumPy computes ``-inf``, so the two
derivatives would be of different functions.

Run: ``python -m benchmarks.printing [--n 60] [--seed 0] [--seeds 1] [--kind K]
[--worst 5]``; ``--seeds 12 --kind nested6`` pools twelve seeds (720 expressions),
whose median is steadier than one seed's.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
from typing import Any

_UNARY = ("sin", "exp", "log", "sqrt", "tanh", "sigmoid", "arctan", "log1p")
_VARS = ("x", "y", "z")


def _leaf(rng: random.Random) -> str:
    return rng.choice(_VARS) if rng.random() < 0.8 else str(rng.randint(2, 5))


def random_expression(rng: random.Random, depth: int = 3) -> str:
    """Expression text cut off at ``depth`` and, at every level, with probability 0.2
    (ga.parse syntax; SymPy reads it with sigmoid/arctan/log1p defined)."""
    if depth == 0 or rng.random() < 0.2:
        return _leaf(rng)
    kind = rng.random()
    if kind < 0.45:
        return f"{rng.choice(_UNARY)}({random_expression(rng, depth - 1)})"
    if kind < 0.55:
        return f"({random_expression(rng, depth - 1)}) ** {rng.randint(2, 3)}"
    if kind < 0.6:
        return f"{rng.randint(2, 3)} ** ({random_expression(rng, depth - 1)})"
    op = rng.choice(["+", "-", "*", "/"])
    return f"({random_expression(rng, depth - 1)}) {op} ({random_expression(rng, depth - 1)})"


def nested_expression(rng: random.Random, depth: int) -> str:
    """Expression text of nesting depth exactly ``depth``, with the same operations and
    odds as :func:`random_expression`; a binary operation's other operand (left or right
    at random) is :func:`random_expression` of a random smaller depth."""
    if depth == 0:
        return _leaf(rng)
    kind = rng.random()
    if kind < 0.45:
        return f"{rng.choice(_UNARY)}({nested_expression(rng, depth - 1)})"
    if kind < 0.55:
        return f"({nested_expression(rng, depth - 1)}) ** {rng.randint(2, 3)}"
    if kind < 0.6:
        return f"{rng.randint(2, 3)} ** ({nested_expression(rng, depth - 1)})"
    op = rng.choice(["+", "-", "*", "/"])
    a = nested_expression(rng, depth - 1)
    b = random_expression(rng, rng.randint(0, depth - 1))
    if rng.random() < 0.5:
        a, b = b, a
    return f"({a}) {op} ({b})"


KINDS = {
    "nested": lambda rng: nested_expression(rng, rng.choice((4, 5))),
    "nested6": lambda rng: nested_expression(rng, 6),
    "depth<=3": lambda rng: random_expression(rng, 3),
}


def printed_length(text: str) -> int:
    """Length as measured here, for graphad's and SymPy's text alike."""
    return len(text.replace(" ", "").replace("**", "^"))


def _sympy_namespace(sp):
    return {
        "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
        "arctan": sp.atan,
        "log1p": lambda a: sp.log(1 + a),
        "sqrt": sp.sqrt,
        **{v: sp.Symbol(v, real=True) for v in _VARS},
    }


def _degenerate(sp, text: str, ns: dict) -> bool:
    """Whether some part of the expression is infinite or undefined everywhere
    (``log(z - z)``, ``a / (z - z)``).  SymPy may fold such a part away (``u / zoo``
    is 0) where NumPy computes ``-inf``, so the two derivatives are of different
    functions: each part is checked as written, before SymPy evaluates the whole."""
    raw = sp.parse_expr(text, local_dict=ns, evaluate=False)  # our own generated text
    return any(sub.doit().has(sp.zoo, sp.nan, sp.oo) for sub in sp.preorder_traversal(raw))


def measure(
    n: int, seed: int, kind: str = "nested", ga: Any = None, show: Any = None
) -> list[dict]:
    """One row per (expression, variable, declared, names): the two texts and the ratio.

    ``ga`` and ``show(g, names)`` default to this graphad and its printer;
    :mod:`benchmarks.printing_before` passes an older graphad and ``str``."""
    import sympy as sp

    if ga is None:
        import graphad as ga
    if show is None:
        from graphad.backends.printing import to_text

        def show(g, names):
            return to_text(g, names=names)

    make = KINDS[kind]
    rng = random.Random(seed)
    ns = _sympy_namespace(sp)
    rows: list[dict] = []
    done = 0
    while done < n:
        text = make(rng)
        used = [v for v in _VARS if re.search(rf"\b{v}\b", text)]
        if not used:
            continue
        if _degenerate(sp, text, ns):  # e.g. a / (z - z): no derivative to compare
            continue
        se = sp.parse_expr(text, local_dict=ns)  # our own generated text, not user input
        done += 1
        refs = {v: str(sp.diff(se, ns[v])) for v in used}
        for declared in (False, True):
            with ga.Graph():
                if declared:
                    for v in _VARS:
                        ga.symbol(v, shape=(), dtype="float64")
                e = ga.parse(text)
                for v in used:
                    g = ga.grad(e, v)
                    for names in (False, True):
                        ours = show(g, names)
                        rows.append(
                            {
                                "expr": text,
                                "wrt": v,
                                "declared": declared,
                                "names": names,
                                "ours": ours,
                                "sympy": refs[v],
                                "ratio": printed_length(ours) / max(printed_length(refs[v]), 1),
                            }
                        )
    return rows


def summary(rows: list[dict]) -> dict[str, tuple]:
    """Per column: (derivatives, median, p90, max, shorter, same, longer) of the ratios."""
    out = {}
    for declared in (False, True):
        for names in (False, True):
            r = sorted(
                x["ratio"] for x in rows if x["declared"] == declared and x["names"] == names
            )
            key = f"{'declared' if declared else 'undeclared'}, names={names}"
            p90 = r[min(len(r) - 1, int(0.9 * len(r)))]
            counts = (sum(v < 1 for v in r), sum(v == 1 for v in r), sum(v > 1 for v in r))
            out[key] = (len(r), statistics.median(r), p90, r[-1], *counts)
    return out


def _issue_example() -> None:
    import sympy as sp

    import graphad as ga
    from graphad.backends.printing import to_text

    ns = _sympy_namespace(sp)
    ref = str(sp.diff(sp.parse_expr(ISSUE, local_dict=ns), ns["x"]))
    with ga.Graph():
        g = ga.grad(ga.parse(ISSUE), "x")
        plain, named = to_text(g), to_text(g, names=True)
    print(f"issue 20's example, d/dx {ISSUE}: SymPy {printed_length(ref)} characters")
    for what, text in (("graphad", plain), ("with names", named)):
        ratio = printed_length(text) / printed_length(ref)
        print(f"  {what:<10} {printed_length(text):>3} ({ratio:.2f}x)  {text}")


#: the example issue 20 shows
ISSUE = "sigmoid(log(sigmoid(2**(-(x - z)))))"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60, help="random expressions per kind (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="pool this many seeds from --seed on (the median of one seed's 60 "
        "expressions varies by a few hundredths from seed to seed)",
    )
    p.add_argument("--kind", choices=[*KINDS, "all"], default="all")
    p.add_argument("--worst", type=int, default=0, help="also show the N longest ratios")
    a = p.parse_args(argv)
    _issue_example()
    seeds = list(range(a.seed, a.seed + max(a.seeds, 1)))
    which = f"seed {a.seed}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]} pooled"
    print(
        f"{a.n} random expressions per kind and seed, {which}; printed length / SymPy "
        "diff length (both: spaces dropped, ** counted as one character)"
    )
    for kind in KINDS if a.kind == "all" else [a.kind]:
        rows, per_seed = [], []
        for seed in seeds:
            some = measure(a.n, seed, kind)
            rows += some
            named = [x["ratio"] for x in some if x["names"] and not x["declared"]]
            per_seed.append(f"{statistics.median(named):.2f}")
        print(
            f"{kind}:"
            + (
                f"  (median with names, seed by seed: {' '.join(per_seed)})"
                if len(seeds) > 1
                else ""
            )
        )
        for key, (count, med, p90, top, less, same, more) in summary(rows).items():
            print(
                f"  {key:<26} derivatives {count:>3}  median {med:.2f}x  "
                f"p90 {p90:.2f}x  max {top:.2f}x   shorter/same/longer {less}/{same}/{more}"
            )
        plain = [x for x in rows if not x["declared"] and not x["names"]]
        for x in sorted(plain, key=lambda x: -x["ratio"])[: a.worst]:
            print(f"    {x['ratio']:.2f}x  d/d{x['wrt']} {x['expr']}")
            print(f"      graphad: {x['ours']}\n      SymPy:   {x['sympy']}")


if __name__ == "__main__":
    main()
