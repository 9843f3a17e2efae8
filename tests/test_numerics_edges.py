"""Numerics at the edges, one table: NaN/inf propagation, 0 and -inf conventions, dtypes, empties.

Each row is an expression, the inputs to differentiate, a point, and the value
and gradients written out by hand from the convention that applies (NumPy's
IEEE results for values; PyTorch's and JAX's documented rules for gradients
at non-differentiable points).  Every row runs through the interpreter
(``Expr.eval``) and the compiled code (``ga.compile``), which must agree bit
for bit and in dtype, and neither may raise or warn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphad as ga

inf, nan = np.inf, np.nan
f32 = np.float32


def a(*values, dtype=np.float64):
    return np.array(values, dtype=dtype)


# (id, text, wrt, point, value, gradients in wrt order)
ROWS = [
    # NaN and inf go through without exceptions
    ("nan propagates", "x*y + sin(x)", ["x", "y"], {"x": nan, "y": 1.0}, nan, [nan, nan]),
    ("inf through exp/relu/abs", "exp(x) + relu(x) + abs(x)", ["x"], {"x": inf}, inf, [inf]),
    ("sigmoid, softplus at -inf", "sigmoid(x) + softplus(x)", ["x"], {"x": -inf}, 0.0, [0.0]),
    ("sigmoid, softplus at +inf", "sigmoid(x) + softplus(x)", ["x"], {"x": inf}, inf, [1.0]),
    ("division by zero", "x / y", ["x", "y"], {"x": 1.0, "y": 0.0}, inf, [inf, -inf]),
    ("nan in maximum", "maximum(x, 0.0)", ["x"], {"x": nan}, nan, [0.0]),
    ("nan in a reduction", "max(x) + min(x)", ["x"], {"x": a(nan, 1.0)}, nan, [a(nan, nan)]),
    # logs and roots at 0: log(0) = -inf, log'(0) = inf; sqrt'(0) = inf (documented)
    ("log(0)", "log(x)", ["x"], {"x": 0.0}, -inf, [inf]),
    ("log1p(-1), expm1(-1)", "log1p(x)", ["x"], {"x": -1.0}, -inf, [inf]),
    ("sqrt at 0", "sqrt(x)", ["x"], {"x": 0.0}, 0.0, [inf]),
    ("x**0.5 at 0", "x**0.5", ["x"], {"x": 0.0}, 0.0, [inf]),
    # powers at 0, PyTorch's rules: d/dy x**y = 0 where x == 0 and y >= 0; d/dx = 0 where y == 0
    ("0**0", "x**y", ["x", "y"], {"x": 0.0, "y": 0.0}, 1.0, [0.0, 0.0]),
    ("0**2", "x**y", ["x", "y"], {"x": 0.0, "y": 2.0}, 0.0, [0.0, 0.0]),
    ("0**0.5", "x**y", ["x", "y"], {"x": 0.0, "y": 0.5}, 0.0, [inf, 0.0]),
    ("0**-1", "x**y", ["x"], {"x": 0.0, "y": -1.0}, inf, [-inf]),
    ("x**0 at 0", "x**0", ["x"], {"x": 0.0}, 1.0, [0.0]),
    ("x**2 at 0", "x**2", ["x"], {"x": 0.0}, 0.0, [0.0]),
    ("(-8)**(1/3) is nan", "x**y", ["x"], {"x": -8.0, "y": 1 / 3}, nan, [nan]),
    # kinks: relu'(0) = abs'(0) = 0; ties split evenly
    ("relu and abs at 0", "abs(x) + relu(x)", ["x"], {"x": 0.0}, 0.0, [0.0]),
    ("maximum tie", "maximum(x, y)", ["x", "y"], {"x": 1.0, "y": 1.0}, 1.0, [0.5, 0.5]),
    ("max with ties", "max(x)", ["x"], {"x": a(2.0, 2.0, 1.0)}, 2.0, [a(0.5, 0.5, 0.0)]),
    ("prod with a zero", "prod(x)", ["x"], {"x": a(0.0, 2.0, 3.0)}, 0.0, [a(6.0, 0.0, 0.0)]),
    ("prod with two zeros", "prod(x)", ["x"], {"x": a(0.0, 0.0, 3.0)}, 0.0, [a(0.0, 0.0, 0.0)]),
    # all -inf: logsumexp = -inf with gradient 0 (not NaN); softmax weights 0
    ("logsumexp all -inf", "logsumexp(x)", ["x"], {"x": a(-inf, -inf)}, -inf, [a(0.0, 0.0)]),
    ("logsumexp -inf row", "sum(logsumexp(x, axis=-1))", ["x"],
     {"x": np.array([[-inf, -inf], [0.0, 0.0]])}, -inf, [np.array([[0.0, 0.0], [0.5, 0.5]])]),
    ("softmax all -inf", "sum(softmax(x))", ["x"], {"x": a(-inf, -inf)}, 0.0, [a(0.0, 0.0)]),
    ("logsumexp with +inf", "logsumexp(x)", ["x"], {"x": a(inf, 0.0)}, inf, [a(nan, 0.0)]),
    # the where(x > 0, log(x), 0) trap (ga.where's docstring) and its safe form
    ("where trap", "sum(where(x > 0, log(x), 0))", ["x"], {"x": a(0.0, 1.0)}, 0.0,
     [a(nan, 1.0)]),
    ("where safe form", "sum(where(x > 0, log(where(x > 0, x, 1)), 0))", ["x"],
     {"x": a(0.0, -1.0, 2.0)}, np.log(2.0), [a(0.0, 0.0, 0.5)]),
    # empty arrays
    ("sum of empty", "sum(x)", ["x"], {"x": a()}, 0.0, [a()]),
    ("sum of empty sin", "sum(sin(x) * 2)", ["x"], {"x": a()}, 0.0, [a()]),
    ("empty matmul", "sum(x @ y)", ["x", "y"], {"x": np.zeros((2, 0)), "y": np.zeros((0, 3))},
     0.0, [np.zeros((2, 0)), np.zeros((0, 3))]),
    ("empty softmax rows", "sum(softmax(x))", ["x"], {"x": np.zeros((0, 4))}, 0.0,
     [np.zeros((0, 4))]),
    # float32 stays float32, values and gradients
    ("float32 polynomial", "sum(x**2 * 3 + exp(x) / 2)", ["x"], {"x": a(0.0, 1.0, dtype=f32)},
     f32(3.5) + np.exp(f32(1.0)) / 2, [a(0.5, 6.0 + np.exp(f32(1.0)) / 2, dtype=f32)]),
    ("float32 empty", "sum(sin(x) * 2)", ["x"], {"x": a(dtype=f32)}, f32(0.0), [a(dtype=f32)]),
    ("float32 tanh saturates", "tanh(x)", ["x"], {"x": f32(1000.0)}, f32(1.0), [f32(0.0)]),
    ("float32 pow, variable exponent", "sum(x**y)", ["x", "y"],
     {"x": a(0.0, 4.0, dtype=f32), "y": a(0.0, 0.5, dtype=f32)}, f32(3.0),
     [a(0.0, 0.25, dtype=f32), a(0.0, 2 * np.log(f32(4.0)), dtype=f32)]),
    ("float32 log-softmax net", "mean(logsumexp(x, axis=-1)) + sum(log_softmax(x) * 0.5)", ["x"],
     {"x": np.zeros((2, 2), f32)}, -np.log(f32(2.0)), [np.full((2, 2), 0.25, f32)]),
]  # fmt: skip


@pytest.mark.parametrize(
    "text, wrt, point, value, grads", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_edge_table(text, wrt, point, value, grads):
    with ga.Graph():
        e = ga.parse(text)
        gs = ga.grad(e, wrt)
        f = ga.compile([e, *gs], inputs=sorted(point))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning either
            interpreted = [e.eval(point), *(g.eval(point) for g in gs)]
            compiled = list(f(**point))
    want = [value, *grads]
    for got_i, got_c, w in zip(interpreted, compiled, want, strict=True):
        w = np.asarray(w)
        dtype = np.result_type(*[np.asarray(v).dtype for v in point.values()])
        for got in (got_i, got_c):
            got = np.asarray(got)
            assert got.shape == w.shape
            assert got.dtype == dtype, (got.dtype, dtype)  # float32 stays float32
            np.testing.assert_allclose(got, w, rtol=1e-6, atol=0)  # nan == nan, inf == inf
        assert np.array_equal(np.asarray(got_i), np.asarray(got_c), equal_nan=True)


def test_table_values_follow_numpy():
    """The hand-written values agree with NumPy evaluating the same formulas."""
    with np.errstate(all="ignore"):
        assert np.log(0.0) == -inf and np.sqrt(0.0) == 0.0 and np.power(0.0, 0.0) == 1.0
        assert np.power(0.0, -1.0) == inf and np.isnan(np.power(-8.0, 1 / 3))


def test_mean_of_empty_is_nan_like_numpy():
    with ga.Graph():
        e = ga.mean(ga.symbols("x"))
        with pytest.warns(RuntimeWarning, match="Mean of empty slice"), np.errstate(all="ignore"):
            want = np.mean(np.zeros(0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = e.eval(x=np.zeros(0))
            (gx,) = ga.compile([ga.grad(e, "x")])(np.zeros(0))
    assert np.isnan(got) and np.isnan(want) and gx.shape == (0,)


def test_where_docstring_documents_the_trap_and_the_safe_form():
    doc = ga.where.__doc__
    assert "where(x > 0, log(x), 0)" in doc and "log(where(x > 0, x, 1))" in doc
    assert "0**y" in ga.power.__doc__ and "x2 >= 0" in ga.power.__doc__


def test_float32_gradients_of_a_dense_layer_stay_float32():
    with ga.Graph():
        W = ga.symbol("W", shape=(3, 2), dtype="float32")
        X = ga.symbol("X", shape=(4, 3), dtype="float32")
        loss = ga.mean(ga.softplus(X @ W) - 0.5 * (X @ W))
        gW = ga.grad(loss, W)
        rng = np.random.default_rng(0)
        vals = {"W": rng.normal(size=(3, 2)).astype(f32), "X": rng.normal(size=(4, 3)).astype(f32)}
        got = ga.compile([loss, gW])(**vals)
        ref = gW.eval(vals)
    assert got[0].dtype == f32 and got[1].dtype == f32 and ref.dtype == f32
    z = vals["X"].astype(np.float64) @ vals["W"]
    want = vals["X"].T.astype(np.float64) @ ((1 / (1 + np.exp(-z)) - 0.5) / z.size)
    np.testing.assert_allclose(got[1], want, rtol=1e-5)
