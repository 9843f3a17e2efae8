"""graphad on Dask: compiled code on lazy arrays, data-parallel gradients and training,
gradient checks on a cluster, and a full-batch gradient over a data set larger than memory.

Laziness is asserted, not assumed: compiled functions are called under a Dask
scheduler that raises if anything is computed, with NumPy's "not implemented
by Dask" FutureWarning (which precedes a silent materialisation) as an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import graphad as ga  # noqa: E402
from graphad import ops as ga_ops  # noqa: E402
from graphad.distributed import (  # noqa: E402
    check_grad_many,
    grad_over_chunks,
    is_dask,
    value_and_grad_over_chunks,
)
from graphad.ops import OPS  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "ops"))
import test_op_table  # noqa: E402  (the op table's own test cases, reused here)


def _no_compute(*args, **kwargs):
    raise AssertionError("a Dask array was computed while building the lazy result")


class lazy_only:
    """Inside: computing any Dask collection, or Dask's materialising fallback, fails."""

    def __enter__(self):
        self._cfg = dask.config.set(scheduler=_no_compute)
        self._cfg.__enter__()
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("error", FutureWarning)
        return self

    def __exit__(self, *exc):
        self._warn.__exit__(*exc)
        self._cfg.__exit__(*exc)


def chunked(v):
    """A Dask array of ``v`` split into about two chunks along every axis."""
    v = np.asarray(v)
    return da.from_array(v, chunks=tuple(max(1, (n + 1) // 2) for n in v.shape))


def test_import_graphad_does_not_import_dask():
    code = "import sys, graphad, graphad.distributed; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_functions_using_ga_pickle_by_value():
    # Dask sends a function defined in __main__ (a script, a notebook) with its globals;
    # `ga` is one of them, and the package is pickled by reference, as modules are
    import pickle

    import cloudpickle

    namespace = {"ga": ga, "__name__": "__main__"}
    exec("def f(x):\n    return ga.sin(x) * 2\n", namespace)
    g = pickle.loads(cloudpickle.dumps(namespace["f"]))
    assert g.__globals__["ga"] is ga
    assert float(ga.compile(g(ga.symbol("x")))(0.5)) == pytest.approx(2 * np.sin(0.5))


def test_the_lazy_guard_catches_materialisation():
    x = chunked(np.ones((4, 4)))
    with lazy_only(), pytest.raises(AssertionError, match="computed"):
        np.asarray(x)
    with lazy_only(), pytest.raises(FutureWarning):
        np.size(x)


# -- the op table through compiled functions on Dask arrays --------------------------------------


def _static_cases():
    for p in test_op_table._public_cases():
        name, shapes, params = p.values
        if OPS[name].runs_lazily(params):  # the op's ``lazy`` facet: no lazy form otherwise
            yield pytest.param(name, shapes, params, id=p.id)


@pytest.mark.parametrize(("name", "shapes", "params"), list(_static_cases()))
def test_op_table_on_dask(name, shapes, params):
    """Value, VJP and JVP of every op: compiled once, run on NumPy and on chunked Dask
    arrays; the Dask run builds lazy Dask arrays only and computes NumPy's numbers."""
    op = OPS[name]
    rng = np.random.default_rng(7)
    values = test_op_table._sample(op, shapes, rng)
    with ga.Graph():
        syms = [ga.symbol(f"a{i}", shape=s) for i, s in enumerate(shapes)]
        out = test_op_table._build(name, syms, params)
        outs, ins = [out], list(syms)
        if op.differentiable:
            u = ga.symbol("u", shape=out.shape)
            ts = [ga.symbol(f"t{i}", shape=s) for i, s in enumerate(shapes)]
            outs += [*ga.vjp(out, syms, [u]), ga.jvp(out, dict(zip(syms, ts, strict=True)))]
            ins += [u, *ts]
            values += [rng.standard_normal(out.shape), *(rng.standard_normal(s) for s in shapes)]
        # an unused input: a Dask value there makes the ops' Dask forms run on NumPy values
        f = ga.compile(outs, inputs=[*ins, ga.symbol("unused", shape=(2,))])
    want = f(*values, np.zeros(2))
    with lazy_only():
        got = f(*[chunked(v) for v in values], chunked(np.zeros(2)))
    assert all(is_dask(g) for g in got), [type(g).__name__ for g in got]
    got = dask.compute(*got, scheduler="sync")
    for w, g in zip(want, got, strict=True):
        assert np.shape(g) == np.shape(w)
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=0)
    # the Dask forms (Op.duck_emit) give NumPy's results on NumPy arrays too, bit for bit
    for w, g in zip(want, f(*values, chunked(np.zeros(2))), strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_reshape_takes_its_dask_form_only_for_dask_arrays():
    with ga.Graph():
        x = ga.symbol("x", shape=(2, 3, 4))
        f = ga.compile(ga.reshape(x, (4, 6)))
    assert "_ga_numpy(x0)" in f.source  # both forms are in the source, chosen per call
    v = np.arange(24.0).reshape(2, 3, 4)
    # Dask's own reshape refuses this split of chunked axes; graphad's Dask form goes via 1-D
    with pytest.raises(NotImplementedError):
        da.reshape(chunked(v), (4, 6))
    with lazy_only():
        lazy = f(chunked(v))
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), v.reshape(4, 6))
    assert type(f(v)) is np.ndarray


@pytest.mark.parametrize(
    "index",
    [
        (1,),
        (slice(None, None, -1), 1),
        (0, slice(None), -1),
        (-1, slice(2, 0, -1), slice(None, None, 2)),
    ],
)
def test_indexing_gradient_scatters_lazily(index):
    # getitem's VJP scatters into zeros: on Dask arrays, by slice assignment (its duck form)
    if not hasattr(ga, "getitem"):
        pytest.skip("no getitem op")
    x = np.arange(24.0).reshape(2, 3, 4)
    with ga.Graph():
        xs = ga.symbol("x", x.shape)
        part = xs[index]
        u = ga.symbol("u", part.shape)
        f = ga.compile([part, *ga.vjp(part, [xs], [u])], inputs=[xs, u])
    uv = np.random.default_rng(0).standard_normal(part.shape)
    want = np.zeros_like(x)
    want[index] = uv
    with lazy_only():
        lazy = f(da.from_array(x, chunks=(1, 2, 3)), chunked(uv))
    got_part, got_grad = dask.compute(*lazy)
    np.testing.assert_array_equal(got_part, x[index])
    np.testing.assert_array_equal(got_grad, want)
    np.testing.assert_array_equal(f(x, uv)[1], want)


def _mlp_reference(X, T, W1, b1, W2, b2):
    """Mean softmax cross-entropy of a relu MLP and its gradients, by hand in NumPy."""
    h_pre = X @ W1 + b1
    h = np.maximum(h_pre, 0)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(X)
    loss = -np.sum(T * np.log(p)) / n
    dz = (p - T) / n
    dh = dz @ W2.T * (h_pre > 0)
    return loss, [X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]


def _mlp_loss(params, X, labels, classes):
    W1, b1, W2, b2 = params
    logits = ga.relu(X @ W1 + b1) @ W2 + b2
    # integer labels as a one-hot by comparison: elementwise, so Dask runs it lazily
    onehot = ga.equal(ga.reshape(labels, (-1, 1)), ga.constant(np.arange(classes)))
    return -ga.mean(ga.sum(onehot * ga.log_softmax(logits), axis=-1))


@pytest.fixture(scope="module")
def mlp_data():
    rng = np.random.default_rng(3)
    n, d, hidden, k = 300, 6, 8, 4
    X = rng.standard_normal((n, d))
    labels = rng.integers(0, k, n)
    params = [
        rng.standard_normal((d, hidden)) * 0.5,
        rng.standard_normal(hidden) * 0.1,
        rng.standard_normal((hidden, k)) * 0.5,
        rng.standard_normal(k) * 0.1,
    ]
    return X, labels, params, k


def test_mlp_gradient_compiled_on_dask_matches_numpy(mlp_data):
    X, labels, params, k = mlp_data
    with ga.Graph():
        Xs = ga.symbol("X", X.shape)
        ls = ga.symbol("labels", labels.shape, "int64")
        ps = [ga.symbol(f"p{i}", p.shape) for i, p in enumerate(params)]
        loss = _mlp_loss(ps, Xs, ls, k)
        f = ga.compile([loss, *ga.grad(loss, ps)], inputs=[Xs, ls, *ps])
    want_loss, want_grads = _mlp_reference(X, np.eye(k)[labels], *params)
    Xd = da.from_array(X, chunks=(70, 6))  # five row chunks, the last one short
    ld = da.from_array(labels, chunks=70)
    with lazy_only():
        lazy = f(Xd, ld, *params)
    assert all(is_dask(v) for v in lazy)  # a Dask array (0-d for the loss) until computed
    got = dask.compute(*lazy)
    assert float(got[0]) == pytest.approx(want_loss, rel=1e-12)
    for g, w in zip(got[1:], want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    # the same Function still runs NumPy
    np_out = f(X, labels, *params)
    assert type(np_out[1]) is np.ndarray
    np.testing.assert_allclose(np_out[1], got[1], rtol=1e-12)


def test_grad_and_jit_of_python_functions_stay_lazy(mlp_data):
    X, labels, params, k = mlp_data
    want_loss, want_grads = _mlp_reference(X, np.eye(k)[labels], *params)
    Xd, ld = da.from_array(X, chunks=(100, 6)), da.from_array(labels, chunks=100)
    vg = ga.value_and_grad(lambda p, X, t: _mlp_loss(p, X, t, k))
    with lazy_only():
        value, grads = vg(params, Xd, ld)  # traced by shape and dtype, run on Dask arrays
        doubled = ga.jit(lambda a: ga.tanh(a) * 2)(Xd)
    assert is_dask(value) and all(is_dask(g) for g in grads) and is_dask(doubled)
    value, grads, doubled = dask.compute(value, grads, doubled)
    assert float(value) == pytest.approx(want_loss, rel=1e-12)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(doubled, np.tanh(X) * 2, rtol=1e-15)


def test_dask_inputs_are_checked_and_cast_lazily():
    with ga.Graph():
        x = ga.symbol("x", (4, 3), "float32")
        f = ga.compile(ga.sum(x * 2.0, axis=0))
    v = np.arange(12.0).reshape(4, 3)
    with lazy_only():
        out = f(chunked(v))  # float64 Dask input cast to the declared float32, lazily
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.compute(), (v * 2).sum(0))
    with lazy_only(), pytest.raises(ga.ShapeError, match="declared with shape"):
        f(chunked(np.ones((3, 3))))
    with lazy_only(), pytest.raises(ga.DTypeError):
        f(chunked(np.ones((4, 3), complex)))


# -- data-parallel gradients --------------------------------------------------------------------


def _logreg(p, X, y):
    z = X @ p["w"] + p["b"]
    return ga.mean(ga.softplus(z) - y * z)


def _logreg_reference(p, X, y):
    z = X @ p["w"] + p["b"]
    s = 1 / (1 + np.exp(-z))
    return np.mean(np.logaddexp(0, z) - y * z), {"w": X.T @ (s - y) / len(X), "b": np.mean(s - y)}


def test_grad_over_chunks_equals_the_full_batch_gradient():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((503, 7))
    y = (rng.random(503) < 0.4).astype(float)
    p = {"w": rng.standard_normal(7) * 0.3, "b": 0.2}
    want_v, want_g = _logreg_reference(p, X, y)
    Xd = da.from_array(X, chunks=(100, 4))  # columns split too: rechunked to whole rows
    value, grads = value_and_grad_over_chunks(_logreg, p, Xd, y)  # y as NumPy: aligned
    assert value == pytest.approx(want_v, rel=1e-12)
    np.testing.assert_allclose(grads["w"], want_g["w"], rtol=1e-12, atol=1e-15)
    assert float(grads["b"]) == pytest.approx(want_g["b"], rel=1e-12)
    # a sum reduction: fn gives the chunk's sum, the result is the sum over all rows
    g_sum = grad_over_chunks(
        lambda p, X, y: ga.sum(ga.square(X @ p - y)), np.ones(7), Xd, da.from_array(y, 50),
        reduction="sum",
    )  # fmt: skip
    np.testing.assert_allclose(g_sum, 2 * X.T @ (X @ np.ones(7) - y), rtol=1e-12)
    with pytest.raises(ga.ShapeError, match="503 input samples but 502"):
        grad_over_chunks(_logreg, p, Xd, y[:-1])
    with pytest.raises(ga.GraphadError, match="reduction"):
        grad_over_chunks(_logreg, p, Xd, y, reduction="max")


def test_sequential_on_dask_with_the_local_scheduler():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3)).astype("float32")
    t = (X[:, 0] - X[:, 2] > 0).astype(int)

    def model():
        ga.nn.set_random_seed(1)
        m = ga.nn.Sequential(
            [ga.nn.Dense(5, activation="tanh", input_shape=(3,)), ga.nn.Dense(2, "softmax")]
        )
        m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["acc"])
        return m

    mem, lazy = model(), model()
    h_mem = mem.fit(X, t, epochs=2, batch_size=16, seed=5, verbose=0)
    Xd = da.from_array(X, chunks=(45, 3))
    h_lazy = lazy.fit(Xd, t, epochs=2, batch_size=16, seed=5, verbose=0)  # NumPy targets too
    for a, b in zip(mem.get_weights(), lazy.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h_lazy.history["loss"], h_mem.history["loss"], rtol=1e-5)
    with lazy_only():
        out = lazy.predict(Xd)  # a lazy Dask array of the outputs
    assert is_dask(out) and out.shape == (200, 2)
    np.testing.assert_allclose(out.compute(), lazy.predict(X), rtol=1e-6)
    np.testing.assert_allclose(
        lazy.evaluate(Xd, da.from_array(t, chunks=45)), lazy.evaluate(X, t), rtol=1e-5
    )
    with pytest.raises(ga.ShapeError, match="expects samples of shape"):
        lazy.predict(da.from_array(np.ones((4, 2), "float32")))


