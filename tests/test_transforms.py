"""Function transformations as JAX users know them (issue 14, sections 1 and 3).

Every expected value is written by hand, with NumPy, or by finite differences; jax
itself is not used.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import graphad as ga


def _fd_grad(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# -- section 1: wrong results ----------------------------------------------------------------------


def test_nested_grad_is_the_second_derivative():
    d2sin = ga.grad(ga.grad(lambda x: ga.sin(x)))
    assert float(d2sin(0.0)) == 0.0  # -sin(0); it returned cos(0) = 1 before
    assert float(d2sin(1.0)) == pytest.approx(-np.sin(1.0), rel=1e-14)
    d3 = ga.grad(ga.grad(ga.grad(lambda x: x**4)))
    assert float(d3(2.0)) == pytest.approx(24 * 2.0)  # d3/dx3 x^4 = 24 x
    assert float(ga.grad(ga.grad(ga.grad(ga.grad(ga.cos))))(0.3)) == pytest.approx(np.cos(0.3))


def test_grad_and_jit_compose_both_ways():
    f = lambda x: x**3 + ga.sin(x)  # noqa: E731
    want = 3 * 2.0**2 + np.cos(2.0)
    assert float(ga.grad(ga.jit(f))(2.0)) == pytest.approx(want, rel=1e-14)
    assert float(ga.jit(ga.grad(f))(2.0)) == pytest.approx(want, rel=1e-14)
    assert float(ga.jit(ga.grad(ga.jit(ga.grad(f))))(2.0)) == pytest.approx(6 * 2.0 - np.sin(2.0))

    # the wrapper keeps the function's name and doc, never the inner transform's state
    def named(x):
        """doc"""
        return x

    t = ga.grad(ga.jit(named))
    assert (t.__name__, t.__doc__, t.mode) == ("named", "doc", "grad")


def test_argnums_order_is_the_order_given():
    f = lambda x, y: x * 2.0 * y**2  # noqa: E731
    gy, gx = ga.grad(f, argnums=(1, 0))(1.5, 5.0)
    assert (float(gy), float(gx)) == (2.0 * 1.5 * 2 * 5.0, 2.0 * 25.0)
    value, (gy, gx) = ga.value_and_grad(f, argnums=(1, 0))(1.5, 5.0)
    assert (float(value), float(gy), float(gx)) == (75.0, 30.0, 50.0)


def test_mixed_derivative_of_power_at_zero_exponent():
    with ga.Graph():
        x, y = ga.symbols("x y")
        h = ga.hessian(x**y, [x, y])
        got = [[float(e.eval(x=4.0, y=0.0)) for e in row] for row in h]
    # d2/dx2 = y(y-1)x^(y-2) = 0; d2/dxdy = x^(y-1)(1 + y log x) = 1/4; d2/dy2 = x^y log(x)^2
    assert got[0][0] == 0.0
    assert got[0][1] == pytest.approx(0.25, rel=1e-15)
    assert got[1][0] == pytest.approx(0.25, rel=1e-15)
    assert got[1][1] == pytest.approx(np.log(4.0) ** 2, rel=1e-14)
    # through the function transforms too
    hf = ga.hessian(lambda x, y: x**y, argnums=(0, 1))(4.0, 0.0)
    assert float(hf[0][1]) == float(hf[1][0]) == pytest.approx(0.25)
    # the first derivative there is unchanged: 0, also at x == 0 and x == nan
    with ga.Graph():
        x, y = ga.symbols("x y")
        dx = ga.grad(x**y, x)
        for xv in (0.0, 4.0, np.nan, np.inf):
            assert float(dx.eval(x=xv, y=0.0)) == 0.0


@pytest.mark.parametrize(
    ("sa", "sb"),
    [((2, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)), ((3,), (2, 3, 4)), ((), (2, 3)), ((3, 4), (4, 2))],
)
@pytest.mark.parametrize("declared", [True, False])
def test_dot_is_numpy_dot_with_gradients(sa, sb, declared):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    A, B = rng.standard_normal(sa), rng.standard_normal(sb)
    with ga.Graph():
        a = ga.symbol("a", shape=sa if declared else None)
        b = ga.symbol("b", shape=sb if declared else None)
        e = ga.sum(ga.dot(a, b) ** 2)
        np.testing.assert_allclose(ga.dot(a, b).eval(a=A, b=B), np.dot(A, B), rtol=1e-13)
        ga_, gb = ga.grad(e, [a, b])
        f = ga.compile([ga_, gb], inputs=[a, b])
        got_a, got_b = f(A, B)
    np.testing.assert_allclose(got_a, _fd_grad(lambda v: np.sum(np.dot(v, B) ** 2), A), rtol=1e-6)
    np.testing.assert_allclose(got_b, _fd_grad(lambda v: np.sum(np.dot(A, v) ** 2), B), rtol=1e-6)


def test_dot_second_derivative():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 3, 2))
    f = lambda a: ga.sum(ga.dot(a, B) ** 2)  # noqa: E731
    H = ga.hessian(f)(A)
    # d/da of the gradient, by central differences of the (exact) gradient
    g = ga.grad(f)
    want = np.stack([_fd_grad(lambda v, k=k: g(v)[k], A) for k in np.ndindex(A.shape)])
    np.testing.assert_allclose(H.reshape(6, 2, 3), want, rtol=1e-6, atol=1e-8)


def test_float32_prod_gradient_stays_float32_when_compiled():
    x = np.array([[1.0, 0.0], [2.0, 3.0], [0.5, 0.0]], np.float32)
    g = ga.grad(lambda x: ga.sum(ga.prod(x, axis=0)))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, np.array([[1.0, 0.0], [0.5, 0.0], [2.0, 0.0]], np.float32))
    with ga.Graph():
        b = ga.symbol("b", shape=(3,), dtype=bool)
        assert ga.sum(b).dtype == np.sum(np.zeros(3, bool)).dtype  # int64, as NumPy


# -- section 3: composition ------------------------------------------------------------------------


def test_has_aux():
    g, aux = ga.grad(lambda x: (x**2, {"double": x * 2}), has_aux=True)(3.0)
    assert float(g) == 6.0 and float(aux["double"]) == 6.0
    (v, aux), g = ga.value_and_grad(lambda x: (x**2, x + 1), has_aux=True)(3.0)
    assert (float(v), float(aux), float(g)) == (9.0, 4.0, 6.0)
    with pytest.raises(ga.GraphadError, match=r"has_aux=True.*pair"):
        ga.grad(lambda x: x**2, has_aux=True)(3.0)
    with pytest.raises(ga.GraphadError, match="has_aux"):
        ga.grad(lambda x: (x**2, x))(3.0)


def test_keyword_arguments_are_not_differentiated():
    f = lambda x, scale=1.0, power=2: scale * x**power  # noqa: E731
    assert float(ga.grad(f)(2.0, scale=3.0)) == 12.0
    assert float(ga.grad(f)(2.0, scale=3.0, power=3)) == 36.0  # a static keyword
    assert float(ga.grad(f)(2.0, power=3, scale=3.0)) == 36.0


def test_closure_over_an_outer_traced_value_is_not_confused_with_the_argument():
    # d/dx [x * d/dy (x*y)](x) = d/dx x^2 = 2x (a perturbation confusion would give 4x)
    assert float(ga.grad(lambda x: x * ga.grad(lambda y: x * y)(x))(3.0)) == 6.0
    # the same argument twice: d/da (a*b) at (x, x) is b, not 2x
    assert float(ga.grad(lambda x: ga.grad(lambda a, b: a * b)(x, x))(3.0)) == 1.0


def test_nested_call_on_exprs_leaves_no_scaffolding_in_the_graph():
    with ga.Graph() as g:
        x = ga.symbol("x")
        d = ga.grad(lambda t: ga.sin(t) * t)(x)
        assert sorted(g.inputs()) == ["x"]
        assert float(d.eval(x=0.5)) == pytest.approx(np.cos(0.5) * 0.5 + np.sin(0.5))


def test_jacobians_and_hessian_of_functions():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda v: ga.sin(v) * v[0]  # noqa: E731
    want = np.diag(np.cos(x) * x[0])
    want[:, 0] += np.sin(x)
    np.testing.assert_allclose(ga.jacfwd(f)(x), want, rtol=1e-14)
    np.testing.assert_allclose(ga.jacrev(f)(x), want, rtol=1e-14)
    np.testing.assert_allclose(ga.jacobian(f)(x), want, rtol=1e-14)
    s = lambda v: ga.sum(v**3) + v[0] * v[1]  # noqa: E731
    H = np.diag(6 * x)
    H[0, 1] = H[1, 0] = 1.0
    np.testing.assert_allclose(ga.hessian(s)(x), H, rtol=1e-14)
    np.testing.assert_allclose(ga.jacfwd(ga.jacrev(s))(x), H, rtol=1e-14)
    # several arguments: nested tuples, in the order asked
    h = ga.hessian(lambda a, b: a**2 * b**3, argnums=(1, 0))(2.0, 1.0)
    assert [[float(v) for v in row] for row in h] == [[24.0, 12.0], [12.0, 2.0]]


def test_hessian_of_a_vector_function_says_what_to_do():
    with pytest.raises(ga.ShapeError, match=r"shape \(3,\).*scalar.*jacfwd\(ga.jacrev"):
        ga.hessian(lambda x: x * 2.0)(np.ones(3))


def test_jvp_and_vjp_of_functions():
    y, t = ga.jvp(lambda a, b: a * ga.sin(b), (2.0, 0.5), (1.0, 0.0))
    assert (float(y), float(t)) == pytest.approx((2 * np.sin(0.5), np.sin(0.5)))
    x = np.array([1.0, 2.0])
    y, back = ga.vjp(lambda a, b: a * b, x, 3.0)
    np.testing.assert_array_equal(y, [3.0, 6.0])
    ca, cb = back(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(ca, [3.0, -3.0])
    assert float(cb) == -1.0
    with pytest.raises(ga.GraphadError, match="one tangent per primal"):
        ga.jvp(lambda a: a, (1.0,), (1.0, 2.0))


def test_stop_gradient():
    assert float(ga.grad(lambda x: x * ga.stop_gradient(x))(3.0)) == 3.0
    assert float(ga.grad(ga.grad(lambda x: x**2 * ga.stop_gradient(x**2)))(3.0)) == 18.0
    with ga.Graph():
        x = ga.symbol("x")
        e = ga.stop_gradient(ga.sin(x)) + x
        assert float(e.eval(x=0.5)) == pytest.approx(np.sin(0.5) + 0.5)
        assert float(ga.jvp(e, {x: 1.0}).eval(x=0.5)) == 1.0
        assert float(ga.compile(ga.grad(e, x), inputs=[x])(0.5)) == 1.0


# -- vmap ------------------------------------------------------------------------------------------


def test_per_example_gradients_with_vmap():
    rng = np.random.default_rng(0)

    def loss(params, x, y):
        W1, b1, w2 = params
        h = ga.tanh(x @ W1 + b1)
        return (ga.sum(h * w2) - y) ** 2

    P = (rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4))
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    got = ga.vmap(ga.grad(loss), in_axes=(None, 0, 0))(P, X, Y)
    for k in range(5):
        one = ga.grad(loss)(P, X[k], Y[k])
        for g, w in zip(got, one, strict=True):
            np.testing.assert_allclose(g[k], w, rtol=1e-12)
    # against finite differences for one example
    fd = _fd_grad(lambda w: (np.tanh(X[2] @ w + P[1]) @ P[2] - Y[2]) ** 2, P[0])
    np.testing.assert_allclose(got[0][2], fd, rtol=1e-6)


def test_vmap_axes_and_shared_arguments():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 2, 3))
    v = rng.standard_normal(3)
    np.testing.assert_allclose(ga.vmap(lambda a, b: a @ b, in_axes=(0, None))(A, v), A @ v)
    X = rng.standard_normal((3, 5))
    np.testing.assert_allclose(ga.vmap(lambda c: ga.sum(c), in_axes=1)(X), X.sum(axis=0))
    sm = ga.vmap(lambda r: ga.softmax(r, axis=-1), in_axes=0, out_axes=1)(X)
    want = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(sm, want.T, rtol=1e-14)
    # an output that does not depend on the batch is repeated (out_axes given)
    const, per = ga.vmap(lambda r, w: (w * 2.0, r * w), in_axes=(0, None))(X, 3.0)
    np.testing.assert_array_equal(const, np.full(3, 6.0))
    np.testing.assert_array_equal(per, X * 3.0)
    # batched scalar against an unbatched vector: example axes pair correctly
    np.testing.assert_allclose(
        ga.vmap(lambda s, w: s * w, in_axes=(0, None))(np.arange(3.0), v),
        np.outer(np.arange(3.0), v),
    )


def test_vmap_composes_with_grad_and_jit():
    X = np.linspace(-1, 1, 6)
    d2 = ga.jit(ga.vmap(ga.grad(ga.grad(lambda t: t**3))))
    np.testing.assert_allclose(d2(X), 6 * X, rtol=1e-14)
    # grad of a vmapped function: d/dw sum_i (w * x_i)^2 = 2 w sum x_i^2
    gw = ga.grad(lambda w, x: ga.sum(ga.vmap(lambda xi: (w * xi) ** 2)(x)))(0.5, X)
    assert float(gw) == pytest.approx(2 * 0.5 * np.sum(X**2), rel=1e-14)


def test_vmap_errors_name_the_argument():
    with pytest.raises(ga.ShapeError, match=r"argument 1 has 3 examples.*same batch size"):
        ga.vmap(lambda a, b: a + b)(np.ones(2), np.ones(3))
    with pytest.raises(ga.ShapeError, match=r"in_axes\[0\] = 1 but argument 0 has shape \(2,\)"):
        ga.vmap(lambda a: a, in_axes=1)(np.ones(2))
    with pytest.raises(ga.GraphadError, match="in_axes has 1 entries for 2 argument"):
        ga.vmap(lambda a, b: a, in_axes=(0,))(np.ones(2), np.ones(2))


_RNG = np.random.default_rng(11)
_X = _RNG.standard_normal((4, 3, 2))
_V = _RNG.standard_normal(2)
_M = _RNG.standard_normal((2, 5))
_C = _RNG.standard_normal((5, 2, 3))
_W = _RNG.standard_normal((3, 2))


@functools.cache
def _sq_op():
    return ga.defop("test_transforms_sq", np.square, vjp=lambda g, x: [g * 2 * x])


def _sq(x):  # a custom op (registered on first use): batched per example
    return _sq_op()(x)


# (function of one example, arguments, in_axes): every op family's batching rule
VMAP_CASES = {
    "transpose": (lambda x: ga.transpose(x), [_X], 0),
    "reshape": (lambda x: ga.reshape(x, (-1,)), [_X], 0),
    "getitem": (lambda x: x[1:, 0], [_X], 0),
    "concatenate": (lambda x: ga.concatenate([x, x * 2], axis=-1), [_X], 0),
    "stack_shared": (lambda x, w: ga.stack([x[0], w], axis=0), [_X, _V], (0, None)),
    "broadcast_to": (lambda x: ga.broadcast_to(x[0, 0], (3, 2)), [_X], 0),
    "where": (lambda x: ga.where(x > 0, x, 0.1 * x), [_X], 0),
    "matmul_2d": (lambda x, m: x @ m, [_X, _M], (0, None)),
    "matmul_1d": (lambda x, m: x[0] @ m, [_X, _M], (0, None)),
    "matmul_shared_first": (lambda m, x: m.T @ x[0], [_M, _X], (None, 0)),
    "matmul_both": (lambda x, y: x @ y, [_X, _RNG.standard_normal((4, 2, 3))], 0),
    "dot_nd": (lambda x: ga.dot(x, ga.constant(_C)), [_X], 0),
    "max_axes": (lambda x: ga.max(x, axis=(0, 1), keepdims=True), [_X], 0),
    "log_softmax": (lambda x: ga.log_softmax(x, axis=0), [_X], 0),
    "prod": (lambda x: ga.prod(x), [_X], 0),
    "clip": (lambda x: ga.clip(x, -0.5, 0.5), [_X], 0),
    "custom_op": (lambda x: _sq(x) + 1.0, [_X], 0),
    "in_axes_1": (lambda x, s: x * s, [_X, np.arange(3.0)], (1, 0)),
    "grad_dot": (ga.grad(lambda x: ga.sum(ga.dot(x, _M) ** 2)), [_X], 0),
    "grad_concat": (
        ga.grad(lambda x: ga.sum(ga.concatenate([x, ga.sin(x)], axis=0)[1:] ** 2)),
        [_X],
        0,
    ),
    "grad_stack": (ga.grad(lambda x: ga.sum(ga.stack([x, x], axis=1) ** 3)), [_X], 0),
    "grad_broadcast": (
        ga.grad(lambda x: ga.sum(ga.broadcast_to(x[0], (3, 2)) * ga.constant(_W))),
        [_X],
        0,
    ),
    "grad_softmax": (ga.grad(lambda x: ga.sum(ga.softmax(x, axis=1) * x)), [_X], 0),
    "grad_prod": (ga.grad(lambda x: ga.mean(ga.prod(x, axis=1))), [_X], 0),
    "grad_custom": (ga.grad(lambda x: ga.sum(_sq(x))), [_X], 0),
    "hessian": (ga.hessian(lambda x: ga.sum(ga.sin(x) * x[0])), [_X[:, 0]], 0),
    "jacfwd": (ga.jacfwd(lambda x: ga.tanh(x) * x[0]), [_X[:, 0]], 0),
    "jacrev": (ga.jacrev(lambda x: x @ _M), [_X[:, 0]], 0),
}


@pytest.mark.parametrize("name", sorted(VMAP_CASES))
def test_vmap_equals_a_loop_over_examples(name):
    f, args, in_axes = VMAP_CASES[name]
    got = ga.vmap(f, in_axes=in_axes)(*args)
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(a.shape[ax] for a, ax in zip(args, axes, strict=True) if ax is not None)
    rows = []
    for k in range(size):
        one = [
            a if ax is None else np.take(a, k, axis=ax) for a, ax in zip(args, axes, strict=True)
        ]
        rows.append(ga.jit(f)(*one))
    want = np.stack(rows)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_jacfwd_and_jacrev_of_exprs():
    xv = np.array([0.5, -1.0, 2.0])
    want = np.diag(np.cos(xv) * xv[0])
    want[:, 0] += np.sin(xv)
    with ga.Graph() as g:
        x = ga.symbol("x", shape=(3,))
        v = ga.sin(x) * x[0]
        np.testing.assert_allclose(ga.jacfwd(v, x).eval(x=xv), want, rtol=1e-14)
        assert sorted(g.inputs()) == ["x"]  # the batched probe is gone again
        np.testing.assert_allclose(ga.jacrev(v, "x").eval(x=xv), want, rtol=1e-14)
        (j,) = ga.jacfwd(v, [x])
        assert j.shape == (3, 3)
        with pytest.raises(ga.GraphadError, match="with respect to which input"):
            ga.jacfwd(v)
    with ga.Graph():
        z = ga.symbol("z")  # no declared shape: expanded once the shape is known
        np.testing.assert_allclose(ga.jacfwd(ga.sin(z), z).eval(z=xv), np.diag(np.cos(xv)))


def test_a_failed_transform_on_exprs_leaves_the_graph_as_it_was():
    def bad(t):
        ga.sin(t) * 2.0  # nodes made before the failure
        raise ValueError("user error")

    with ga.Graph() as g:
        x = ga.symbol("x")
        before = (len(g), sorted(g.inputs()))
        with pytest.raises(ValueError, match="user error"):
            ga.grad(bad)(x)
        with pytest.raises(ga.ShapeError, match="hessian"):
            ga.hessian(lambda t: t * 2.0)(ga.symbol("v", shape=(3,)))
        assert (len(g) - 1, sorted(g.inputs())) == (before[0], ["v", "x"])  # only v, declared


def test_argument_errors_name_the_argument():
    with pytest.raises(ga.GraphadError, match=r"argnums \(0, 2\) out of range for 2"):
        ga.grad(lambda a, b: a * b, argnums=(0, 2))(1.0, 2.0)
    with ga.Graph():
        n = ga.symbol("n", dtype="int64")
        with pytest.raises(ga.DTypeError, match="argument 0 is differentiated but has dtype int64"):
            ga.grad(lambda t: t * 2.0)(n)
    with pytest.raises(ga.GraphadError, match="argnums must be an int or a tuple"):
        ga.grad(lambda a: a, argnums="0")
    with pytest.raises(ga.GraphadError, match="value_and_grad expects a callable"):
        ga.value_and_grad(ga.constant(1.0))


def test_hessian_of_a_larger_input_matches_the_formula():
    # f(v) = sum(tanh(v)^2) * sum(v^3): H = a'' b + a' b'^T + b' a'^T + a b''
    v = np.linspace(-1.0, 1.5, 40)
    t = np.tanh(v)
    a, da, d2a = np.sum(t**2), 2 * t * (1 - t**2), np.diag(2 * (1 - t**2) * (1 - 3 * t**2))
    b, db, d2b = np.sum(v**3), 3 * v**2, np.diag(6 * v)
    want = d2a * b + np.outer(da, db) + np.outer(db, da) + a * d2b
    f = lambda w: ga.sum(ga.tanh(w) ** 2) * ga.sum(w**3)  # noqa: E731
    np.testing.assert_allclose(ga.hessian(f)(v), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ga.jacrev(ga.jacfwd(f))(v), want, rtol=1e-12, atol=1e-12)


def test_transformed_functions_work_as_methods():
    class Model:
        scale = 3.0

        @ga.jit
        def forward(self, x):
            return x * self.scale

        def loss(self, x):
            return ga.sum(self.forward(x) ** 2)

    m = Model()
    np.testing.assert_array_equal(m.forward(np.array([1.0, 2.0])), [3.0, 6.0])
    g = ga.grad(m.loss)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [18.0, 36.0])  # d/dx sum (3x)^2 = 18 x
