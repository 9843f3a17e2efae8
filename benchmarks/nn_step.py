"""One training step of an MLP (784-256-128-10, or 784-512-10): graphad vs hand NumPy and torch.

The network is relu layers and softmax with the mean cross-entropy loss and plain
SGD, batch 128, float32.  The graphad contenders:

* ``Sequential.train_on_batch`` (the compiled forward + backward + update
  function, plus its per-step Python work);
* the **default path**: the same step written with ``ga.symbol(name)`` inputs
  that declare no shape or dtype, ``ga.grad`` and ``ga.compile``, as a user
  writes it;
* the same graph with every input's shape and dtype declared;
* both again on the Numba backend (``backend="numba"``: fused elementwise loops,
  issue 18 part 3), and PyTorch (CPU, one thread) when it imports.

The reference is the same step written by hand with NumPy (fused
softmax-cross-entropy gradient, in-place SGD).  Every contender starts from the
same weights and must agree with the reference after one step before anything
is timed.  All run on one thread (set before NumPy is imported), interleaved in
rounds; medians are reported.

Run:  python benchmarks/nn_step.py [--rounds 15] [--steps 20] [--sizes 784-512-10]
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

SIZES = (784, 256, 128, 10)  # --sizes changes it
BATCH = 128
LR = 0.01


def hand_step(params, X, onehot):
    """Forward, backward and SGD update of the MLP, by hand (the reference)."""
    acts = [X]
    h = X
    n_layers = len(params) // 2
    for k in range(n_layers):
        h = h @ params[2 * k] + params[2 * k + 1]
        if k < n_layers - 1:
            np.maximum(h, 0, out=h)
            acts.append(h)
    z = h
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = -np.sum(onehot * np.log(np.maximum(p, 1e-30))) / n
    dz = (p - onehot) / np.float32(n)
    grads = [None] * len(params)
    for k in range(n_layers - 1, -1, -1):
        a = acts[k]
        grads[2 * k] = a.T @ dz
        grads[2 * k + 1] = dz.sum(axis=0)
        if k:
            dz = dz @ params[2 * k].T
            dz *= a > 0
    for w, g in zip(params, grads, strict=True):
        w -= np.float32(LR) * g
    return loss


def gemm_floor(params: list, X: np.ndarray):
    """Only the matrix products of :func:`hand_step`, on the same shapes and layouts (the
    ``.T`` operands are views: BLAS is told the layout).  Any implementation calling
    BLAS for the step pays at least this: the floor of the ratio to hand NumPy."""
    n_layers = len(params) // 2
    acts = [X]
    h = X
    for k in range(n_layers - 1):
        h = np.maximum(X @ params[0], 0) if k == 0 else np.maximum(h @ params[2 * k], 0)
        acts.append(h)
    dz0 = np.ones((X.shape[0], params[-1].shape[0]), np.float32)

    def run():
        h = X
        for k in range(n_layers):
            h = h @ params[2 * k]
        dz = dz0
        for k in range(n_layers - 1, -1, -1):
            acts[k].T @ dz
            if k:
                dz = dz @ params[2 * k].T

    return run


def torch_step(params: list, X: np.ndarray, labels: np.ndarray):
    """The same step in PyTorch (CPU, one thread), or None when torch does not import."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None, None
    torch.set_num_threads(1)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def step():
        h = Xt
        for k in range(0, len(ps), 2):
            h = h @ ps[k] + ps[k + 1]
            if k + 2 < len(ps):
                h = torch.relu(h)
        loss = F.cross_entropy(h, yt)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= LR * p.grad
                p.grad = None
        return float(loss)

    return step, lambda: [p.detach().numpy() for p in ps]


