"""Issue 21: distributed ``fit`` (replicas on the workers) against in-memory ``fit``, and
``check_grad_many`` against a loop, on a 2-process LocalCluster of this machine.

    .venv/bin/python benchmarks/distributed_fit.py [--quick]

Throughput is samples per second of the faster of epochs 2 and 3 (the first
compiles; the machine is shared, so the faster one is the less disturbed).  The
data (N x 64 float32, 10 classes) is persisted on the workers before ``fit``.
Writes benchmarks/results/issue21.md.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

import graphad as ga


def _model(k: int):
    ga.nn.set_random_seed(0)
    model = ga.nn.Sequential(
        [ga.nn.Dense(64, activation="relu", input_shape=(64,)), ga.nn.Dense(10, "softmax")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=k)
    return model


def _data(n: int):
    """The data generated on the workers (4 row-chunks, persisted), and a copy in memory."""
    import dask.array as da

    w = np.random.default_rng(1).standard_normal((64, 10)).astype("float32")
    X = da.random.default_rng(0).standard_normal((n, 64), chunks=(-(-n // 4), 64))
    X = X.astype("float32")
    t = da.argmax(X @ w, axis=1)
    X, t = X.persist(), t.persist()
    return (X, t), (X.compute(), t.compute())


def main() -> None:
    import distributed

    quick = "--quick" in sys.argv
    n_big = 20_000 if quick else 200_000
    n_small = 5_000 if quick else 10_000
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=40,
    )  # fmt: skip
    lines = [
        "# Issue 21: distributed fit on a 2-process LocalCluster (this machine, 2 shared cores)",
        "",
        "samples/s: the faster of epochs 2 and 3 (epoch 1 compiles); SGD(0.01);",
        "Dense(64, relu) + Dense(10, softmax); data generated on the workers and persisted",
        "(4 row-chunks). BLAS threads of the in-memory run (OPENBLAS_NUM_THREADS): "
        + os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "",
        "| batch | rows | k | sync | in memory samples/s | distributed samples/s | ratio "
        "| loss after 2 epochs (mem / dist) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with distributed.Client(cluster) as client:
        cases = [(64, n_small, 1), (64, n_small, 8), (64, n_small, 32)]
        cases += [(b, n_big, k) for b in (1024, 8192) for k in (1, 8, 32)]
        cases += [(1024, n_big, 8, "weights"), (64, n_small, 32, "weights")]
        memo = {}
        for case in cases:
            batch, n, k = case[:3]
            sync = case[3] if len(case) > 3 else "gradients"
            (Xd, td), (X, t) = _data(n)
            if (batch, n) not in memo:
                mem = _model(1)
                h = mem.fit(X, t, epochs=3, batch_size=batch, seed=0, verbose=0)
                memo[batch, n] = (n / min(h.times[1:]), h.history["loss"][1])
            mem_rate, mem_loss = memo[batch, n]
            dist = _model(k)
            h = dist.fit(Xd, td, epochs=3, batch_size=batch, seed=0, verbose=0, sync=sync)
            rate = n / min(h.times[1:])
            lines.append(
                f"| {batch} | {n} | {k} | {sync} | {mem_rate:,.0f} | {rate:,.0f} | "
                f"{rate / mem_rate:.2f}x | {mem_loss:.4f} / {h.history['loss'][1]:.4f} |"
            )
            print(lines[-1], flush=True)

        # check_grad_many vs a loop, 200 expressions, without SymPy
        exprs = [f"sin(x*{1 + k % 7}) * exp(y / {2 + k % 5}) + x**{1 + k % 3}" for k in range(200)]
        at = {"x": 0.3, "y": -0.7}
        ga.check_grad_many(exprs[:4], at, client=client, sympy=False)  # warm the workers
        t0 = time.perf_counter()
        loop = [ga.check_grad(ga.parse(e), at=at, sympy=False) for e in exprs]
        t_loop = time.perf_counter() - t0
        t0 = time.perf_counter()
        many = ga.check_grad_many(exprs, at, client=client, sympy=False)
        t_many = time.perf_counter() - t0
        assert [r.verdict for r in many] == [r.verdict for r in loop]
    cluster.close()
    lines += [
        "",
        f"check_grad_many, 200 expressions, sympy=False: loop {t_loop:.2f} s, "
        f"cluster {t_many:.2f} s: {t_loop / t_many:.2f}x a loop",
    ]
    print(lines[-1])
    out = Path(__file__).parent / "results" / ("issue21-quick.md" if quick else "issue21.md")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
