"""Fused elementwise kernels (numexpr) and scatter sums: same values as the plain NumPy path.

numexpr uses its own math kernels, so "the same" means equal to a few ulps
(rtol 1e-12 in float64, 1e-6 in float32), with identical dtypes and shapes;
without numexpr the kernels run their NumPy form, which is the plain path's
arithmetic in the same order, so results are then bit for bit equal.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import graphad as ga
from graphad.backends import fusion

HAVE_NUMEXPR = importlib.util.find_spec("numexpr") is not None
N = 1 << 12  # with MIN_SIZE lowered below: kernels without megabyte test arrays


@pytest.fixture(autouse=True)
def small_kernels(monkeypatch):
    monkeypatch.setattr(fusion, "MIN_SIZE", 1000)
    monkeypatch.setattr(fusion, "ENABLED", True)


EXPRESSIONS = {
    "polynomial": lambda x, y: 3.0 * x**2 - 2.0 * x * y + y**3 - 1.5,
    "transcendental": lambda x, y: ga.exp(-(x**2)) * ga.sin(3.0 * y) + ga.log1p(ga.abs(x)),
    "where": lambda x, y: ga.where(x > y, x * 2.0, y - 1.0) + ga.where(x <= 0.5, 1.0, x),
    "division": lambda x, y: (x + 2.5) / (y * y + 1.0) - ga.sqrt(ga.abs(y) + 1e-3),
    "hyperbolic": lambda x, y: ga.tanh(x * y) + ga.cosh(x * 0.1) - ga.arctan(y / 3.0),
    "negative constants": lambda x, y: -x * -2.0 + (y - -1.0) ** 2,
}


def _compile(build, dtype, shape_x, shape_y, static=True):
    with ga.Graph():
        x = ga.symbol("x", shape=shape_x if static else None, dtype=dtype)
        y = ga.symbol("y", shape=shape_y if static else None, dtype=dtype)
        e = build(x, y)
        fused = ga.compile([e, *ga.grad(e, [x, y])], inputs=[x, y])
        fusion.ENABLED = False
        try:
            plain = ga.compile([e, *ga.grad(e, [x, y])], inputs=[x, y])
        finally:
            fusion.ENABLED = True
    return fused, plain


def _values(dtype, shape_x, shape_y, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, 2, shape_x).astype(dtype), rng.uniform(-2, 2, shape_y).astype(dtype)


def _assert_same(got, want, dtype):
    tol = 1e-12 if np.dtype(dtype) == np.float64 else 2e-6
    for g, w in zip(got, want, strict=True):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_kernels_match_the_numpy_path(name, dtype):
    fused, plain = _compile(EXPRESSIONS[name], dtype, (N,), (N,))
    assert "_ga_fused(" in fused.source and "_ga_fused(" not in plain.source
    xv, yv = _values(dtype, (N,), (N,))
    _assert_same(fused(xv, yv), plain(xv, yv), dtype)


def test_broadcasting_inside_a_kernel():
    fused, plain = _compile(EXPRESSIONS["transcendental"], "float64", (64, 128), (128,))
    assert "_ga_fused(" in fused.source
    xv, yv = _values("float64", (64, 128), (128,))
    _assert_same(fused(xv, yv), plain(xv, yv), "float64")


def test_small_static_arrays_stay_plain_numpy():
    fused, _ = _compile(EXPRESSIONS["polynomial"], "float64", (10,), (10,))
    assert "_ga_fused(" not in fused.source


def test_undeclared_inputs_fuse_once_specialized(monkeypatch):
    """Symbols without shapes or dtypes: each call's specialization knows both, so large
    arrays fuse and small ones stay plain NumPy, as with declared shapes."""
    fused, plain = _compile(EXPRESSIONS["polynomial"], None, None, None, static=False)
    small, large = _values("float64", (5,), (5,), seed=5), _values("float64", (N,), (N,), 1)
    assert "_ga_fused(" in fused.source_for(*large)
    assert "_ga_fused(" not in fused.source_for(*small)
    monkeypatch.setattr(fusion, "ENABLED", False)  # plain specializes with fusion off
    for xv, yv in (small, large):
        want = plain(xv, yv)
        assert "_ga_fused(" not in plain.source
        _assert_same(fused(xv, yv), want, "float64")


def test_without_numexpr_the_numpy_form_is_bitwise_the_plain_path(monkeypatch):
    monkeypatch.setitem(sys.modules, "numexpr", None)  # import numexpr -> ImportError
    fused, plain = _compile(EXPRESSIONS["transcendental"], "float64", (N,), (N,))
    assert "_ga_fused(" in fused.source
    xv, yv = _values("float64", (N,), (N,))
    for g, w in zip(fused(xv, yv), plain(xv, yv), strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(not HAVE_NUMEXPR, reason="numexpr not installed")
def test_kernels_really_run_numexpr(monkeypatch):
    import numexpr

    calls = []
    original = numexpr.NumExpr

    def spy(text, *args, **kwargs):
        calls.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(numexpr, "NumExpr", spy)
    _compile(EXPRESSIONS["polynomial"], "float64", (N,), (N,))
    assert calls and all("a0" in t for t in calls)


def test_user_names_never_reach_a_kernel_string():
    """numexpr compiles its text with eval: only generated names may appear in it."""
    name = "__import__('os').system('echo unsafe')"
    with ga.Graph():
        x = ga.symbol(name, shape=(N,), dtype="float64")
        f = ga.compile(ga.exp(x) * 2.0 + x * x, inputs=[x])
    assert "_ga_fused(" in f.source
    assert "__import__" not in f.source and "unsafe" not in f.source
    xv = np.linspace(-1, 1, N)
    np.testing.assert_allclose(f(xv), np.exp(xv) * 2.0 + xv * xv, rtol=1e-13)


def _rosen(x):
    return ga.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_grad(x):
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vector_rosenbrock_gradient_fused(dtype):
    xv = np.random.default_rng(3).uniform(-1, 1, N).astype(dtype)
    with ga.Graph():
        x = ga.symbol("x", shape=(N,), dtype=dtype)
        fn = ga.compile(ga.grad(_rosen(x), x), inputs=[x])
    assert "_ga_scatter_sum(" in fn.source and "_ga_fused(" in fn.source
    got = fn(xv)
    assert got.dtype == np.dtype(dtype)
    tol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(got, _rosen_grad(xv.astype(np.float64)), rtol=tol, atol=tol)


def test_scatter_sum_with_overlapping_slices_and_ints():
    xv = np.random.default_rng(4).standard_normal(12)
    with ga.Graph():
        x = ga.symbol("x", shape=(12,), dtype="float64")
        f = ga.sum(x[1:] * x[:-1]) + ga.sum(ga.sin(x[::3])) + x[2] * 3.0 + ga.sum(x[4:8] ** 2)
        g = ga.grad(f, x)
        fn = ga.compile(g, inputs=[x])
        want = g.eval(x=xv)  # the interpreter: one scatter per slice, then adds
    assert "_ga_scatter_sum(" in fn.source
    np.testing.assert_allclose(fn(xv), want, rtol=1e-14, atol=1e-14)


def test_exported_module_with_kernels_runs(tmp_path):
    with ga.Graph():
        x = ga.symbol("x", shape=(N,), dtype="float64")
        f = ga.compile(ga.sin(x) * ga.cos(x) + 1.0, inputs=[x])
    path = tmp_path / "kern.py"
    ga.export(f, path)
    spec = importlib.util.spec_from_file_location("kern", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    xv = np.linspace(0, 3, N)
    np.testing.assert_allclose(mod.graphad_function(xv)[0], f(xv), rtol=1e-14)


# -- in-place reuse of dying buffers ------------------------------------------------------------


def test_dying_buffers_are_reused_with_the_same_values():
    rng = np.random.default_rng(5)
    Xv, Wv, bv = rng.standard_normal((8, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    with ga.Graph():
        X, W, b = (
            ga.symbol(n, shape=v.shape, dtype="float64")
            for n, v in (("X", Xv), ("W", Wv), ("b", bv))
        )
        h = ga.relu(X @ W + b)
        loss = ga.sum(ga.tanh(h) * 2.0 - h)
        outs = [loss, *ga.grad(loss, [W, b])]
        f = ga.compile(outs, inputs=[X, W, b])
        want = [np.asarray(o.eval(X=Xv, W=Wv, b=bv)) for o in outs]
    assert ", out=" in f.source
    for g, w in zip(f(Xv, Wv, bv), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


def test_buffers_seen_through_a_view_or_returned_are_never_overwritten():
    xv = np.arange(1.0, 9.0)
    with ga.Graph():
        x = ga.symbol("x", shape=(8,), dtype="float64")
        v = x * 2.0  # dies in `v * 3.0`, but a slice of it is still alive there
        tail = v[1:]
        w = v * 3.0
        out = w[:-1] + tail
        u = ga.exp(x)  # an output: must keep its value although u + 1 is its last use
        f = ga.compile([out, u, u + 1.0], inputs=[x])
    got = f(xv)
    np.testing.assert_allclose(got[0], (xv * 6.0)[:-1] + (xv * 2.0)[1:])
    np.testing.assert_allclose(got[1], np.exp(xv))
    np.testing.assert_allclose(got[2], np.exp(xv) + 1.0)
    assert got[1] is not got[2]


def test_an_operand_of_undeclared_dtype_is_typed_by_its_specialization():
    """np.dtype("float64") == None is True in NumPy: an unknown dtype must never pass as
    float64.  The specialization to an int64 array knows it is int64: the integer input is
    never written into, and the result is NumPy's (float64)."""
    xv = np.linspace(0, 1, N)
    yv = np.arange(N, dtype=np.int64)  # its dtype is known only at run time
    with ga.Graph():
        x = ga.symbol("x", shape=(N,), dtype="float64")
        y = ga.symbol("y", shape=(N,))
        f = ga.compile((x * 2.0 + y) * 3.0, inputs=[x, y])
    y_before = yv.copy()
    got = f(xv, yv)
    assert "x1: int64" in f.source
    np.testing.assert_array_equal(yv, y_before)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, (xv * 2.0 + yv) * 3.0, rtol=1e-15)