def graph_step(
    params: list, X: np.ndarray, onehot: np.ndarray, declared: bool, backend: str = "numpy"
):
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
        fn = ga.compile([loss, *new], inputs=[Xs, Ys, *ps], backend=backend)
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
    parser.add_argument("--sizes", default="784-256-128-10", help="layer widths, e.g. 784-512-10")
    args = parser.parse_args()
    global SIZES
    SIZES = tuple(int(v) for v in args.sizes.split("-"))

    import graphad as ga

    rng = np.random.default_rng(0)
    X = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    onehot = np.eye(10, dtype=np.float32)[labels]

    ga.nn.set_random_seed(0)
    layers = [ga.nn.Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],))]
    layers += [ga.nn.Dense(w, activation="relu") for w in SIZES[2:-1]]
    layers.append(ga.nn.Dense(SIZES[-1], activation="softmax"))
    model = ga.nn.Sequential(layers)
    model.compile(optimizer=ga.optim.SGD(LR), loss="sparse_categorical_crossentropy")
    start = [w.copy() for w in model.get_weights()]
    params = [w.copy() for w in start]
    t0 = time.perf_counter()
    default_step, default_w = graph_step(start, X, onehot, declared=False)
    default_step()  # the first call specializes and compiles
    first = {"default path": time.perf_counter() - t0}
    default_w[:] = [w.copy() for w in start]
    t0 = time.perf_counter()
    declared_step, declared_w = graph_step(start, X, onehot, declared=True)
    declared_step()
    first["declared path"] = time.perf_counter() - t0
    declared_w[:] = [w.copy() for w in start]
    steps = {"default path": default_step, "declared path": declared_step}
    weights_of = {"default path": default_w, "declared path": declared_w}
    try:
        import numba  # noqa: F401

        have_numba = True
    except ImportError:
        have_numba = False
    if have_numba:
        for name, declared in (("numba, default path", False), ("numba, declared", True)):
            t0 = time.perf_counter()
            st, ws = graph_step(start, X, onehot, declared=declared, backend="numba")
            saved = [w.copy() for w in ws]
            st()  # the first call: specialize, compile, load or JIT the fused loops
            first[name] = time.perf_counter() - t0
            ws[:] = saved
            steps[name], weights_of[name] = st, ws
    t_step, t_weights = torch_step(start, X, labels)

    # same start, same step: every contender must agree with hand NumPy before it is timed
    loss_h = float(hand_step(params, X, onehot))
    checks = [("train_on_batch", lambda: model.train_on_batch(X, labels), model.get_weights)]
    checks += [(name, st, lambda name=name: weights_of[name]) for name, st in steps.items()]
    if t_step is not None:
        checks.append(("torch", t_step, t_weights))
    for name, step, weights in checks:
        loss_g = float(step())
        assert abs(loss_g - loss_h) < 1e-4 * abs(loss_h), (name, loss_g, loss_h)
        for w_g, w_h in zip(weights(), params, strict=True):
            assert np.allclose(w_g, w_h, atol=1e-5), f"graphad ({name}) and NumPy disagree"

    def repeat(step):
        def run():
            for _ in range(args.steps):
                step()

        return run

    contenders = {"train_on_batch": repeat(lambda: model.train_on_batch(X, labels))}
    contenders.update({name: repeat(st) for name, st in steps.items()})
    contenders["numpy"] = repeat(lambda: hand_step(params, X, onehot))
    contenders["gemm floor"] = repeat(gemm_floor([w.copy() for w in start], X))
    if t_step is not None:
        contenders["torch"] = repeat(t_step)
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
    labels_ = {
        "train_on_batch": "graphad Sequential.train_on_batch",
        "default path": "graphad default path (no shapes)",
        "declared path": "graphad declared shapes and dtypes",
        "numba, default path": "graphad numba, default path",
        "numba, declared": "graphad numba, declared shapes",
        "torch": "torch (CPU, one thread)",
        "gemm floor": "its matrix products alone (BLAS)",
    }
    best = {name: min(ts) for name, ts in times.items()}
    for name, label in labels_.items():
        if name not in med:
            continue
        g = med[name]
        note = f", first call {first[name] * 1e3:7.1f} ms" if name in first else ""
        print(
            f"{label:36s}: {g * 1e3:8.3f} ms (median), {g / h:6.3f}x hand NumPy "
            f"(best rounds: {best[name] / best['numpy']:6.3f}x){note}"
        )


if __name__ == "__main__":
    main()
