"""The scalar VM's one-walk compiler (_scalar_vm.build_scalar, used by ga.compile for float64
scalar inputs): the same bits as the general path (specialize, optimize, kernels.build)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphad as ga
from graphad.backends import _scalar_vm, kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")

SPECIAL = [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 1e308, 5e-324, 0.5, -1.0]


def _bits(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).view(np.int64)


def _same_bits(a, b) -> bool:
    """Equal bit patterns (so -0.0 and 0.0 differ), except that any NaN equals any NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all((np.isnan(a) & np.isnan(b)) | (_bits(a) == _bits(b))))


UNARY = [
    ga.sin, ga.cos, ga.exp, ga.tanh, ga.sqrt, ga.abs, ga.sign, ga.log, ga.relu, ga.arctan,
    lambda a: -a, lambda a: a**2, lambda a: a**0.5, lambda a: a**3, lambda a: a ** (-1),
    lambda a: ga.clip(a, -1.0, 2.0),
]  # fmt: skip
# (no where: its gradient's where(c, g, 0.0) has no static dtype in the general path,
# which then runs NumPy's code; a test below covers that fallback)
BINARY = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    ga.maximum, ga.minimum, lambda a, b: a * (b > 0.0), lambda a, b: (a < b) * a,
    lambda a, b: a * 2 + b * np.float64(-0.0), lambda a, b: 1.0 - a * 1.0 + b * -1,
    lambda a, b: ga.zeros_like(a) + b, lambda a, b: (ga.ones_like(a) * 3.0) * b,
]  # fmt: skip


def _random_graph(rng, xs, size):
    pool = list(xs)
    for _ in range(size):
        if rng.random() < 0.4:
            e = UNARY[rng.integers(len(UNARY))](pool[rng.integers(len(pool))])
        else:
            a, b = (pool[k] for k in rng.integers(len(pool), size=2))
            e = BINARY[rng.integers(len(BINARY))](a, b)
        pool.append(e)
    f = pool[-1]
    for k, e in enumerate(pool[-30:-1]):
        f = f + e if k % 3 else f * e
    return [f, *ga.grad(f, xs)]


def _general(monkeypatch, outs, xs):
    """The same compile with the one-walk compiler switched off."""
    with monkeypatch.context() as m:
        m.setattr(_scalar_vm, "build_scalar", lambda *a: None)
        f = ga.compile(outs, inputs=xs)
        f(*[0.5] * len(xs))  # specialized now, while build_scalar is off
    return f


@pytest.mark.parametrize("seed", range(12))
def test_same_bits_as_the_general_path_and_numpy(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    with ga.Graph():
        xs = list(ga.symbols("x y z"))
        outs = _random_graph(rng, xs, 80)
        fast = ga.compile(outs, inputs=xs)
        fast(0.5, 0.5, 0.5)
        slow = _general(monkeypatch, outs, xs)
        ref = ga.compile(outs, inputs=xs, backend="numpy")
        compiled = fast._current
        assert compiled._spec is None  # the one-walk program runs: no graph made yet
        assert slow._current._spec is not None
        assert fast.backend == slow.backend == "numba"
        for _ in range(12):
            vals = [float(v) for v in rng.choice(SPECIAL, size=3)]
            if rng.random() < 0.5:
                vals[rng.integers(3)] = float(rng.uniform(-3, 3))
            got, want = fast(*vals), slow(*vals)
            assert all(type(g) is type(w) for g, w in zip(got, want, strict=True))
            assert all(np.asarray(g).dtype == np.float64 for g in got)
            assert _same_bits(got, want), (seed, vals)
            with np.errstate(all="ignore"):
                numpy = ref(*vals)
            # the VM's libm against NumPy's transcendentals: equal but for the last bits
            a, b = np.asarray(got), np.asarray(numpy)
            close = np.isclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)
            assert bool(np.all(close | (a == b))), (seed, vals, got, numpy)
        assert compiled._spec is None  # calls never needed the graph
        # reading the graph or the source makes them, and changes no result
        assert "def graphad_function" in fast.source and compiled._spec is not None
        assert _same_bits(fast(0.25, -1.5, 2.0), slow(0.25, -1.5, 2.0))


