"""Contractions and ``ga.linalg`` beyond the op-table sweep: einsum's subscript forms
(against ``np.einsum``), errors that name the op and the shapes and change nothing,
second derivatives of det / inv / einsum against finite differences, and the
conventions (lower-triangle gradients, degenerate eigenvalues, the norm's kink)."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga


def _fd_vjp(f, values, u, v, h=1e-6):
    """<u, J v> of the NumPy function f at values, by central differences."""
    plus = f(*[a + h * d for a, d in zip(values, v, strict=True)])
    minus = f(*[a - h * d for a, d in zip(values, v, strict=True)])
    return float(np.sum(u * (plus - minus) / (2 * h)))


EINSUM_FORMS = [
    ("ij,jk", [(3, 4), (4, 2)]),  # implicit: ik
    ("ij,jk->ki", [(3, 4), (4, 2)]),
    ("ji", [(3, 4)]),  # implicit output is sorted: ij, a transpose
    ("ii", [(3, 3)]),  # the trace
    ("ii->i", [(3, 3)]),  # the diagonal
    ("iij->ij", [(2, 2, 3)]),
    ("i,i", [(4,), (4,)]),
    ("i,j", [(2,), (3,)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),  # implicit keeps the ellipsis
    ("...i,i->...", [(2, 3, 4), (4,)]),
    ("bi, bi -> b", [(3, 4), (3, 4)]),  # spaces
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ijk->", [(2, 3, 4)]),
    ("ii,ij->j", [(3, 3), (3, 2)]),
]


@pytest.mark.parametrize(("subscripts", "shapes"), EINSUM_FORMS, ids=[f[0] for f in EINSUM_FORMS])
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_einsum_forms_match_numpy_with_gradients(subscripts, shapes, declared):
    rng = np.random.default_rng(len(subscripts) * 7 + len(shapes))
    values = [rng.standard_normal(s) for s in shapes]
    want = np.einsum(subscripts, *values)
    with ga.Graph():
        syms = [ga.symbol(f"a{i}", shape=s if declared else None) for i, s in enumerate(shapes)]
        out = ga.einsum(subscripts, *syms)
        feed = {s.name: v for s, v in zip(syms, values, strict=True)}
        got = np.asarray(out.eval(feed))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert got.shape == want.shape
        if declared:
            assert out.shape == want.shape
        u = rng.standard_normal(want.shape)
        v = [rng.standard_normal(s) for s in shapes]
        cots = [np.asarray(c.eval(feed)) for c in ga.vjp(out, syms, [u])]
        lhs = sum(float(np.sum(c * d)) for c, d in zip(cots, v, strict=True))
        fd = _fd_vjp(lambda *a: np.einsum(subscripts, *a), values, u, v)
        assert lhs == pytest.approx(fd, rel=1e-6, abs=1e-8)
        f = ga.compile([out, *ga.grad(ga.sum(out * out), syms)], inputs=syms)
        compiled = f(*values)
        np.testing.assert_allclose(compiled[0], want, rtol=1e-12, atol=1e-12)
        for c, s in zip(compiled[1:], shapes, strict=True):
            assert np.shape(c) == s


def test_einsum_list_form_and_normalized_param():
    with ga.Graph():
        a, b = ga.symbols("a b")
        e = ga.einsum([a, b], subscripts="ij,jk")
        assert e.op == "einsum"
        assert ga.einsum("ij,jk->ik", a, b) is not None
        x, y = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
        np.testing.assert_array_equal(e.eval(a=x, b=y), x @ y)
        # implicit and explicit spellings build the same node (hash-consed)
        assert ga.einsum("ij,jk", a, b).id == ga.einsum("ij,jk->ik", a, b).id


def test_einsum_float32_stays_float32():
    x = np.ones((3, 3), np.float32)
    with ga.Graph():
        a = ga.symbols("a")
        e = ga.einsum("ii->i", a)
        assert e.eval(a=x).dtype == np.float32
        assert ga.grad(ga.sum(e), a).eval(a=x).dtype == np.float32
        np.testing.assert_array_equal(ga.grad(ga.sum(e), a).eval(a=x), np.eye(3))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ij,jk->ik", 1), "2 operand(s), got 1 operand(s)"),
        (("ij;jk", 2), "invalid character ';'"),
        (("ij,jk->iz", 2), "output letter 'z' does not appear"),
        (("ij,jk->ii", 2), "output letter 'i' repeated"),
        (("ij->i->j", 1), "more than one '->'"),
        (("i...j...", 1), "more than one ellipsis"),
    ],
)
def test_einsum_subscript_errors_name_the_op_and_change_nothing(args, message):
    subscripts, count = args
    with ga.Graph() as g:
        syms = ga.symbols("a b")[:count]
        before = len(g.records())
        with pytest.raises(ga.GraphadError, match="einsum") as info:
            ga.einsum(subscripts, *syms)
        assert message in str(info.value)
        assert len(g.records()) == before


def test_shape_errors_name_the_op_and_the_shapes():
    with ga.Graph() as g:
        a = ga.symbol("a", shape=(3, 4))
        b = ga.symbol("b", shape=(5, 2))
        c = ga.symbol("c", shape=(3, 5))
        before = len(g.records())
        cases = [
            (lambda: ga.einsum("ij,jk->ik", a, b), "einsum", "(3, 4)"),
            (lambda: ga.tensordot(a, b, axes=1), "tensordot", "(5, 2)"),
            (lambda: ga.inner(a, b), "inner", "(3, 4)"),
            (lambda: ga.cross(a, c), "cross", "(3, 4)"),
            (lambda: ga.linalg.inv(a), "inv", "(3, 4)"),
            (lambda: ga.linalg.det(c), "det", "(3, 5)"),
            (lambda: ga.linalg.cholesky(b), "cholesky", "(5, 2)"),
            (lambda: ga.linalg.solve(a, b), "solve", "(3, 4)"),
            (lambda: ga.linalg.norm(a, ord=1, axis=(0, 2)), "norm", "(3, 4)"),
        ]
        for build, op, shape in cases:
            with pytest.raises(ga.ShapeError) as info:
                build()
            assert op in str(info.value) and shape in str(info.value), str(info.value)
        assert len(g.records()) == before
        with pytest.raises(ga.GraphadError, match="norm: ord=3"):
            ga.linalg.norm(a, ord=3)
        with pytest.raises(ga.GraphadError, match="tensordot: axes"):
            ga.tensordot(a, b, axes="x")


def test_undeclared_shape_errors_surface_when_evaluated():
    with ga.Graph():
        a, b = ga.symbols("a b")
        with pytest.raises(ga.ShapeError, match="einsum"):
            ga.einsum("ij,jk", a, b).eval(a=np.ones((2, 3)), b=np.ones((4, 2)))
        with pytest.raises(ga.ShapeError, match="norm"):
            ga.linalg.norm(a, ord=1).eval(a=np.ones((2, 3)))


def _hvp_check(build, values, seed):
    """Reverse-over-reverse Hessian-vector product of sum(sin(out)) vs differences of the
    gradient."""
    rng = np.random.default_rng(seed)
    with ga.Graph():
        syms = [ga.symbol(f"a{i}") for i in range(len(values))]
        f = ga.sum(ga.sin(build(*syms)))
        grads = ga.grad(f, syms)
        v = [rng.standard_normal(np.shape(x)) for x in values]
        gv = sum(ga.sum(g * d) for g, d in zip(grads, v, strict=True))
        hv = [
            np.asarray(x.eval(**{f"a{i}": a for i, a in enumerate(values)}))
            for x in ga.grad(gv, syms)
        ]
        h = 1e-5

        def grad_at(vals):
            feed = {f"a{i}": a for i, a in enumerate(vals)}
            return [np.asarray(g.eval(feed)) for g in grads]

        plus = grad_at([a + h * d for a, d in zip(values, v, strict=True)])
        minus = grad_at([a - h * d for a, d in zip(values, v, strict=True)])
    for got, p, m in zip(hv, plus, minus, strict=True):
        np.testing.assert_allclose(got, (p - m) / (2 * h), rtol=1e-5, atol=1e-7)


def _matrix(seed, n=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, n)) + n * np.eye(n)


def test_second_derivatives_of_det_and_inv():
    _hvp_check(lambda a: ga.linalg.det(a) * 0.1, [_matrix(1)], 11)
    _hvp_check(ga.linalg.inv, [_matrix(2)], 12)
    _hvp_check(lambda a: ga.linalg.slogdet(a)[1], [_matrix(3)], 13)
    _hvp_check(ga.linalg.solve, [_matrix(4), np.arange(3.0)], 14)


def test_second_derivatives_of_einsum_forms():
    rng = np.random.default_rng(5)
    pair = [rng.standard_normal((2, 3)), rng.standard_normal((3, 2))]
    _hvp_check(lambda a, b: ga.einsum("ij,jk->ik", a, b), pair, 15)
    _hvp_check(lambda a: ga.einsum("ii,ij->j", a, a), [rng.standard_normal((3, 3))], 16)
    _hvp_check(lambda a, b: ga.kron(a, b), [rng.standard_normal((2, 2)),
                                           rng.standard_normal((2, 1))], 17)  # fmt: skip


def test_det_gradient_is_the_cofactor_matrix():
    a = np.array([[2.0, 1.0], [5.0, 4.0]])  # det 3, cofactors [[4, -5], [-1, 2]]
    with ga.Graph():
        x = ga.symbols("x")
        assert float(ga.linalg.det(x).eval(x=a)) == pytest.approx(3.0)
        np.testing.assert_allclose(ga.grad(ga.linalg.det(x), x).eval(x=a), [[4, -5], [-1, 2]])
        sign, logabs = ga.linalg.slogdet(x)
        neg = a[::-1]  # rows swapped: det -3
        assert float(sign.eval(x=neg)) == -1.0
        assert float(logabs.eval(x=neg)) == pytest.approx(np.log(3.0))
        np.testing.assert_allclose(ga.grad(logabs, x).eval(x=neg), np.linalg.inv(neg).T, rtol=1e-12)
        np.testing.assert_array_equal(ga.grad(sign, x).eval(x=neg), np.zeros((2, 2)))


def test_symmetric_inputs_get_lower_triangular_gradients():
    rng = np.random.default_rng(7)
    m = rng.uniform(-1, 1, (3, 3))
    spd = m @ m.T + 3 * np.eye(3)
    d = rng.standard_normal((3, 3))
    d = d + d.T  # a symmetric direction
    with ga.Graph():
        x = ga.symbols("x")
        for f, ref in [(ga.linalg.cholesky, np.linalg.cholesky),
                       (lambda a: ga.linalg.eigh(a)[0], np.linalg.eigvalsh)]:  # fmt: skip
            out = f(x)
            u = rng.standard_normal(np.shape(ref(spd)))
            (gr,) = ga.vjp(out, [x], [u])
            g = np.asarray(gr.eval(x=spd))
            assert np.all(np.triu(g, 1) == 0)
            fd = _fd_vjp(ref, [spd], u, [d])
            assert float(np.sum(g * d)) == pytest.approx(fd, rel=1e-6)


def test_eigh_values_vectors_and_degenerate_eigenvalues():
    a = np.array([[2.0, 1.0], [1.0, 2.0]])  # eigenvalues 1 and 3
    with ga.Graph():
        x = ga.symbols("x")
        w, v = ga.linalg.eigh(x)
        np.testing.assert_allclose(w.eval(x=a), [1.0, 3.0])
        vv = v.eval(x=a)
        np.testing.assert_allclose(a @ vv, vv * np.array([1.0, 3.0]), atol=1e-12)
        # the sum of the eigenvalues is the trace: gradient I on any input
        np.testing.assert_allclose(ga.grad(ga.sum(w), x).eval(x=np.eye(2)), np.eye(2))
        # at a repeated eigenvalue the eigenvectors' gradient is not finite (documented)
        gv = ga.grad(ga.sum(v * v * np.array([[1.0, 2.0], [3.0, 4.0]])), x).eval(x=np.eye(2))
        assert not np.all(np.isfinite(gv))


def test_norm_values_kink_and_ties():
    with ga.Graph():
        x = ga.symbols("x")
        v = np.array([3.0, -4.0])
        assert float(ga.linalg.norm(x).eval(x=v)) == 5.0
        np.testing.assert_allclose(ga.grad(ga.linalg.norm(x), x).eval(x=v), [0.6, -0.8])
        np.testing.assert_array_equal(ga.grad(ga.linalg.norm(x), x).eval(x=np.zeros(2)), [0, 0])
        assert float(ga.linalg.norm(x, ord=1).eval(x=v)) == 7.0
        np.testing.assert_array_equal(ga.grad(ga.linalg.norm(x, ord=1), x).eval(x=v), [1, -1])
        tie = np.array([2.0, -2.0, 1.0])
        e = ga.linalg.norm(x, ord=np.inf)
        assert float(e.eval(x=tie)) == 2.0
        np.testing.assert_array_equal(ga.grad(e, x).eval(x=tie), [0.5, -0.5, 0.0])
        m = np.arange(6.0).reshape(2, 3)
        assert float(ga.linalg.norm(x, ord="fro").eval(x=m)) == pytest.approx(np.sqrt(55.0))


def test_pinv_of_a_tall_matrix_is_a_left_inverse():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((5, 3))
    with ga.Graph():
        x = ga.symbols("x")
        p = ga.linalg.pinv(x)
        np.testing.assert_allclose(p.eval(x=a) @ a, np.eye(3), atol=1e-12)
    _hvp_check(ga.linalg.pinv, [a], 19)


def test_linalg_namespace():
    assert set(ga.linalg.__all__) >= {"inv", "det", "slogdet", "solve", "cholesky", "eigh",
                                      "norm", "pinv"}  # fmt: skip
    for name in ga.linalg.__all__:
        assert callable(getattr(ga.linalg, name)) and getattr(ga.linalg, name).__doc__


def test_einsum_refuses_size_one_letter_broadcasting_everywhere():
    """NumPy broadcasts a letter of size 1 against a larger one; graphad refuses it (its
    shape rule and gradients do not), declared, interpreted and compiled alike."""
    x, y = np.ones((2, 1)), np.ones((3, 2))
    with ga.Graph():
        a, b = ga.symbols("a b")
        e = ga.einsum("ij,jk->ik", a, b)
        with pytest.raises(ga.ShapeError, match=r"einsum.*letter 'j'"):
            e.eval(a=x, b=y)
        with pytest.raises(ValueError, match="letter 'j'"):
            ga.compile(e, inputs=[a, b])(x, y)
        with pytest.raises(ga.ShapeError, match=r"einsum: letter 'j' has sizes 1 and 3"):
            ga.einsum("ij,jk->ik", ga.symbol("c", shape=(2, 1)), ga.symbol("d", shape=(3, 2)))


def test_einsum_diagonal_gradient_keeps_float32_with_declared_shapes():
    """A declared shape without a dtype: the diagonal's gradient waits for the dtype before
    it becomes plain einsums with identity constants (no float64 constant leaks in)."""
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    with ga.Graph():
        a = ga.symbol("a", shape=(3, 3))
        g = ga.grad(ga.sum(ga.einsum("ii->i", a) ** 2), a)
        got = g.eval(a=x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.diag(2 * np.diag(x)))
        got = ga.compile(g, inputs=[a])(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.diag(2 * np.diag(x)))
