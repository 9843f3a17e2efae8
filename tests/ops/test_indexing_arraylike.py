"""Advanced indexing, x.at[...], ordering ops and array-likes (issue 14, section 2).

References are NumPy itself (np.add.at for scatter-add with duplicates, fancy
indexing, np.sort, np.take_along_axis) and central finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.core.errors import GraphadError, ShapeError


def _fd_grad(f, x, h=1e-6):
    """Central finite-difference gradient of the scalar function f at x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = h
        g[i] = (f(x + d) - f(x - d)) / (2 * h)
    return g


@pytest.mark.parametrize("declared", [True, False])
def test_gather_with_duplicates_scatter_adds_like_np_add_at(declared):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 3))
    rows = np.array([0, 3, 3, 1, 3])
    w = rng.standard_normal((5, 3))
    with ga.Graph():
        x = ga.symbol("x", shape=(4, 3) if declared else None)
        picked = x[rows]
        if declared:
            assert picked.shape == (5, 3)
        np.testing.assert_array_equal(picked.eval(x=xv), xv[rows])
        grad = ga.grad(ga.sum(picked * w), x)
        want = np.zeros((4, 3))
        np.add.at(want, rows, w)  # duplicates accumulate
        for got in (grad.eval(x=xv), ga.compile(grad, inputs=[x])(xv)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
        assert want[3, 0] == pytest.approx(w[1, 0] + w[2, 0] + w[4, 0])


def test_mixed_arrays_slices_none_and_ellipsis_match_numpy():
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((3, 4, 5))
    indices = [
        (Ellipsis, None, 2),
        (None, 1, Ellipsis),
        (slice(None), [0, 2, 2], slice(1, None)),
        ([2, 0], slice(None), [4, 4]),
        (np.array([[0], [2]]), np.array([1, 3])),
        (1, Ellipsis, [0, -1]),
        (xv[:, :, 0] > 0,),
        (slice(None), xv[0, :, 0] > 0),
        (np.array([True, False, True]), Ellipsis, None),
        ((),)[0],  # x[()]: the whole array
    ]
    for index in indices:
        want = xv[index]
        with ga.Graph():
            x = ga.symbol("x", shape=xv.shape)
            e = x[index]
            assert e.shape == want.shape, index
            np.testing.assert_array_equal(e.eval(x=xv), want)
            np.testing.assert_array_equal(ga.compile(e, inputs=[x])(xv), want)
            u = rng.standard_normal(want.shape)
            got = ga.grad(ga.sum(e * u), x).eval(x=xv)
            ref = np.zeros_like(xv)
            np.add.at(ref, index, u)
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


def test_mask_second_derivative_and_jvp():
    xv = np.array([0.5, -1.0, 2.0, 0.3])
    mask = xv > 0.4
    with ga.Graph():
        x = ga.symbol("x")
        f = ga.sum(x[mask] ** 3)
        g = ga.grad(f, x)
        np.testing.assert_allclose(g.eval(x=xv), np.where(mask, 3 * xv**2, 0.0))
        hv = ga.jvp(g, {x: np.ones(4)}).eval(x=xv)  # Hessian-vector product
        np.testing.assert_allclose(hv, np.where(mask, 6 * xv, 0.0))


def test_at_add_accumulates_and_is_differentiable_in_both_arguments():
    rng = np.random.default_rng(2)
    xv = rng.standard_normal(5)
    vv = rng.standard_normal(4)
    idx = [0, 2, 2, 4]
    wv = rng.standard_normal(5)

    def f_np(x, v):
        out = x.copy()
        np.add.at(out, idx, v)
        return float(np.sum(np.sin(out) * wv))

    with ga.Graph():
        x, v = ga.symbols("x v")
        u = x.at[idx].add(v)
        want = xv.copy()
        np.add.at(want, idx, vv)
        np.testing.assert_allclose(u.eval(x=xv, v=vv), want, rtol=0, atol=0)
        f = ga.sum(ga.sin(u) * wv)
        gx, gv = ga.grad(f, [x, v])
        np.testing.assert_allclose(
            gx.eval(x=xv, v=vv), _fd_grad(lambda a: f_np(a, vv), xv), rtol=1e-6
        )
        np.testing.assert_allclose(
            gv.eval(x=xv, v=vv), _fd_grad(lambda b: f_np(xv, b), vv), rtol=1e-6
        )
    np.testing.assert_array_equal(xv, xv.copy())  # x unchanged (functional)


@pytest.mark.parametrize("declared", [True, False])
def test_at_set_keeps_the_last_write_and_its_gradient(declared):
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((3, 4))
    vv = rng.standard_normal((2, 4))
    rows = [2, 2]  # duplicate: NumPy keeps the last write
    wv = rng.standard_normal((3, 4))

    def f_np(x, v):
        out = x.copy()
        out[rows] = v
        return float(np.sum(out**2 * wv))

    with ga.Graph():
        x = ga.symbol("x", shape=(3, 4) if declared else None)
        v = ga.symbol("v", shape=(2, 4) if declared else None)
        u = x.at[rows].set(v)
        want = xv.copy()
        want[rows] = vv
        np.testing.assert_array_equal(u.eval(x=xv, v=vv), want)
        f = ga.sum(u**2 * wv)
        gx, gv = ga.grad(f, [x, v])
        fx = _fd_grad(lambda a: f_np(a, vv), xv)
        fv = _fd_grad(lambda b: f_np(xv, b), vv)
        np.testing.assert_allclose(gx.eval(x=xv, v=vv), fx, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(gv.eval(x=xv, v=vv), fv, rtol=1e-6, atol=1e-9)
        assert np.all(gv.eval(x=xv, v=vv)[0] == 0)  # the overwritten write gets nothing
        cx, cv = ga.compile([gx, gv], inputs=[x, v])(xv, vv)
        np.testing.assert_allclose(cx, fx, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(cv, fv, rtol=1e-6, atol=1e-9)


def test_at_set_broadcasts_a_scalar_and_keeps_float32():
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    with ga.Graph():
        x = ga.symbol("x")
        u = x.at[:, 1].set(7.5)
        got = u.eval(x=xv)
        assert got.dtype == np.float32
        want = xv.copy()
        want[:, 1] = 7.5
        np.testing.assert_array_equal(got, want)
        g = ga.grad(ga.sum(u), x).eval(x=xv)
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, [[1, 0, 1], [1, 0, 1]])
        np.testing.assert_array_equal(x.at[1].get().eval(x=xv), xv[1])


def test_index_errors_are_clear():
    with ga.Graph():
        x = ga.symbol("x", shape=(3, 4))
        with pytest.raises(ShapeError, match="out of bounds"):
            x[[0, 5]]
        with pytest.raises(ShapeError):
            x[np.ones(4, bool)]  # a mask of the wrong length
        with pytest.raises(ShapeError, match="broadcast"):
            x.at[0].set(np.ones(3))
        with pytest.raises(GraphadError, match="mode"):
            ga.index_update(x, 1.0, 0, mode="mul")
        with pytest.raises(GraphadError, match="single ellipsis"):
            x[..., 0, ...]
        n = len(x.graph)
        with pytest.raises(GraphadError, match="integers or booleans"):
            x[[0.5]]
        assert len(x.graph) == n  # a refused index builds nothing


def test_len_of_static_and_unknown_shapes():
    with ga.Graph():
        assert len(ga.symbol("a", shape=(7, 2))) == 7
        with pytest.raises(TypeError, match="static shape"):
            len(ga.symbol("b"))
        with pytest.raises(GraphadError, match="0-d"):
            len(ga.symbol("c", shape=()))


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_sort_value_and_gradient_vs_numpy_and_fd(axis):
    rng = np.random.default_rng(4)
    xv = rng.standard_normal((3, 5))
    wv = rng.standard_normal(np.sort(xv, axis=axis).shape)
    with ga.Graph():
        x = ga.symbol("x")
        s = ga.sort(x, axis=axis)
        np.testing.assert_array_equal(s.eval(x=xv), np.sort(xv, axis=axis))
        f = ga.sum(s**2 * wv)
        g = ga.grad(f, x)
        fd = _fd_grad(lambda a: float(np.sum(np.sort(a, axis=axis) ** 2 * wv)), xv)
        np.testing.assert_allclose(g.eval(x=xv), fd, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ga.compile(g, inputs=[x])(xv), fd, rtol=1e-6, atol=1e-9)


def test_argmax_argmin_are_integer_nodes_without_gradient():
    xv = np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.0]])
    with ga.Graph():
        x = ga.symbol("x", shape=(2, 3))
        for fn, ref in ((ga.argmax, np.argmax), (ga.argmin, np.argmin)):
            for axis, keep in ((None, False), (1, False), (0, True)):
                e = fn(x, axis=axis, keepdims=keep)
                want = ref(xv, axis=axis, keepdims=keep)
                got = e.eval(x=xv)
                np.testing.assert_array_equal(got, want)
                assert e.dtype.kind == "i" and e.shape == np.shape(want)
        g = ga.grad(ga.sum(ga.argmax(x, axis=1) * 1.0) + ga.sum(x), x).eval(x=xv)
        np.testing.assert_array_equal(g, np.ones((2, 3)))


