"""HIPS autograd: autograd.grad / value_and_grad of NumPy code."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    from importlib.metadata import version as v

    return v("autograd")


def _mlp(w, data) -> Built:
    import autograd
    import autograd.numpy as anp

    def loss_fn(params, X, Y):
        h = X
        for k in range(0, len(params), 2):
            h = anp.dot(h, params[k]) + params[k + 1]
            if k + 2 < len(params):
                h = anp.maximum(h, 0)
        z = h - anp.max(h, axis=1, keepdims=True)
        logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.mean(anp.sum(Y * logp, axis=1))

    vg = autograd.value_and_grad(loss_fn)
    params = [p.copy() for p in data["params"]]
    X, Y, lr = data["X"], data["Y"], np.float32(data["lr"])

    def step():
        loss, grads = vg(params, X, Y)
        for p, g in zip(params, grads, strict=True):
            p -= lr * g
        return loss

    return Built(step, lambda loss: [np.asarray(loss), *params])


def build(w, data) -> Built:
    if w.family == "mlp":
        return _mlp(w, data)
    if w.family != "rosen_vector":
        raise NotSupported(w.family)
    import autograd
    import autograd.numpy as anp

    def f(x):
        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    g = autograd.grad(f)
    x = data["x"]
    return Built(lambda: g(x), lambda out: [out], lambda: f(x), np.asarray)
