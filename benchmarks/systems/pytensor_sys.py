"""PyTensor: symbolic tensors, pytensor.grad, pytensor.function (its default C backend)."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    import pytensor

    return pytensor.__version__


def _mlp(w, data) -> Built:
    import pytensor
    import pytensor.tensor as pt

    X, Y = pt.matrix("X", dtype="float32"), pt.matrix("Y", dtype="float32")
    params = [pytensor.shared(p.copy(), name=f"p{k}") for k, p in enumerate(data["params"])]
    h = X
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = pt.maximum(h, 0)
    loss = -pt.mean(pt.sum(Y * pt.special.log_softmax(h, axis=-1), axis=-1))
    grads = pytensor.grad(loss, params)
    lr = np.float32(data["lr"])
    fn = pytensor.function(
        [X, Y], loss, updates=[(p, p - lr * g) for p, g in zip(params, grads, strict=True)]
    )
    Xv, Yv = data["X"], data["Y"]
    return Built(
        lambda: fn(Xv, Yv),
        lambda loss: [np.asarray(loss), *[p.get_value() for p in params]],
    )


def _fun(w, x):
    import pytensor.tensor as pt

    n = w.size
    if w.family == "rosen_vector":
        return pt.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    if w.family == "sin_chain":
        f = x
        for _ in range(n):
            f = pt.sin(f)
        return f
    if w.family == "product":
        f = x[0]
        for i in range(1, n):
            f = f * x[i]
        return f
    f = 0.0
    for i in range(n - 1):
        f = f + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return f


def build(w, data) -> Built:
    if w.family == "mlp":
        return _mlp(w, data)
    if w.family not in ("rosen_scalar", "product", "sin_chain", "rosen_vector"):
        raise NotSupported(w.family)
    import pytensor
    import pytensor.tensor as pt

    x = pt.dscalar("x") if w.family == "sin_chain" else pt.dvector("x")
    f = _fun(w, x)
    gfn = pytensor.function([x], pytensor.grad(f, x))
    ffn = []

    def fun():
        if not ffn:
            ffn.append(pytensor.function([x], f))
        return ffn[0](xv)

    def sizes():
        fun()
        return {
            "grad": len(gfn.maker.fgraph.apply_nodes),
            "fun": len(ffn[0].maker.fgraph.apply_nodes),
        }

    xv = data["x"]
    return Built(lambda: gfn(xv), lambda out: [np.asarray(out)], fun, np.asarray, sizes)
