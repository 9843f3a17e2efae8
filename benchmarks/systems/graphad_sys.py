"""graphad: build the graph with the ga namespace, ga.grad, ga.compile.

Three systems share this module:

``graphad``
    the **default path**: every input is ``ga.symbol("x")`` with no shape and no
    dtype, exactly as the README's first example (and most users) write it; the
    scalar workloads use one undeclared symbol per scalar.
``graphad-numba`` (shown as "graphad (numba)")
    the default path run by the compiled Numba backend (``backend="numba"``); the
    other two run the generated NumPy code (``backend="numpy"``).
``graphad-declared`` (shown as "graphad (declared)")
    the same graphs with every input's shape and dtype declared
    (``ga.symbol("x", shape=(n,), dtype="float64")``), which lets graphad fold
    shape plumbing and batch wide scalar graphs before it runs.

Both build the same expression with the same operations; only the ``symbol``
calls differ (see :func:`_sym`).
"""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported

DECLARED = False  # set by the child for the "graphad-declared" system
# the backend ga.compile runs: NumPy code, except for the "graphad-numba" system (the child
# sets it), so that both backends show side by side whatever ga.compile's default picks
BACKEND = "numpy"
PARALLEL = False  # "graphad-numba-mt": the fused loops may use threads


def version() -> str:
    import graphad

    return getattr(graphad, "__version__", "dev")


def _sym(name: str, shape: tuple, dtype):
    """One input: undeclared on the default path, with its shape and dtype when declared."""
    import graphad as ga

    if DECLARED:
        return ga.symbol(name, shape=shape, dtype=dtype)
    return ga.symbol(name)


def _ops(fn) -> int | None:
    """Operation count of a compiled Function: its graph's nodes minus inputs and constants.

    None when the Function exposes no single graph (then no count is reported).
    """
    nodes = getattr(getattr(fn, "graph", None), "_nodes", None)
    if nodes is None:
        return None
    return sum(1 for n in nodes.values() if n["op"] not in ("input", "constant"))


def _sizes(gfn, ffn) -> dict | None:
    grad, fun = _ops(gfn), _ops(ffn)
    return None if grad is None or fun is None else {"grad": grad, "fun": fun}


def _mlp(w, data) -> Built:
    import graphad as ga

    f32 = np.float32
    with ga.Graph():
        X = _sym("X", data["X"].shape, f32)
        Y = _sym("Y", data["Y"].shape, f32)
        ps = [_sym(f"p{k}", p.shape, f32) for k, p in enumerate(data["params"])]
        h = X
        for k in range(0, len(ps), 2):
            h = h @ ps[k] + ps[k + 1]
            if k + 2 < len(ps):
                h = ga.relu(h)
        loss = -ga.mean(ga.sum(Y * ga.log_softmax(h), axis=-1))
        grads = ga.grad(loss, ps)
        lr = data["lr"]
        new = [p - lr * g for p, g in zip(ps, grads, strict=True)]
        fn = ga.compile([loss, *new], inputs=[X, Y, *ps], backend=BACKEND, parallel=PARALLEL)
    params = [p.copy() for p in data["params"]]
    Xv, Yv = data["X"], data["Y"]
    fn(Xv, Yv, *params)  # the first call specializes and compiles: part of the build

    def step():
        out = fn(Xv, Yv, *params)
        params[:] = out[1:]
        return out[0]

    step.function = fn  # for profiling the generated code
    return Built(step, lambda loss: [np.asarray(loss), *params])


def _scalar_graph(w):
    import graphad as ga

    n = w.size
    # declared: scalars of dtype float64 (what CasADi's SX and JAX with x64 compute in), which
    # lets graphad batch wide scalar graphs into vectorized NumPy calls; default: ga.symbol(name)
    f64 = np.float64
    if w.family == "sin_chain":
        x = _sym("x", (), f64)
        f = x
        for _ in range(n):
            f = ga.sin(f)
        return f, [x]
    xs = [_sym(f"x{i}", (), f64) for i in range(n)]
    if w.family == "product":
        f = xs[0]
        for x in xs[1:]:
            f = f * x
        return f, xs
    f = None
    for i in range(n - 1):
        term = 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
        f = term if f is None else f + term
    return f, xs


def _scalar(w, data) -> Built:
    import graphad as ga

    with ga.Graph():
        f, xs = _scalar_graph(w)
        grads = ga.grad(f, xs)
        gfn = ga.compile(grads, inputs=xs, backend=BACKEND, parallel=PARALLEL)
    vals = [float(v) for v in np.ravel(data["x"])]
    gfn(*vals)  # the first call specializes and compiles: part of the build
    ffn = []  # the plain function is compiled on first use: not part of the timed build

    def fun_fn():
        if not ffn:
            with ga.Graph():
                f2, xs2 = _scalar_graph(w)
                ffn.append(ga.compile(f2, inputs=xs2, backend=BACKEND, parallel=PARALLEL))
        return ffn[0]

    return Built(
        lambda: gfn(*vals),
        lambda out: [np.array([float(v) for v in out]).reshape(np.shape(data["x"]))],
        lambda: fun_fn()(*vals),
        np.asarray,
        lambda: _sizes(gfn, fun_fn()),
    )


def _rosen_vector(w, data) -> Built:
    import graphad as ga

    with ga.Graph():
        x = _sym("x", data["x"].shape, np.float64)
        f = ga.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        gfn = ga.compile(ga.grad(f, x), inputs=[x], backend=BACKEND, parallel=PARALLEL)
        ffn = ga.compile(f, inputs=[x], backend=BACKEND, parallel=PARALLEL)
    xv = data["x"]
    gfn(xv), ffn(xv)  # the first calls specialize and compile: part of the build
    return Built(lambda: gfn(xv), lambda g: [g], lambda: ffn(xv), np.asarray)


def build(w, data) -> Built:
    if w.family == "mlp":
        return _mlp(w, data)
    if w.family in ("rosen_scalar", "product", "sin_chain"):
        return _scalar(w, data)
    if w.family == "rosen_vector":
        return _rosen_vector(w, data)
    raise NotSupported(w.family)
