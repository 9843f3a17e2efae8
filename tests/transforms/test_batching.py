"""Batched evaluation of wide scalar graphs: same values as the straight-line code.

Reference: the same graph compiled with batching disabled (one NumPy line per
node), and the hand-written NumPy gradient of the chained Rosenbrock function.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import graphad as ga
from graphad.transforms import batching

F64 = "float64"


def _rosen(xs):
    f = None
    for i in range(len(xs) - 1):
        term = 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
        f = term if f is None else f + term
    return f


def _rosen_grad(x):
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def _both(build, n, dtype=F64):
    """(batched, straight-line) compilations of build(symbols) -> list of outputs."""
    out = []
    for enabled in (True, False):
        batching.ENABLED = enabled
        try:
            with ga.Graph():
                xs = [ga.symbol(f"x{i}", shape=(), dtype=dtype) for i in range(n)]
                f = ga.compile(build(xs), inputs=xs)
                # where the Numba VM runs the graph, the NumPy source is generated when
                # first read: read it while the switch is set
                assert f.source
                out.append(f)
        finally:
            batching.ENABLED = True
    return out


def test_rosenbrock_gradient_is_batched_and_equal():
    n = 300
    batched, plain = _both(lambda xs: ga.grad(_rosen(xs), xs), n)
    assert "b = _ga_b0.copy()" in batched.source
    assert batched.source.count("\n") < plain.source.count("\n") / 10
    xv = np.random.default_rng(0).uniform(-1.5, 1.5, n)
    got, want = batched(*xv.tolist()), plain(*xv.tolist())
    assert all(type(v) is np.float64 for v in got)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(got, _rosen_grad(xv), rtol=1e-13, atol=1e-12)


def test_outputs_that_are_inputs_constants_or_repeated():
    def build(xs):
        f = sum(ga.exp(0.1 * x) * x * x for x in xs[:-1])  # xs[-1] unused: gradient 0
        g = ga.grad(f, xs)
        return [*g, xs[0], g[3]]

    batched, plain = _both(build, 120)
    assert "b = _ga_b0.copy()" in batched.source
    xv = np.linspace(-1, 1, 120).tolist()
    got, want = batched(*xv), plain(*xv)
    assert got[-3] == 0.0 and got[-2] == xv[0] and got[-1] == got[3]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_special_constants_and_relu():
    def build(xs):
        terms = [ga.relu(x - 0.5) * -3.0 + ga.where(x > 100.0, x, x) * 0.0 for x in xs]
        return [sum(t * float("inf") + x for t, x in zip(terms, xs, strict=True))]

    batched, plain = _both(build, 100)
    assert "b = _ga_b0.copy()" not in batched.source  # a comparison: straight-line code
    batched, plain = _both(lambda xs: [ga.relu(x - 0.5) * -3.0 + float("nan") for x in xs], 100)
    assert "b = _ga_b0.copy()" in batched.source
    xv = np.linspace(0, 1, 100).tolist()
    np.testing.assert_array_equal(batched(*xv), plain(*xv))


def test_deep_chains_and_undeclared_dtypes_stay_straight_line():
    def product(xs):
        f = xs[0]
        for x in xs[1:]:
            f = f * x
        return ga.grad(f, xs)

    batched, _ = _both(product, 200)
    assert "b = _ga_b0.copy()" not in batched.source
    batched, _ = _both(lambda xs: ga.grad(_rosen(xs), xs), 200, dtype=None)
    # undeclared dtypes: a gradient with respect to integers is refused (it would be
    # computed in integer arithmetic); called with floats, the specialization is batched
    ints = list(range(-100, 100))
    with pytest.raises(ga.DTypeError, match="differentiated but given int64"):
        batched(*ints)
    floats = [float(i) for i in ints]
    assert "b = _ga_b0.copy()" in batched.source_for(*floats)
    np.testing.assert_array_equal(batched(*floats), _rosen_grad(np.array(floats)))


def test_exported_batched_module_runs(tmp_path):
    batched, plain = _both(lambda xs: ga.grad(_rosen(xs), xs), 100)
    assert "b = _ga_b0.copy()" in batched.source
    path = tmp_path / "rosen_grad.py"
    ga.export(batched, path)
    spec = importlib.util.spec_from_file_location("rosen_grad", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    xv = np.linspace(-1, 1, 100).tolist()
    np.testing.assert_allclose(mod.graphad_function(*xv), plain(*xv), rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_graphs_are_not_batched(n):
    batched, _ = _both(lambda xs: [sum(x * 2.0 for x in xs)], n)
    assert "b = _ga_b0.copy()" not in batched.source
