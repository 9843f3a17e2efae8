"""CasADi: SX graphs for the scalar forms, MX for the vector form; ca.gradient + ca.Function."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    import casadi

    return casadi.__version__


def _scalar_expr(ca, w):
    n = w.size
    if w.family == "sin_chain":
        x = ca.SX.sym("x")
        f = x
        for _ in range(n):
            f = ca.sin(f)
        return f, x
    x = ca.SX.sym("x", n)
    if w.family == "product":
        f = x[0]
        for i in range(1, n):
            f = f * x[i]
        return f, x
    f = 0
    for i in range(n - 1):
        f = f + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return f, x


def _scalar(w, data) -> Built:
    import casadi as ca

    f, x = _scalar_expr(ca, w)
    g = ca.gradient(f, x)
    gfn = ca.Function("g", [x], [g])
    ffn = ca.Function("f", [x], [f])
    xv = np.ravel(data["x"]) if np.ndim(data["x"]) else float(data["x"])
    shape = np.shape(data["x"])

    def sizes():
        # instructions minus the input and output instructions: the operations evaluated
        return {
            "grad": gfn.n_instructions() - gfn.nnz_in() - gfn.nnz_out(),
            "fun": ffn.n_instructions() - ffn.nnz_in() - ffn.nnz_out(),
        }

    return Built(
        lambda: gfn(xv),
        lambda out: [np.asarray(out, dtype=float).reshape(shape)],
        lambda: ffn(xv),
        lambda out: np.asarray(out, dtype=float).reshape(()),
        sizes,
    )


def _rosen_vector(w, data) -> Built:
    import casadi as ca

    n = w.size
    x = ca.MX.sym("x", n)
    a, b = x[1:], x[: n - 1]
    f = ca.sum1(100.0 * (a - b**2) ** 2 + (1.0 - b) ** 2)
    gfn = ca.Function("g", [x], [ca.gradient(f, x)])
    ffn = ca.Function("f", [x], [f])
    xv = data["x"]
    return Built(
        lambda: gfn(xv),
        lambda out: [np.asarray(out, dtype=float).ravel()],
        lambda: ffn(xv),
        lambda out: np.asarray(out, dtype=float).reshape(()),
    )


def build(w, data) -> Built:
    if w.family in ("rosen_scalar", "product", "sin_chain"):
        return _scalar(w, data)
    if w.family == "rosen_vector":
        return _rosen_vector(w, data)
    raise NotSupported(w.family)
