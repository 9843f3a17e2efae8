"""Per-example gradients of a small MLP: ``ga.vmap(ga.grad(loss))`` vs a Python loop.

The loss is the squared error of a 16-32-1 tanh network on one example; the batch
has ``--batch`` examples.  Three ways to get every example's gradient:

* ``ga.vmap(ga.grad(loss), in_axes=(None, 0, 0))``: one compiled, batched function
  (the graph of one example's gradient with a batch axis added);
* a Python loop calling ``ga.grad(loss)`` once per example (compiled and cached too);
* the same per-example gradients written by hand with NumPy einsums (the reference).

All three must agree before anything is timed; one thread, medians of ``--rounds``.

Run:  python benchmarks/per_example_grads.py [--batch 256] [--rounds 7]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import graphad as ga  # noqa: E402


def loss(params, x, y):
    W1, b1, w2 = params
    h = ga.tanh(x @ W1 + b1)
    return (ga.sum(h * w2) - y) ** 2


def by_hand(params, X, Y):
    W1, b1, w2 = params
    H = np.tanh(X @ W1 + b1)  # (B, 32)
    r = 2 * (H @ w2 - Y)  # (B,)
    dH = r[:, None] * w2 * (1 - H**2)  # (B, 32)
    return np.einsum("bi,bj->bij", X, dH), dH, r[:, None] * H


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    params = (rng.standard_normal((16, 32)), rng.standard_normal(32), rng.standard_normal(32))
    X, Y = rng.standard_normal((a.batch, 16)), rng.standard_normal(a.batch)

    batched = ga.vmap(ga.grad(loss), in_axes=(None, 0, 0))
    one = ga.grad(loss)

    def loop():
        rows = [one(params, X[i], Y[i]) for i in range(len(X))]
        return tuple(np.stack([r[k] for r in rows]) for k in range(3))

    want = by_hand(params, X, Y)
    for name, fn in (("vmap", lambda: batched(params, X, Y)), ("loop", loop)):
        for g, w in zip(fn(), want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)

    contenders = {
        "ga.vmap(ga.grad(loss))": lambda: batched(params, X, Y),
        "loop over ga.grad(loss)": loop,
        "NumPy by hand": lambda: by_hand(params, X, Y),
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(a.rounds):
        for k, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    print(f"per-example gradients, batch {a.batch}, 16-32-1 MLP (median of {a.rounds})")
    for k, ts in times.items():
        print(f"  {k:26s} {statistics.median(ts) * 1e3:9.3f} ms")


if __name__ == "__main__":
    main()