# -- on a LocalCluster --------------------------------------------------------------------------


def _digits_model():
    ga.nn.set_random_seed(0)
    model = ga.nn.Sequential(
        [ga.nn.Dense(64, activation="relu", input_shape=(64,)), ga.nn.Dense(10, "softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _cluster_trains_digits_like_memory():
    pytest.importorskip("sklearn")
    (x, y), (xt, yt) = ga.datasets.load_digits(test_size=0.2, seed=0)
    mem = _digits_model()
    t0 = time.perf_counter()
    h_mem = mem.fit(x, y, epochs=1, batch_size=64, seed=0, verbose=0)
    t_mem = time.perf_counter() - t0
    dist = _digits_model()
    Xd, yd = da.from_array(x, chunks=(360, 64)), da.from_array(y, chunks=360)
    t0 = time.perf_counter()
    h_dist = dist.fit(Xd, yd, epochs=1, batch_size=64, seed=0, verbose=0)  # active client
    t_dist = time.perf_counter() - t0
    print(f"\ndigits epoch: in memory {t_mem:.3f} s, LocalCluster (2 processes) {t_dist:.3f} s")
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert mem.get_weights()[0].std() > 0 and not np.array_equal(
        mem.get_weights()[0], _digits_model().get_weights()[0]
    )  # training moved the weights: the comparison is not trivially true
    assert h_dist.history["loss"][0] == pytest.approx(h_mem.history["loss"][0], rel=1e-5)
    # weights equal to rounding: at most a near-tie of two logits could flip one sample
    assert h_dist.history["accuracy"][0] == pytest.approx(h_mem.history["accuracy"][0], abs=2e-3)
    loss, acc = dist.evaluate(da.from_array(xt, chunks=100), yt)
    want_loss, want_acc = mem.evaluate(xt, yt)
    assert loss == pytest.approx(want_loss, rel=1e-5) and acc == pytest.approx(want_acc, abs=6e-3)


def _cluster_grad_over_chunks(client):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((400, 5)), rng.random(400).round()
    p = {"w": rng.standard_normal(5), "b": -0.1}
    want_v, want_g = _logreg_reference(p, X, y)
    value, grads = value_and_grad_over_chunks(
        _logreg, p, da.from_array(X, chunks=(64, 5)), y, client=client
    )
    assert value == pytest.approx(want_v, rel=1e-12)
    np.testing.assert_allclose(grads["w"], want_g["w"], rtol=1e-12, atol=1e-15)


def _register_bad_sin():
    # a custom op with a wrong VJP (half of cos): it travels by name, so each process
    # that loads an expression using it must have registered it
    import numpy as np

    import graphad as ga

    ga.defop("badsin", np.sin, vjp=lambda g, x: [g * ga.cos(x) * 0.5])


def _cluster_check_grad_many(client):
    _register_bad_sin()
    x, y = ga.symbols("x y")
    exprs = [
        "x**2 + sin(x*y)",
        ga.sum(ga.tanh(x * ga.constant(np.array([1.0, -2.0, 0.5])))),  # an array constant
        ga_ops.apply("badsin", x) * y,
    ]
    points = [{"x": 0.7, "y": -1.3}, {x: np.array([0.3, 0.1, -0.4])}, {"x": 0.4, "y": 2.0}]
    with pytest.raises(ga.GraphadError, match=r"expression 2: .*badsin"):
        check_grad_many(exprs, points, client=client)  # the workers do not know badsin yet
    client.run(_register_bad_sin)
    reports = check_grad_many(exprs, points, client=client, seed=3)
    local = [
        ga.check_grad(ga.parse(e) if isinstance(e, str) else e, at=p, seed=3)
        for e, p in zip(exprs, points, strict=True)
    ]
    assert [r.verdict for r in reports] == ["pass", "pass", "fail"]
    assert [r.verdict for r in local] == ["pass", "pass", "fail"]
    for r, l in zip(reports, local, strict=True):
        assert [i.name for i in r.inputs] == [i.name for i in l.inputs]
        for ri, li in zip(r.inputs, l.inputs, strict=True):
            np.testing.assert_allclose([e.ad for e in ri.elements], [e.ad for e in li.elements])
            np.testing.assert_allclose([e.fd for e in ri.elements], [e.fd for e in li.elements])
    bad = reports[2]
    # the culprit node id refers to the graph rebuilt on the client from the same text
    assert bad.culprit is not None and bad.graph.node(bad.culprit)["op"] == "badsin"
    assert "badsin" in str(bad)
    # d/dx of badsin(x)*y is y*cos(x) but the rule says y*cos(x)/2
    (ex,) = bad.input("x").elements
    assert ex.ad == pytest.approx(2.0 * np.cos(0.4) / 2) and ex.fd == pytest.approx(
        2.0 * np.cos(0.4)
    )


def test_local_cluster():
    """On a LocalCluster of two worker processes (loopback only, started and stopped here):
    digits training as in memory, per-chunk gradients, and gradient checks whose
    expressions travel as text; one cluster, so that the test runs in one process."""
    import cloudpickle

    # worker processes cannot import this test module: send its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # a task that kills its worker fails at once (KilledWorker), rather than being retried
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=":0", worker_dashboard_address=None, silence_logs=40,
        )  # fmt: skip
        try:
            with distributed.Client(cluster) as client:
                _cluster_trains_digits_like_memory()  # uses the active client
                _cluster_grad_over_chunks(client)
                _cluster_check_grad_many(client)
        finally:
            cluster.close()
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_check_grad_many_local_scheduler_and_errors():
    reports = check_grad_many(["exp(x) / y", "x * y"], {"x": 0.5, "y": 2.0}, sympy=False)
    assert [r.verdict for r in reports] == ["pass", "pass"]
    assert reports[1].input("y").elements[0].ad == pytest.approx(0.5)
    with pytest.raises(ga.GraphadError, match="2 expressions but 1 points"):
        check_grad_many(["x", "y"], [{"x": 1.0}])
    with pytest.raises(ga.GraphadError, match="expression 0: ParseError"):
        check_grad_many(["2x"], {"x": 1.0})
    with pytest.raises(ga.GraphadError, match="Python functions"):
        check_grad_many([lambda a: a], {"a": 1.0})


# -- a data set larger than memory ----------------------------------------------------------------

OUT_OF_CORE = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np, dask, dask.array as da
    import graphad as ga
    from graphad.distributed import value_and_grad_over_chunks

    gib, D, rows = float(sys.argv[1]), 256, 32768
    N = int(gib * 2**30) // (4 * D) // rows * rows
    X = da.random.default_rng(0).random((N, D), chunks=(rows, D), dtype=np.float32) - 0.5
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
    w = ((np.arange(D) % 7 - 3) / 50).astype(np.float32)
    b = np.float32(0.1)

    def loss(p, X, y):
        z = X @ p["w"] + p["b"]
        return ga.mean(ga.softplus(z) - y * z)

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    with ga.Graph():
        Xs, ys = ga.symbol("X", (N, D), "float32"), ga.symbol("y", (N,), "float32")
        ws, bs = ga.symbol("w", (D,), "float32"), ga.symbol("b", (), "float32")
        L = loss({"w": ws, "b": bs}, Xs, ys)
        f = ga.compile([L, *ga.grad(L, [ws, bs])], inputs=[Xs, ys, ws, bs])
    base = peak()
    # route 1: per-chunk compiled NumPy code, gradients summed in a tree
    t = time.perf_counter()
    v, g = value_and_grad_over_chunks(loss, {"w": w, "b": b}, X, y)
    t_over = time.perf_counter() - t
    # route 2: the compiled Function run on the Dask arrays themselves, computed with a
    # reference written with Dask's own array functions (each chunk made once for both)
    lazy = f(X, y, w, b)
    z = X @ w + b
    s = 1 / (1 + da.exp(-z))
    ref = (da.mean(da.logaddexp(0, z) - y * z), X.T @ (s - y) / N, da.mean(s - y))
    t = time.perf_counter()
    rest = dask.compute(*lazy, *ref)
    t_lazy = time.perf_counter() - t
    out = dict(
        n=N, d=D, dataset_bytes=N * D * 4, seconds=[t_over, t_lazy],
        base_bytes=base, maxrss_bytes=peak(),
        over=[float(v), g["w"].tolist(), float(g["b"])],
        lazy=[float(rest[0]), rest[1].tolist(), float(rest[2])],
        ref=[float(rest[3]), rest[4].tolist(), float(rest[5])],
        lazy_kinds=[type(a).__name__ for a in lazy],
    )
    print(json.dumps(out))
""")


def test_full_batch_gradient_of_a_data_set_larger_than_memory():
    """Float32 data made lazily by ``da.random`` (1 GiB by default, GRAPHAD_OOC_GIB=4 for
    4 GiB): a full-batch gradient by two routes, peak memory measured in a fresh process."""
    gib = float(os.environ.get("GRAPHAD_OOC_GIB", "1"))
    res = subprocess.run(
        [sys.executable, "-c", OUT_OF_CORE, str(gib)], capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    size, peak, base = out["dataset_bytes"], out["maxrss_bytes"], out["base_bytes"]
    t_over, t_lazy = out["seconds"]
    print(
        f"\nout-of-core gradient: data {size / 2**30:.2f} GiB ({out['n']} x {out['d']} float32); "
        f"peak RSS {peak / 2**20:.0f} MiB, {base / 2**20:.0f} MiB before computing "
        f"(growth {(peak - base) / size:.1%} of the data); "
        f"grad_over_chunks {t_over:.1f} s, compiled Function on Dask + reference {t_lazy:.1f} s"
    )
    assert size >= gib * 2**30 * 0.99
    assert peak - base < size / 4  # loose: one materialised copy of the data would exceed it
    assert out["lazy_kinds"] == ["Array"] * 3
    v_ref, gw_ref, gb_ref = out["ref"]
    for route in ("over", "lazy"):
        v, gw, gb = out[route]
        assert v == pytest.approx(v_ref, rel=1e-4), route
        np.testing.assert_allclose(gw, gw_ref, rtol=1e-3, atol=1e-6 * np.abs(gw_ref).max())
        assert gb == pytest.approx(gb_ref, rel=1e-3, abs=1e-6), route
