"""One training step of a 784-256-128-10 MLP: graphad (compiled) vs hand-written NumPy.

The network is relu / relu / softmax with the mean cross-entropy loss and plain
SGD, batch 128, float32.  Three graphad contenders:

* ``Sequential.train_on_batch`` (the compiled forward + backward + update
  function, plus its per-step Python work);
* the **default path**: the same step written with ``ga.symbol(name)`` inputs
  that declare no shape or dtype, ``ga.grad`` and ``ga.compile``, as a user
  writes it;
* the same graph with every input's shape and dtype declared.

The reference is the same step written by hand with NumPy (fused
softmax-cross-entropy gradient, in-place SGD).  Every contender starts from the
same weights and must agree with the reference after one step before anything
is timed.  All run on one thread (set before NumPy is imported), interleaved in
rounds; medians are reported.

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


def graph_step(params: list, X: np.ndarray, onehot: np.ndarray, declared: bool):
    """The step as a ga graph: inputs undeclared (default path) or with shapes and dtypes."""
    import graphad as ga

    def sym(name, value):
        if declared:
            return ga.symbol(name, shape=value.shape, dtype=value.dtype)
        return ga.symbol(name)

    with ga.Graph():
        Xs, Ys = sym("X", X), sym("Y", onehot)
        ps = [sym(f"p{k}", p) for k, p in enumerate(params)]
        h = Xs
        for k in range(0, len(ps), 2):
            h = h @ ps[k] + ps[k + 1]
            if k + 2 < len(ps):
                h = ga.relu(h)
        loss = -ga.mean(ga.sum(Ys * ga.log_softmax(h), axis=-1))
        grads = ga.grad(loss, ps)
        new = [p - LR * g for p, g in zip(ps, grads, strict=True)]
        fn = ga.compile([loss, *new], inputs=[Xs, Ys, *ps])
    weights = [p.copy() for p in params]

    def step():
        out = fn(X, onehot, *weights)
        weights[:] = out[1:]
        return out[0]

    return step, weights


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
    start = [w.copy() for w in model.get_weights()]
    params = [w.copy() for w in start]
    default_step, default_w = graph_step(start, X, onehot, declared=False)
    declared_step, declared_w = graph_step(start, X, onehot, declared=True)

    # same start, same step: every contender must agree with hand NumPy before it is timed
    loss_h = float(hand_step(params, X, onehot))
    for name, step, weights in (
        ("train_on_batch", lambda: model.train_on_batch(X, labels), model.get_weights),
        ("default path", default_step, lambda: default_w),
        ("declared path", declared_step, lambda: declared_w),
    ):
        loss_g = float(step())
        assert abs(loss_g - loss_h) < 1e-4 * abs(loss_h), (name, loss_g, loss_h)
        for w_g, w_h in zip(weights(), params, strict=True):
            assert np.allclose(w_g, w_h, atol=1e-5), f"graphad ({name}) and NumPy disagree"

    def repeat(step):
        def run():
            for _ in range(args.steps):
                step()

        return run

    contenders = {
        "train_on_batch": repeat(lambda: model.train_on_batch(X, labels)),
        "default path": repeat(default_step),
        "declared path": repeat(declared_step),
        "numpy": repeat(lambda: hand_step(params, X, onehot)),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for r in range(args.rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:  # rotated every round
            t = time.perf_counter()
            contenders[name]()
            times[name].append((time.perf_counter() - t) / args.steps)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    h = med["numpy"]
    print(
        f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, one thread, "
        f"{args.rounds} rounds x {args.steps} steps"
    )
    print(f"hand-written NumPy                  : {h * 1e3:8.3f} ms (median)")
    for name, label in (
        ("train_on_batch", "graphad Sequential.train_on_batch"),
        ("default path", "graphad default path (no shapes)"),
        ("declared path", "graphad declared shapes and dtypes"),
    ):
        g = med[name]
        print(f"{label:36s}: {g * 1e3:8.3f} ms (median), {g / h:6.3f}x hand NumPy")


if __name__ == "__main__":
    main()
