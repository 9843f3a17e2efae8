"""Fused array kernels (graphad.backends.fused): ``backend="numba"`` on array graphs.

The reference is always the NumPy backend (``backend="numpy"``) on the same graph and
values, or NumPy itself: elementwise results must be its bits (NaN, inf, -0.0, dtype);
sums may differ by the stated bound ``n * eps * sum(|t|)``; transcendental functions by a
few units in the last place.  Every test runs with and without Numba (the ``backend``
fixture: "numpy" is the run without it); kernels are cached on disk, so only a machine's
first run compiles them.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import graphad as ga
from graphad.backends import fused, kernels

HAVE_NUMBA = kernels.available()
SPECIAL = [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 1e308, 5e-324, -7.0]


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    if request.param == "numba" and not HAVE_NUMBA:
        pytest.skip("numba not installed")
    return request.param


def _same_bits(a, b) -> bool:
    """Same dtype, shape and bit pattern (any NaN equals any NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a) & np.isnan(b)
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    return bool(np.all(nan | (a.view(ints) == b.view(ints))))


def _values(n: int, seed: int, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.uniform(-3, 3, n)
    v[: min(n, len(SPECIAL))] = SPECIAL[:n]
    rng.shuffle(v)
    with np.errstate(over="ignore"):  # 1e308 is inf in float32
        return v.astype(dtype)


def _rosen():
    x = ga.symbols("x")
    f = ga.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return x, f


def test_rosenbrock_gradient_is_one_loop_with_numpys_bits(backend):
    with ga.Graph():
        x, f = _rosen()
        g = ga.compile(ga.grad(f, x), inputs=[x], backend=backend)
        ref = ga.compile(ga.grad(f, x), inputs=[x], backend="numpy")
        for n in (2, 3, 40):
            xv = _values(n, n)
            got, want = g(xv), ref(xv)
            assert _same_bits(got, want), (n, got, want)
        # the hand-written gradient, independent of graphad
        xv = _values(40, 1)
        xv = xv[np.abs(xv) < 10]
        a = xv[1:] - xv[:-1] ** 2
        hand = np.zeros_like(xv)
        hand[:-1] = -400.0 * xv[:-1] * a - 2.0 * (1.0 - xv[:-1])
        hand[1:] += 200.0 * a
        assert np.allclose(g(xv), hand, rtol=1e-14, atol=0)
        if backend == "numba":
            assert g.backend == "numba"
            text = g.kernels
            # one loop: the whole gradient, the scatter of both slice gradients included
            assert text.count("def kernel(") == 1 and "_p + t" in text
        else:
            assert g.backend == "numpy" and g.kernels is None


def test_scatter_of_negative_zero_keeps_the_numpy_backends_bits(backend):
    # where only the second slice's gradient lands, NumPy adds it to 0.0 (-0.0 -> 0.0);
    # where only the first lands, it is assigned (-0.0 stays)
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.sum(x[1:] * x[:-1])
        g = ga.compile(ga.grad(f, x), inputs=[x], backend=backend)
        xv = np.array([-0.0, 0.0, -0.0, 2.0, -0.0])
        got = g(xv)
        want = np.zeros(5)
        want[:-1] = xv[1:]
        want[1:] += xv[:-1]
        assert _same_bits(got, want)
        # slices that leave positions out (zeros there), and a 2-D stencil (another loop):
        # the NumPy backend's bits (which term it assigns follows the graph), NumPy's values
        for e, xv, slices in (
            (
                ga.sum(x[1:3] * -x[2:4]),
                np.array([5.0, -0.0, 0.0, math.nan, -0.0, 7.0]),
                ((slice(1, 3), slice(2, 4)), (slice(2, 4), slice(1, 3))),
            ),
            (
                ga.sum(x[1:, :] * x[:-1, :]),
                np.array([[-0.0, 1.0], [0.0, -0.0], [math.inf, 2.0]]),
                ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
            ),
        ):
            h = ga.compile(ga.grad(e, x), inputs=[x], backend=backend)
            ref = ga.compile(ga.grad(e, x), inputs=[x], backend="numpy")
            assert _same_bits(h(xv), ref(xv))
            want = np.zeros_like(xv)
            sign = -1.0 if xv.ndim == 1 else 1.0
            for dst, src in slices:
                want[dst] += sign * xv[src]
            assert np.array_equal(h(xv), want, equal_nan=True)


def test_elementwise_broadcasting_and_specials_bitwise(backend):
    with ga.Graph():
        x, y, b, s = ga.symbols("x y b s")
        e = ga.where(x > y, x * y - b, ga.maximum(x, -y)) + ga.sqrt(ga.abs(x)) / (y - b)
        e2 = ga.minimum(ga.relu(x - s), y) * ga.sign(b) - (x * s) ** 2
        outs = [e, e2, ga.clip(x, -1.0, y)]
        f = ga.compile(outs, inputs=[x, y, b, s], backend=backend)
        ref = ga.compile(outs, inputs=[x, y, b, s], backend="numpy")
        xv = _values(40, 2).reshape(10, 4)
        yv = _values(40, 3).reshape(10, 4)
        bv = np.array([-0.0, 2.0, math.nan, -math.inf])
        for sv in (0.5, -0.0, math.nan):
            for got, want in zip(f(xv, yv, bv, sv), ref(xv, yv, bv, sv), strict=True):
                assert _same_bits(got, want)
        # NumPy itself, for the first output
        with np.errstate(all="ignore"):
            direct = np.where(xv > yv, xv * yv - bv, np.maximum(xv, -yv)) + np.sqrt(np.abs(xv)) / (
                yv - bv
            )
        assert _same_bits(f(xv, yv, bv, 0.5)[0], direct)


def test_float32_with_python_numbers_stays_float32(backend):
    with ga.Graph():
        x, w = ga.symbols("x w")
        outs = [2 * x + 0.1, w - 0.01 * (x * w), ga.relu(x + w) * (x > 0.5)]
        f = ga.compile(outs, inputs=[x, w], backend=backend)
        xv = _values(24, 4, np.float32).reshape(6, 4)
        wv = _values(4, 5, np.float32)
        got = f(xv, wv)
        with np.errstate(all="ignore"):
            want = [
                2 * xv + 0.1,
                wv - 0.01 * (xv * wv),
                np.maximum(xv + wv, 0) * (xv > 0.5),
            ]
        for g_, w_ in zip(got, want, strict=True):
            assert g_.dtype == np.float32 and _same_bits(g_, w_)


def test_sum_at_the_end_of_a_group_within_the_stated_bound(backend):
    with ga.Graph():
        x, y = ga.symbols("x y")
        t = x * x + y
        f = ga.compile([ga.sum(t), t * 2.0], inputs=[x, y], backend=backend)
        rng = np.random.default_rng(6)
        for n in (1, 7, 5000):
            xv, yv = rng.normal(size=n), rng.normal(size=n)
            total, twice = f(xv, yv)
            terms = xv * xv + yv
            eps = np.finfo(np.float64).eps
            assert isinstance(total, np.float64)
            assert abs(total - np.sum(terms)) <= n * eps * np.sum(np.abs(terms))
            assert _same_bits(twice, terms * 2.0)
        xv = np.array([1.0, math.inf, 2.0])
        assert f(xv, np.zeros(3))[0] == math.inf
        assert math.isnan(f(np.array([1.0, math.nan]), np.zeros(2))[0])
        assert math.isnan(f(np.array([math.inf, 1.0]), np.array([0.0, -math.inf]))[0])


def test_transcendentals_within_four_ulp(backend):
    with ga.Graph():
        x = ga.symbols("x")
        outs = [ga.exp(x) * x, ga.log(ga.abs(x) + 1.0) - x, ga.tanh(x) + ga.sin(x) * ga.cos(x)]
        f = ga.compile(outs, inputs=[x], backend=backend)
        xv = np.random.default_rng(7).uniform(-5, 5, 300)
        with np.errstate(all="ignore"):
            want = [
                np.exp(xv) * xv,
                np.log(np.abs(xv) + 1.0) - xv,
                np.tanh(xv) + np.sin(xv) * np.cos(xv),
            ]
        for g_, w_ in zip(f(xv), want, strict=True):
            np.testing.assert_array_max_ulp(g_, w_, maxulp=4)
        specials = np.array([math.nan, math.inf, -math.inf, -0.0])
        got = f(specials)[0]
        assert math.isnan(got[0]) and got[1] == math.inf and math.isnan(got[2])
        assert _same_bits(got[3:], np.array([-0.0]))


def test_same_structure_compiles_no_new_kernel():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    with ga.Graph():
        x, f = _rosen()
        g1 = ga.compile(ga.grad(f, x), inputs=[x], backend="numba")
        g1(np.linspace(-1, 1, 30))
    before = dict(fused._KERNELS)
    with ga.Graph():  # a new graph, another size: the same loop source
        x, f = _rosen()
        g2 = ga.compile(ga.grad(f, x), inputs=[x], backend="numba")
        xv = np.linspace(-1, 1, 77)
        assert _same_bits(g2(xv), ga.compile(ga.grad(f, x), backend="numpy")(xv))
    assert before == fused._KERNELS
    # the loop's text names no size: only the comment above it does
    loop1 = g1.kernels.split("# fused loops")[1].split("\n", 2)[2]
    loop2 = g2.kernels.split("# fused loops")[1].split("\n", 2)[2]
    assert loop1 == loop2 and "def kernel(" in loop1


def test_parallel_loops_give_the_same_bits():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    n = fused.PARALLEL_MIN + 3
    with ga.Graph():
        x, f = _rosen()
        g = ga.compile(ga.grad(f, x), inputs=[x], backend="numba", parallel=True)
        ref = ga.compile(ga.grad(f, x), inputs=[x], backend="numpy")
        xv = np.random.default_rng(8).uniform(-2, 2, n)
        xv[:10] = SPECIAL
        assert _same_bits(g(xv), ref(xv))
        assert "prange" in g.kernels


def test_bad_parallel_is_refused_and_names_the_argument():
    with ga.Graph():
        x = ga.symbols("x")
        with pytest.raises(ga.GraphadError, match="parallel="):
            ga.compile(x * x, parallel="yes")


def test_without_numba_the_numpy_code_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    with ga.Graph():
        x, f = _rosen()
        g = ga.compile(ga.grad(f, x), inputs=[x], backend="numpy")
        graph, outs, ins = g.graph, g.output_ids, g.input_ids
        assert fused.attach(graph, outs, ins, None) is None
        xv = np.array([1.0, 2.0, -0.5])
        # by hand: -400 x0 (x1 - x0^2) - 2 (1 - x0), ..., 200 (x2 - x1^2)
        assert np.allclose(g(xv), [-400.0, 3802.0, -900.0], rtol=1e-15, atol=0)


def test_powers_follow_numpys_ndarray_power(backend):
    # ndarray ** 0.5 is NumPy's sqrt ((-inf) ** 0.5 is nan, not pow's inf): such
    # exponents stay NumPy code; another exponent is pow, within a few ULP
    with ga.Graph():
        x = ga.symbols("x")
        # (the sum keeps the register VM's points mode out: this is about fused loops)
        outs = [x**0.5 * 2.0, x**3.0 - x, x**-1.0 + x, ga.sum(x)]
        f = ga.compile(outs, inputs=[x], backend=backend)
        xv = np.array([-math.inf, -0.0, 0.0, 2.0, 7.5, math.nan, -3.0])
        r_half, r_cube, r_inv, _ = f(xv)
        with np.errstate(all="ignore"):
            assert _same_bits(r_half, xv**0.5 * 2.0)
            assert _same_bits(r_inv, xv**-1.0 + xv)
            want = xv**3.0 - xv
        assert np.array_equal(np.isnan(r_cube), np.isnan(want))
        ok = ~np.isnan(want)
        np.testing.assert_array_max_ulp(r_cube[ok], want[ok], maxulp=2)


def test_unwritable_kernel_cache_falls_back_to_numpy(monkeypatch, tmp_path):
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRAPHAD_CACHE_DIR", str(blocker))
    monkeypatch.setattr(fused, "_KERNELS", {})  # nothing compiled in this process
    with ga.Graph():
        x, f = _rosen()
        g = ga.compile(ga.grad(f, x), inputs=[x], backend="numba")
        assert np.allclose(g(np.array([1.0, 2.0, -0.5])), [-400.0, 3802.0, -900.0])
        assert g.backend == "numpy" and g.kernels is None