def test_take_along_axis_with_an_expr_index_and_with_duplicates():
    rng = np.random.default_rng(5)
    xv = rng.standard_normal((3, 4))
    with ga.Graph():
        x = ga.symbol("x")
        i = ga.argmax(x, axis=1, keepdims=True)
        top = ga.take_along_axis(x, i, axis=1)
        np.testing.assert_array_equal(top.eval(x=xv), np.max(xv, axis=1, keepdims=True))
        g = ga.grad(ga.sum(top * 2.0), x).eval(x=xv)
        want = np.zeros_like(xv)
        np.put_along_axis(want, np.argmax(xv, axis=1)[:, None], 2.0, axis=1)
        np.testing.assert_array_equal(g, want)
        idx = np.array([[0, 0, 3], [1, 1, 1], [2, 3, 2]])
        t = ga.take_along_axis(x, idx, axis=1)
        np.testing.assert_array_equal(t.eval(x=xv), np.take_along_axis(xv, idx, axis=1))
        w = rng.standard_normal((3, 3))
        ref = np.zeros_like(xv)
        np.add.at(ref, (np.arange(3)[:, None], idx), w)
        for e in (t, ga.take_along_axis(x, ga.constant(idx), axis=1)):
            gt = ga.grad(ga.sum(e * w), x)
            np.testing.assert_allclose(gt.eval(x=xv), ref, rtol=0, atol=1e-15)
            np.testing.assert_allclose(ga.compile(gt, inputs=[x])(xv), ref, rtol=0, atol=1e-15)
        with pytest.raises(GraphadError, match="integers"):
            ga.take_along_axis(x, np.array([[0.5]]), axis=1)
        with pytest.raises(GraphadError, match="integers"):
            ga.take_along_axis(x, ga.symbol("f", dtype="float64"), axis=1)