def test_exact_ops_are_numpys_bits():
    # + - * / max min where sqrt abs on the special values: bit for bit with NumPy
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = x
        for k in range(40):
            e = ga.maximum(e * y + x / (1.0 + k), ga.sqrt(ga.abs(x)) - y) if k % 2 else e - x * y
        f = ga.compile([e, *ga.grad(e, [x, y])], inputs=[x, y])
        ref = ga.compile([e, *ga.grad(e, [x, y])], inputs=[x, y], backend="numpy")
        f(0.5, 0.5)
        assert f._current._spec is None and f.backend == "numba"
        for a in SPECIAL:
            for b in SPECIAL:
                with np.errstate(all="ignore"):
                    assert _same_bits(f(a, b), ref(a, b)), (a, b)


def test_reads_and_listing_of_the_one_walk_program():
    with ga.Graph():
        xs = [ga.symbol(f"x{i}") for i in range(30)]
        e = xs[0]
        for x in xs[1:]:
            e = e * x + ga.sin(x)
        f = ga.compile(ga.grad(e, xs), inputs=xs)
        vals = np.linspace(0.1, 0.9, 30)
        got = f(*vals)
        assert f._current._spec is None
        listing = f.kernels
        assert listing.startswith("# graphad register VM (Numba), scalar mode")
        # by hand: d/dx29 of (e28 * x29 + sin(x29)) is e28 + cos(x29)
        e28 = vals[0]
        for v in vals[1:29]:
            e28 = e28 * v + math.sin(v)
        assert math.isclose(got[29], e28 + math.cos(vals[29]), rel_tol=1e-13)
        assert f.graph.records()  # made on first read
        assert len(f.output_ids) == 30 and len(f.input_ids) == 30
        assert f.signatures == [", ".join(f"x{i}: float64[]" for i in range(30))]


def test_graphs_it_does_not_cover_take_the_general_path():
    with ga.Graph():
        x, y = ga.symbols("x y")
        # a where with a Python-float branch (its dtype is NumPy's promotion of the
        # branches, float64 here) runs in the one-walk compiler, as NumPy computes it
        e = x
        for _ in range(40):
            e = ga.where(e > y, 1.0, e * y) + x
        f = ga.compile(e, inputs=[x, y])
        assert f(0.5, 0.25) == 1.5  # by hand: 1.0 + x
        assert f(0.1, 0.25) == ga.compile(e, inputs=[x, y], backend="numpy")(0.1, 0.25)
        e = x
        for _ in range(40):
            e = ga.arctan2(e, y) + x  # not a VM op: the NumPy code runs it
        f = ga.compile(e, inputs=[x, y])
        assert math.isfinite(float(f(0.5, 0.25)))
        assert f.backend == "numpy" and f._current._spec is not None
        # float32 values are not float64 scalars: the general path, float32 results
        g = ga.compile(ga.grad(e, x), inputs=[x, y])
        r = g(np.float32(0.5), np.float32(0.25))
        assert np.asarray(r).dtype == np.float32
        # a missing input is named by the general path's error
        z = ga.symbol("z")
        h = ga.compile(e * z + ga.sin(x) * 40, inputs=[x, y])
        with pytest.raises(ga.MissingInputError, match="'z'"):
            h(0.5, 0.25)


def test_boolean_arithmetic_is_numpys():
    # NumPy on booleans: True + True is True (or), True * False is False (and); the VM
    # holds booleans as 0.0/1.0, so its add would give 2.0 -- such graphs must not run
    # there.  Long enough (80+ instructions) that backend="auto" would pick the VM.
    with ga.Graph():
        x, y = ga.symbols("x y")
        pad = x * 0.0
        for i in range(80):
            pad = pad + ga.sin(x * float(i))
        cases = {
            "or by +": ((x > 0) + (y > 0)) * 1.0,
            "and by *": ((x > 0) * (y > 0)) * 1.0,
            "or by maximum": ga.maximum(x > 0, y < 0) * 2.0,
        }
        for name, e in cases.items():
            g = e + pad * 0.0
            for xv, yv in ((1.0, 2.0), (-1.0, 2.0), (-1.0, -2.0)):
                want = float(
                    {
                        "or by +": np.bool_(xv > 0) + np.bool_(yv > 0),
                        "and by *": np.bool_(xv > 0) * np.bool_(yv > 0),
                        "or by maximum": 2.0 * np.maximum(np.bool_(xv > 0), np.bool_(yv < 0)),
                    }[name]
                )
                for backend in ("auto", "numba", "numpy"):
                    got = ga.compile(g, inputs=[x, y], backend=backend)(xv, yv)
                    assert float(got) == want, (name, backend, xv, yv, got)
