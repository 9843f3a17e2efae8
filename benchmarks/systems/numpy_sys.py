"""Hand-written NumPy: the baseline every ratio is relative to."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    return np.__version__


def mlp_step(params: list, X: np.ndarray, Y: np.ndarray, lr: float) -> np.floating:
    """Forward, backward and in-place SGD update of a relu MLP with softmax
    cross-entropy (fused softmax/cross-entropy gradient), as one would write it."""
    n_layers = len(params) // 2
    acts = [X]
    h = X
    for k in range(n_layers):
        W, b = params[2 * k], params[2 * k + 1]
        h = h @ W
        h += b
        if k < n_layers - 1:
            np.maximum(h, 0, out=h)
            acts.append(h)
    z = h
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = (np.sum(np.log(s)) - np.sum(Y * z)) / n  # -mean(sum(Y * log_softmax))
    dz = e / s
    dz -= Y
    dz *= np.float32(1.0 / n)
    lr32 = np.float32(lr)
    for k in range(n_layers - 1, -1, -1):
        W, b = params[2 * k], params[2 * k + 1]
        a = acts[k]
        dW = a.T @ dz
        db = dz.sum(axis=0)
        if k:
            dz = dz @ W.T
            dz *= a > 0
        W -= lr32 * dW
        b -= lr32 * db
    return loss


def rosen(x: np.ndarray) -> float:
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad(x: np.ndarray) -> np.ndarray:
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def build(w, data) -> Built:
    if w.family == "mlp":
        params = [p.copy() for p in data["params"]]
        X, Y, lr = data["X"], data["Y"], data["lr"]

        def step():
            return mlp_step(params, X, Y, lr)

        return Built(step, lambda loss: [np.asarray(loss), *params])
    if w.family == "rosen_vector":
        x = data["x"]
        return Built(lambda: rosen_grad(x), lambda g: [g], lambda: rosen(x), np.asarray)
    raise NotSupported("no hand-written NumPy version of this workload")
