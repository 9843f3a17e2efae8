"""Regressions the peer suite (benchmarks/peer_suite) found in the op table."""

import math

import numpy as np
import pytest

import graphad as ga


def _fd(f, x, h=1e-5):
    """Central differences of a NumPy function, element by element."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        out[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def test_sinc_derivatives_at_zero_are_the_maclaurin_ones():
    # sinc(x) = 1 - (pi x)^2/6 + (pi x)^4/120 - ...: sinc''(0) = -pi^2/3, sinc''''(0) = pi^4/5
    with ga.Graph():
        d1 = ga.grad(ga.sinc)
        d2 = ga.grad(d1)
        d3 = ga.grad(d2)
        d4 = ga.grad(d3)
        assert float(d1(0.0)) == 0.0 and not math.copysign(1.0, float(d1(0.0))) < 0
        assert abs(float(d2(0.0)) + math.pi**2 / 3) < 1e-12
        assert float(d3(0.0)) == 0.0
        assert abs(float(d4(0.0)) - math.pi**4 / 5) < 1e-9
        # away from 0 unchanged: the closed form against finite differences of np.sinc
        x = np.array([-0.7, 0.3, 1.9])
        g = ga.grad(lambda t: ga.sum(ga.sinc(t)))(x)
    np.testing.assert_allclose(g, _fd(lambda v: np.sum(np.sinc(v)), x), rtol=1e-8)


@pytest.mark.parametrize(
    "spec, sa, sb",
    [
        ("j...k,lj...->lk...", (2, 2), (2, 2, 2)),
        ("j...k,lj...->lk...", (2, 2, 2), (2, 2)),
        ("jk...,lj...->lk...", (3, 2), (2, 3, 4)),
        ("jk...,lj...->lk...", (3, 2, 4), (2, 3)),
        ("...ij,...jk->...ik", (2, 3), (2, 3, 4)),
    ],
)
@pytest.mark.parametrize("declared", [False, True])
def test_einsum_gradient_with_an_inner_or_trailing_ellipsis(spec, sa, sb, declared):
    # the operand with fewer ellipsis axes was broadcast there: its gradient sums them,
    # wherever the ellipsis sits (sum_to only undid leading axes: wrong numbers or a crash)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    w = rng.standard_normal(np.einsum(spec, a, b).shape)
    with ga.Graph():
        x = ga.symbol("x", shape=sa if declared else None)
        y = ga.symbol("y", shape=sb if declared else None)
        f = ga.sum(ga.einsum(spec, x, y) * w)
        gx, gy = ga.grad(f, [x, y])
        got_x, got_y = gx.eval(x=a, y=b), gy.eval(x=a, y=b)
    np.testing.assert_allclose(
        got_x, _fd(lambda v: np.sum(np.einsum(spec, v, b) * w), a), rtol=1e-7
    )
    np.testing.assert_allclose(
        got_y, _fd(lambda v: np.sum(np.einsum(spec, a, v) * w), b), rtol=1e-7
    )


def test_einsum_sublist_form():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.einsum(x, [0, 1], y, [1, 2], [0, 2])
        np.testing.assert_array_equal(e.eval(x=a, y=b), np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
        t = ga.einsum(x, [1, 0])  # implicit output (sorted letters): the transpose
        np.testing.assert_array_equal(t.eval(x=a), np.einsum(a, [1, 0]))
        assert t.eval(x=a).shape == (3, 2)
        s = ga.einsum(x, [Ellipsis, 1], [Ellipsis])  # row sums, the ellipsis kept
        np.testing.assert_array_equal(s.eval(x=a), np.einsum(a, [Ellipsis, 1], [Ellipsis]))
        with pytest.raises(ga.GraphadError, match="sublist 1"):
            ga.einsum(x, [0, 1], y, ["j", 2])
        with pytest.raises(ga.GraphadError, match="sublist 0"):
            ga.einsum(x, 5)


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("width", [((1, 2), (2, 1)), 3, ((0, 0), (4, 0))])
def test_pad_modes_value_and_gradient(mode, width):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3))
    want = np.pad(a, width, mode=mode)
    w = rng.standard_normal(want.shape)
    with ga.Graph():
        x = ga.symbol("x")  # undeclared: the default path
        y = ga.pad(x, width, mode=mode)
        np.testing.assert_array_equal(y.eval(x=a), want)
        (g,) = ga.grad(ga.sum(y * w), [x])
        got = g.eval(x=a)
        # second order: the gradient is linear in w, so its own derivative is 0
        (gg,) = ga.grad(ga.sum(g * g), [x])
        assert np.all(gg.eval(x=a) == 0)
    np.testing.assert_allclose(got, _fd(lambda v: np.sum(np.pad(v, width, mode=mode) * w), a))
    with ga.Graph():
        xd = ga.symbol("x", shape=(2, 3))
        assert ga.pad(xd, width, mode=mode).shape == want.shape
        assert np.array_equal(ga.compile(ga.pad(xd, width, mode=mode))(a), want)


def test_pad_constant_values_differentiated():
    a = np.arange(6.0).reshape(2, 3)
    with ga.Graph():
        x, c = ga.symbols("x c")
        y = ga.pad(x, ((1, 0), (0, 2)), constant_values=c)
        np.testing.assert_array_equal(
            y.eval(x=a, c=-0.5), np.pad(a, ((1, 0), (0, 2)), constant_values=-0.5)
        )
        gx, gc = ga.grad(ga.sum(y), [x, c])
        # every entry of x appears once; c fills the 3 * 5 - 6 = 9 padded entries
        np.testing.assert_array_equal(gx.eval(x=a, c=-0.5), np.ones((2, 3)))
        assert float(gc.eval(x=a, c=-0.5)) == 9.0
        # -0.0 inside stays -0.0 (a select, not an addition)
        z = y.eval(x=np.array([[-0.0]]), c=1.0)
        assert np.signbit(z[1, 0])


def test_cross_axis_keywords_against_numpy():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    with ga.Graph():
        x, y = ga.symbols("x y")
        for kw in [{"axisa": 0}, {"axisb": 0, "axisc": 0}, {"axis": 0}, {"axisa": 1, "axisc": 1}]:
            got = ga.cross(x, y, **kw).eval(x=a, y=b)
            np.testing.assert_allclose(got, np.cross(a, b, **kw), rtol=1e-14)
        with pytest.raises(ga.GraphadError, match="axisa must be an int"):
            ga.cross(x, y, axisa=0.5)


def test_clip_numpy_keywords_and_open_bounds():
    a = np.array([-2.0, 0.3, 5.0])
    with ga.Graph():
        x = ga.symbol("x")
        np.testing.assert_array_equal(ga.clip(x, a_min=0.1, a_max=1.1).eval(x=a), [0.1, 0.3, 1.1])
        np.testing.assert_array_equal(ga.clip(x, None, 1.0).eval(x=a), np.clip(a, None, 1.0))
        np.testing.assert_array_equal(ga.clip(x, a_min=0.0).eval(x=a), np.clip(a, 0.0, None))
        with pytest.raises(ga.GraphadError, match="at least one of the bounds"):
            ga.clip(x)
        with pytest.raises(ga.GraphadError, match="lower bound once"):
            ga.clip(x, 0.0, 1.0, a_min=0.0)


def test_stacking_an_array_iterates_its_first_axis():
    a = np.arange(6.0).reshape(2, 3)
    with ga.Graph():
        x = ga.symbol("x", shape=(2, 3))
        for name in ["vstack", "hstack", "column_stack"]:
            np.testing.assert_array_equal(getattr(ga, name)(x).eval(x=a), getattr(np, name)(a))
        with pytest.raises(ga.GraphadError, match="declared shape"):
            ga.vstack(ga.symbol("u"))


def test_sort_accepts_numpy_kinds():
    a = np.array([3.0, 1.0, 2.0])
    with ga.Graph():
        x = ga.symbol("x")
        for kind in [None, "quicksort", "stable"]:
            np.testing.assert_array_equal(ga.sort(x, kind=kind).eval(x=a), np.sort(a))
        with pytest.raises(ga.GraphadError, match="sort kinds"):
            ga.sort(x, kind="bogo")


def _norm_fd(x, ord, axis, keepdims, h=1e-6):
    return _fd(lambda v: np.sum(np.linalg.norm(v, ord=ord, axis=axis, keepdims=keepdims)), x, h)


@pytest.mark.parametrize("ord", [1, -1, 2, -2, np.inf, -np.inf, "nuc", "fro"])
@pytest.mark.parametrize(
    "shape, axis, keepdims",
    [
        ((3, 4), None, False),
        ((3, 4), (1, 0), True),
        ((2, 3, 4), (1, 2), False),
        ((2, 3, 4), (2, 0), True),
    ],
)
def test_matrix_norms_value_and_gradient(ord, shape, axis, keepdims):
    rng = np.random.default_rng(8)
    a = rng.standard_normal(shape)
    with ga.Graph():
        # a declared shape for axis=None (NumPy picks the matrix norm from the rank)
        x = ga.symbol("x", shape=shape if axis is None else None)
        y = ga.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
        got = y.eval(x=a)
        (g,) = ga.grad(ga.sum(y), [x])
        grad = g.eval(x=a)
    want = np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # the same computation as NumPy's: the same bits
    np.testing.assert_allclose(grad, _norm_fd(a, ord, axis, keepdims), rtol=1e-6, atol=1e-8)


def test_nuclear_norm_second_derivative_against_finite_differences():
    rng = np.random.default_rng(9)
    a, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def hvp_fd(h=1e-4):
        def grad_at(m):
            return _norm_fd(m, "nuc", (0, 1), False)

        return (grad_at(a + h * v) - grad_at(a - h * v)) / (2 * h)

    with ga.Graph():
        g = ga.grad(lambda m: ga.linalg.norm(m, ord="nuc", axis=(0, 1)))
        hv = ga.grad(lambda m: ga.sum(g(m) * v))(a)
    np.testing.assert_allclose(hv, hvp_fd(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)])
def test_svd_values_and_adjoint(shape):
    rng = np.random.default_rng(10)
    a = rng.standard_normal(shape)
    k = min(shape[-2:])
    wu = rng.standard_normal((*shape[:-1], k))
    ws = rng.standard_normal((*shape[:-2], k))
    wv = rng.standard_normal((*shape[:-2], k, shape[-1]))

    def f_np(m):  # |U| and |Vh|: invariant to LAPACK's choice of signs
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        return np.sum(ws * s) + np.sum(np.abs(u) * wu) + np.sum(np.abs(vh) * wv)

    with ga.Graph():
        x = ga.symbol("x")
        u, s, vh = ga.linalg.svd(x)
        want = np.linalg.svd(a, full_matrices=False)
        np.testing.assert_array_equal(u.eval(x=a), want[0])
        np.testing.assert_array_equal(vh.eval(x=a), want[2])
        # s is NumPy's compute_uv=False values (what np.linalg.norm uses; LAPACK's values
        # without vectors can differ from those with them in the last bit)
        np.testing.assert_array_equal(s.eval(x=a), np.linalg.svd(a, compute_uv=False))
        np.testing.assert_allclose(s.eval(x=a), want[1], rtol=1e-14)
        f = ga.sum(ws * s) + ga.sum(ga.abs(u) * wu) + ga.sum(ga.abs(vh) * wv)
        (g,) = ga.grad(f, [x])
        np.testing.assert_allclose(g.eval(x=a), _fd(f_np, a, 1e-6), rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(
            ga.linalg.svd(x, compute_uv=False).eval(x=a), np.linalg.svd(a, compute_uv=False)
        )
        with pytest.raises(ga.GraphadError, match="full_matrices=True is not supported"):
            ga.linalg.svd(x, full_matrices=True)


def test_norm_refusals_name_the_argument():
    with ga.Graph():
        x = ga.symbol("x")
        with pytest.raises(ga.GraphadError, match="ord=3 is not supported"):
            ga.linalg.norm(x, ord=3, axis=(0, 1))
        with pytest.raises(ga.GraphadError, match="names one axis twice"):
            ga.linalg.norm(x, ord=1, axis=(1, 1))
        with pytest.raises(ga.ShapeError, match="out of range"):
            ga.linalg.norm(ga.symbol("m", shape=(2, 2)), ord="nuc", axis=(0, 2))


_COMPOSED = [
    # (name, graphad builder, NumPy reference, shape)
    ("flipud", lambda m, x: m.flipud(x), (3, 2)),
    ("fliplr", lambda m, x: m.fliplr(x), (3, 2)),
    ("dsplit", lambda m, x: m.dsplit(x, [1])[1], (2, 2, 3)),
    ("rollaxis", lambda m, x: m.rollaxis(x, 2, 1), (2, 3, 4)),
    ("rollaxis_neg", lambda m, x: m.rollaxis(x, -1), (2, 3, 4)),
    ("take", lambda m, x: m.take(x, [2, 0, 2], axis=1), (2, 3)),
    ("take_flat", lambda m, x: m.take(x, [5, 1]), (2, 3)),
    ("array", lambda m, x: m.array([[x[0], 2.0 * x[1]], [x[1] + 1.0, 0.5]]), (2,)),
    ("select", lambda m, x: m.select([x < 0, x > 1], [-x, 2 * x], 0.5), (7,)),
    ("append", lambda m, x: m.append(x, x[:1]), (2, 2)),
    ("append_axis", lambda m, x: m.append(x, x[:1], axis=0), (2, 2)),
    ("gradient", lambda m, x: m.gradient(x, axis=1), (3, 4)),
    ("gradient_all", lambda m, x: m.gradient(x)[0] * m.gradient(x)[1], (3, 4)),
    ("true_divide", lambda m, x: m.true_divide(x, 3.0), (3,)),
    ("fabs", lambda m, x: m.fabs(x), (3,)),
    ("angle", lambda m, x: m.angle(x) + m.imag(x) + m.real(x) * m.conj(x), (4,)),
]


@pytest.mark.parametrize("name, build, shape", _COMPOSED, ids=[c[0] for c in _COMPOSED])
def test_numpy_names_value_and_gradient(name, build, shape):
    rng = np.random.default_rng(11)
    a = rng.uniform(-2.0, 2.0, shape)
    want = build(np, a)
    w = rng.standard_normal(np.shape(want))
    with ga.Graph():
        x = ga.symbol("x", shape=shape)  # gradient(x) with axis=None needs the rank
        y = build(ga, x)
        got = y.eval(x=a)
        (g,) = ga.grad(ga.sum(y * w), [x])
        grad = g.eval(x=a)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(grad, _fd(lambda v: np.sum(build(np, v) * w), a), atol=1e-8)


def test_numpy_names_refuse_clearly():
    with ga.Graph():
        x = ga.symbol("x")
        with pytest.raises(ga.GraphadError, match="gradient: axis=None needs a declared shape"):
            ga.gradient(x)
        with pytest.raises(ga.ShapeError, match="at least 2 samples"):
            ga.gradient(ga.symbol("s", shape=(1, 3)), axis=0)
        with pytest.raises(ga.GraphadError, match="negative axes need a declared shape"):
            ga.rollaxis(x, -1)
        with pytest.raises(ga.GraphadError, match="one choice per condition"):
            ga.select([x > 0], [x, x])
        with pytest.raises(ga.GraphadError, match="indices must be integers"):
            ga.take(x, [0.5])
        with pytest.raises(ga.ShapeError, match="at least 2 dimensions"):
            ga.fliplr(ga.symbol("v", shape=(3,)))


@pytest.mark.parametrize("lo, hi", [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)])
@pytest.mark.parametrize("num", [0, 1, 2, 5])
def test_linspace_bits_and_gradient(lo, hi, num):
    with ga.Graph():
        a, b = ga.symbols("a b")
        y = ga.linspace(a, b, num)
        got = y.eval(a=lo, b=hi)
        want = np.linspace(lo, hi, num)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        if num:
            w = np.arange(1.0, num + 1.0)
            ga_, gb = ga.grad(ga.sum(y * w), [a, b])
            da = (
                np.sum(np.linspace(lo + 1e-6, hi, num) * w)
                - np.sum(np.linspace(lo - 1e-6, hi, num) * w)
            ) / 2e-6
            db = (
                np.sum(np.linspace(lo, hi + 1e-6, num) * w)
                - np.sum(np.linspace(lo, hi - 1e-6, num) * w)
            ) / 2e-6
            assert abs(float(ga_.eval(a=lo, b=hi)) - da) < 1e-6
            assert abs(float(gb.eval(a=lo, b=hi)) - db) < 1e-6
        with pytest.raises(ga.GraphadError, match="num must be >= 0"):
            ga.linspace(a, b, -1)
        with pytest.raises(ga.GraphadError, match="start must be a scalar"):
            ga.linspace(ga.symbol("v", shape=(2,)), b, 3)
