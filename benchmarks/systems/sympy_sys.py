"""SymPy: sympy.diff for each input, then lambdify to NumPy (with or without cse)."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported

CSE = False  # set by the child for the "sympy-cse" system


def version() -> str:
    import sympy

    return sympy.__version__


def _expr(sp, w):
    n = w.size
    if w.family == "sin_chain":
        x = sp.Symbol("x")
        f = x
        for _ in range(n):
            f = sp.sin(f)
        return f, [x]
    xs = list(sp.symbols(f"x0:{n}"))
    if w.family == "product":
        f = xs[0]
        for x in xs[1:]:
            f = f * x
        return f, xs
    f = sp.Integer(0)
    for i in range(n - 1):
        f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return f, xs


def _count(sp, exprs) -> int:
    if CSE:
        reps, reduced = sp.cse(exprs)
        return sum(sp.count_ops(e) for _, e in reps) + sum(sp.count_ops(e) for e in reduced)
    return sum(sp.count_ops(e) for e in exprs)


def build(w, data) -> Built:
    if w.family not in ("rosen_scalar", "product", "sin_chain"):
        raise NotSupported(w.family)
    import sympy as sp

    f, xs = _expr(sp, w)
    grads = [sp.diff(f, x) for x in xs]
    gfn = sp.lambdify(xs, grads, "numpy", cse=CSE)
    vals = [float(v) for v in np.ravel(data["x"])]
    shape = np.shape(data["x"])
    ffn = []

    def fun():
        if not ffn:
            ffn.append(sp.lambdify(xs, f, "numpy", cse=CSE))
        return ffn[0](*vals)

    return Built(
        lambda: gfn(*vals),
        lambda out: [np.array(out, dtype=float).reshape(shape)],
        fun,
        lambda v: np.asarray(v, dtype=float),
        lambda: {"grad": _count(sp, grads), "fun": _count(sp, [f])},
    )
