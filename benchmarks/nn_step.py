"""One training step of a 784-256-128-10 MLP: graphad (compiled) vs hand-written NumPy.

The network is relu / relu / softmax with the mean cross-entropy loss and plain
SGD, batch 128, float32.  graphad runs ``Sequential.train_on_batch`` (the
compiled forward + backward + update function, plus its per-step Python
work); the reference is the same step written by hand with NumPy (fused
softmax-cross-entropy gradient, in-place SGD).  Both run on one thread (set
before NumPy is imported), interleaved in rounds; medians are reported.

Run:  python benchmarks/nn_step.py [--rounds 15] [--steps 20]
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SIZES = (784, 256, 128, 10)
BATCH = 128
LR = 0.01


def hand_step(params, X, onehot):
    """Forward, backward and SGD update of the MLP, by hand (the reference)."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = X @ W1 + b1
    np.maximum(h1, 0, out=h1)
    h2 = h1 @ W2 + b2
    np.maximum(h2, 0, out=h2)
    z = h2 @ W3 + b3
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = -np.sum(onehot * np.log(np.maximum(p, 1e-30))) / n
    dz = (p - onehot) / np.float32(n)
    dW3 = h2.T @ dz
    db3 = dz.sum(axis=0)
    dh2 = dz @ W3.T
    dh2 *= h2 > 0
    dW2 = h1.T @ dh2
    db2 = dh2.sum(axis=0)
    dh1 = dh2 @ W2.T
    dh1 *= h1 > 0
    dW1 = X.T @ dh1
    db1 = dh1.sum(axis=0)
    for w, g in zip(params, (dW1, db1, dW2, db2, dW3, db3), strict=True):
        w -= np.float32(LR) * g
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps timed per round")
    args = parser.parse_args()

    import graphad as ga

    rng = np.random.default_rng(0)
    X = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    onehot = np.eye(10, dtype=np.float32)[labels]

    ga.nn.set_random_seed(0)
    model = ga.nn.Sequential(
        [
            ga.nn.Dense(SIZES[1], activation="relu", input_shape=(784,)),
            ga.nn.Dense(SIZES[2], activation="relu"),
            ga.nn.Dense(SIZES[3], activation="softmax"),
        ]
    )
    model.compile(optimizer=ga.optim.SGD(LR), loss="sparse_categorical_crossentropy")
    params = [w.copy() for w in model.get_weights()]

    # same start, same step: the two must agree before they are timed
    loss_g = float(model.train_on_batch(X, labels))
    loss_h = float(hand_step(params, X, onehot))
    assert abs(loss_g - loss_h) < 1e-4 * abs(loss_h), (loss_g, loss_h)
    for w_g, w_h in zip(model.get_weights(), params, strict=True):
        assert np.allclose(w_g, w_h, atol=1e-5), "graphad and NumPy steps disagree"

    def run_graphad():
        for _ in range(args.steps):
            model.train_on_batch(X, labels)

    def run_numpy():
        for _ in range(args.steps):
            hand_step(params, X, onehot)

    times = {"graphad": [], "numpy": []}
    for _ in range(args.rounds):
        for name, fn in (("graphad", run_graphad), ("numpy", run_numpy)):
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / args.steps)
    g = statistics.median(times["graphad"])
    h = statistics.median(times["numpy"])
    print(
        f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, one thread, "
        f"{args.rounds} rounds x {args.steps} steps"
    )
    print(f"graphad compiled step : {g * 1e3:8.3f} ms (median)")
    print(f"hand-written NumPy    : {h * 1e3:8.3f} ms (median)")
    print(f"ratio graphad / NumPy : {g / h:8.3f}")


if __name__ == "__main__":
    main()
