"""Basic indexing (``x[1:]``, ``m[:, 0]``) and the rewrite rows the vector benchmarks rely on.

References: NumPy's own indexing, central finite differences, and the
hand-written gradient of the chained Rosenbrock function.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.core.errors import GraphadError, ShapeError

INDICES = [
    ((5,), np.s_[1:]),
    ((5,), np.s_[:-1]),
    ((5,), np.s_[::2]),
    ((5,), np.s_[3]),
    ((5,), np.s_[::-1]),
    ((3, 4), np.s_[:, 0]),
    ((3, 4), np.s_[1]),
    ((3, 4), np.s_[1:, ::-2]),
    ((2, 3, 4), np.s_[-1, 1:, 2]),
]


@pytest.mark.parametrize(("shape", "index"), INDICES)
@pytest.mark.parametrize("static", [True, False])
def test_values_match_numpy(shape, index, static):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal(shape)
    with ga.Graph():
        x = ga.symbol("x", shape=shape if static else None)
        e = x[index]
        want = xv[index]
        if static:
            assert e.shape == np.shape(want)
        np.testing.assert_array_equal(e.eval(x=xv), want)
        np.testing.assert_array_equal(ga.compile(e, inputs=[x])(xv), want)


@pytest.mark.parametrize(("shape", "index"), INDICES)
def test_gradient_matches_finite_differences(shape, index):
    rng = np.random.default_rng(1)
    xv = rng.standard_normal(shape)
    w = rng.standard_normal(np.shape(xv[index]))
    with ga.Graph():
        x = ga.symbol("x", shape=shape)
        f = ga.sum(ga.sin(x[index]) * w)
        g = ga.compile(ga.grad(f, x), inputs=[x])(xv)
    h = 1e-6
    fd = np.zeros(shape)
    for i in np.ndindex(*shape):
        d = np.zeros(shape)
        d[i] = h
        plus, minus = np.sin((xv + d)[index]) * w, np.sin((xv - d)[index]) * w
        fd[i] = (np.sum(plus) - np.sum(minus)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


def test_second_derivative_through_the_scatter():
    xv = np.array([0.3, -1.2, 0.8, 2.0])
    with ga.Graph():
        x = ga.symbol("x", shape=(4,))
        f = ga.sum(x[1:] ** 2 * x[:-1])
        (gx,) = ga.grad(f, [x])
        hv = ga.grad(ga.sum(gx * np.array([1.0, 0.0, 0.0, 0.0])), x)  # first row of the Hessian
        got = hv.eval(x=xv)
    # f = x1^2 x0 + x2^2 x1 + x3^2 x2:  d/dx0 = x1^2, so row 0 = [0, 2 x1, 0, 0]
    np.testing.assert_allclose(got, [0.0, 2 * xv[1], 0.0, 0.0])


def test_jvp_of_a_slice():
    xv = np.arange(4.0)
    with ga.Graph():
        x = ga.symbol("x", shape=(4,))
        t = ga.jvp(ga.sum(x[1:] * 3.0), {x: np.ones(4)})
        assert float(t.eval(x=xv)) == 9.0


@pytest.mark.parametrize(
    "bad", [1.5, [0.5, 1.0], "a", slice(0.5, 2), (Ellipsis, 0, Ellipsis), {"a": 1}]
)
def test_unsupported_indices_say_so(bad):
    with ga.Graph():
        x = ga.symbol("x", shape=(4,))
        with pytest.raises(GraphadError):
            x[bad]
        with pytest.raises(GraphadError, match="an Expr"):
            x[ga.symbol("i")]


def test_out_of_bounds_is_a_shape_error():
    with ga.Graph():
        x = ga.symbol("x", shape=(4,))
        with pytest.raises(ShapeError, match="out of bounds"):
            x[4]
        with pytest.raises(ShapeError):
            x[0, 1]


def _rosen(x):
    return ga.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_grad(x):
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "default"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vector_rosenbrock_gradient_skips_the_forward_value(dtype, declared):
    """The seed's broadcast is absorbed by broadcasting, so the compiled gradient never
    computes the loss (nor its sum), only what the derivative needs; with the shape
    undeclared too, once specialized to the array it runs with."""
    xv = np.random.default_rng(2).uniform(-1, 1, 50).astype(dtype)
    with ga.Graph():
        x = ga.symbol("x", shape=(50,), dtype=dtype) if declared else ga.symbol("x")
        fn = ga.compile(ga.grad(_rosen(x), x), inputs=[x])
    got = fn(xv)
    assert got.dtype == np.dtype(dtype)
    tol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(got, _rosen_grad(xv.astype(float)), rtol=tol, atol=tol)
    ops = [n["op"] for n in fn.graph._nodes.values()]
    assert "sum" not in ops and "unreduce" not in ops
    assert "broadcast_to(c) * z -> c * z" in fn.graph.rewrites_fired


def test_mean_seed_folds_into_one_constant():
    """-mean(v): the seed -1/n ends up as one constant factor, not a broadcast array."""
    with ga.Graph():
        v = ga.symbol("v", shape=(8,), dtype="float32")
        f = -ga.mean(v * v)
        fn = ga.compile(ga.grad(f, v), inputs=[v])
    vv = np.arange(8, dtype=np.float32)
    got = fn(vv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, -2 * vv / 8, rtol=1e-6)
    assert "unreduce" not in [n["op"] for n in fn.graph._nodes.values()]