def test_lists_of_exprs_are_array_likes():
    with ga.Graph():
        a, b = ga.symbols("a b")
        feed = {"a": 1.5, "b": -2.0}
        assert float(ga.mean([a, b]).eval(feed)) == np.mean([1.5, -2.0])
        np.testing.assert_array_equal(ga.constant([a, 1.0]).eval(feed), [1.5, 1.0])
        m = ga.stack([[a, b], [b, 2.0]])
        np.testing.assert_array_equal(m.eval(feed), [[1.5, -2.0], [-2.0, 2.0]])
        g = ga.grad(ga.sum(ga.constant([a, a * b]) ** 2), [a, b])
        assert [float(v.eval(feed)) for v in g] == pytest.approx(
            [2 * 1.5 + 2 * 1.5 * 4.0, 2 * 1.5**2 * -2.0]
        )
        np.testing.assert_array_equal(
            ga.concatenate([[a, b], np.array([3.0])]).eval(feed), [1.5, -2.0, 3.0]
        )


def test_numpy_functions_on_exprs_give_exprs_with_numpy_values():
    rng = np.random.default_rng(6)
    xv = rng.uniform(0.5, 2.0, (2, 3))
    with ga.Graph():
        x = ga.symbol("x")
        cases = [
            (np.sum(x), np.sum(xv)),
            (np.sum(x, axis=0), np.sum(xv, axis=0)),
            (np.sin(x), np.sin(xv)),
            (np.exp(x), np.exp(xv)),
            (np.log(x) + np.sqrt(x), np.log(xv) + np.sqrt(xv)),
            (np.ones(3) * np.mean(x, axis=1, keepdims=True), np.ones(3) * xv.mean(1)[:, None]),
            (np.stack([x, x * 2]), np.stack([xv, xv * 2])),
            (np.matmul(x, np.ones((3, 1))), xv @ np.ones((3, 1))),
            (np.maximum(x, 1.0), np.maximum(xv, 1.0)),
            (np.float64(2.0) - x, 2.0 - xv),
            (np.sort(x, axis=1), np.sort(xv, axis=1)),
        ]
        for e, want in cases:
            assert isinstance(e, ga.Expr)
            np.testing.assert_allclose(np.asarray(e.eval(x=xv)), want, rtol=1e-15)
        g = ga.grad(np.sum(np.sin(x)), x)
        np.testing.assert_allclose(g.eval(x=xv), np.cos(xv), rtol=1e-15)


def test_unsupported_numpy_functions_are_refused_by_name():
    with ga.Graph():
        x = ga.symbol("x")
        with pytest.raises(GraphadError, match=r"np\.median"):
            np.median(x)
        with pytest.raises(GraphadError, match=r"np\.add\.reduce"):
            np.add.reduce(x)
        with pytest.raises(GraphadError, match="out"):
            np.sin(x, out=np.zeros(2))
        with pytest.raises(GraphadError, match=r"np\.sum.*dtype"):
            np.sum(x, dtype=np.float32)
        with pytest.raises(GraphadError, match=r"fft"):
            np.fft.fft(x)
        with pytest.raises(GraphadError, match=r"np\.frexp"):
            np.frexp(x)
        # conjugate is in the op table now (the identity on real arrays): it dispatches
        assert isinstance(np.conjugate(x), ga.Expr)
