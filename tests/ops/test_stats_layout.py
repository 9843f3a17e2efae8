"""Issue 14's statistics and layout ops beyond what the op-table sweep checks: split's
list of pieces, ddof, pad widths, conventions, Expr methods, parsed text, second
derivatives and errors.  References are NumPy's results, hand-computed values and
central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga

RNG_SEED = 1414


def _fd_hvp(f_grad, x, v, h=1e-6):
    return (f_grad(x + h * v) - f_grad(x - h * v)) / (2 * h)


# -- split: a list of Exprs built from slices ---------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
@pytest.mark.parametrize(
    ("fn", "shape", "arg", "kw"),
    [
        ("split", (6, 2), 3, {}),
        ("split", (2, 6), (1, 4), {"axis": 1}),
        ("array_split", (7,), 3, {}),
        ("array_split", (2, 5), 4, {"axis": -1}),
        ("array_split", (5,), (2, 9), {}),  # an index past the end: an empty last piece
        ("vsplit", (4, 3), 2, {}),
        ("hsplit", (3, 4), (1,), {}),
        ("hsplit", (6,), 2, {}),
    ],
)
def test_split_family_matches_numpy_piece_by_piece(fn, shape, arg, kw, declared):
    rng = np.random.default_rng(RNG_SEED)
    value = rng.standard_normal(shape)
    want = getattr(np, fn)(value, arg, **kw)
    if fn == "hsplit" and not declared:
        # hsplit's axis depends on ndim: refused, with the way out
        with ga.Graph(), pytest.raises(ga.GraphadError, match="declare x's shape"):
            ga.hsplit(ga.symbol("x"), arg)
        return
    with ga.Graph() as g:
        x = ga.symbol("x", shape=shape if declared else None)
        pieces = getattr(ga, fn)(x, arg, **kw)
        assert isinstance(pieces, list) and len(pieces) == len(want)
        if declared:  # static shapes: each piece is a plain slice of x
            assert {p.op for p in pieces} == {"getitem"}
        for p, w in zip(pieces, want, strict=True):
            got = p.eval(x=value)
            assert got.shape == w.shape
            np.testing.assert_array_equal(got, w)
        # d/dx of sum_i (i + 1) * sum(piece_i): each element gets its piece's weight
        total = ga.sum(pieces[0]) * 1.0
        for i, p in enumerate(pieces[1:], start=2):
            total = total + float(i) * ga.sum(p)
        grad = ga.grad(total, x).eval(x=value)
        weights = getattr(np, fn)(np.zeros(shape), arg, **kw)
        for i, w in enumerate(weights):
            w += i + 1
        axis = kw.get("axis", 1 if fn == "hsplit" and len(shape) > 1 else 0)
        np.testing.assert_array_equal(grad, np.concatenate(weights, axis=axis))
        assert g.stats()["nodes"] > 0


def test_split_index_builds_one_piece_and_the_checks_come_first():
    value = np.arange(10.0)
    with ga.Graph() as g:
        x = ga.symbol("x", shape=(10,))
        piece = ga.array_split(x, 3, index=2)
        np.testing.assert_array_equal(piece.eval(x=value), [7.0, 8.0, 9.0])
        before = g.stats()["nodes"]
        with pytest.raises(ga.ShapeError, match="does not divide into 3 equal pieces"):
            ga.split(x, 3)
        with pytest.raises(ga.GraphadError, match=r"index 5 is not a piece \(0 \.\. 4\)"):
            ga.split(x, 5, index=5)
        with pytest.raises(ga.GraphadError, match="sections must be > 0"):
            ga.split(x, 0)
        with pytest.raises(ga.ShapeError, match="at least 2 dimensions"):
            ga.vsplit(x, 2)
        assert g.stats()["nodes"] == before  # failed calls built nothing
        u = ga.symbol("u")  # unknown shape: the division is checked when evaluated
        with pytest.raises(ga.ShapeError, match="does not divide into 3 equal pieces"):
            ga.split(u, 3)[0].eval(u=np.ones(7))


def test_split_pieces_compile_and_differentiate_twice_undeclared():
    rng = np.random.default_rng(RNG_SEED + 1)
    value = rng.standard_normal((2, 7))
    with ga.Graph():
        x = ga.symbol("x")
        a, b = ga.array_split(x, 2, axis=1)
        f = ga.sum(ga.sin(a)) * ga.sum(b * b)
        (gx,) = ga.grad(f, [x])
        v = rng.standard_normal(value.shape)
        hv = ga.grad(ga.sum(gx * ga.constant(v)), x).eval(x=value)
        fn = ga.compile([f, gx], inputs=[x])
        val, grad = fn(value)
    assert float(val) == pytest.approx(np.sum(np.sin(value[:, :4])) * np.sum(value[:, 4:] ** 2))
    np.testing.assert_allclose(grad, gx.eval(x=value), rtol=1e-12)

    def grad_at(z):
        with ga.Graph():
            y = ga.symbol("y")
            p, q = ga.array_split(y, 2, axis=1)
            return ga.grad(ga.sum(ga.sin(p)) * ga.sum(q * q), y).eval(y=z)

    np.testing.assert_allclose(hv, _fd_hvp(grad_at, value, v), rtol=1e-5, atol=1e-6)


# -- var / std with ddof ---------------------------------------------------------------


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 0, (0, 2)])
def test_var_std_ddof_values_and_hand_gradients(ddof, axis):
    rng = np.random.default_rng(RNG_SEED + ddof)
    value = rng.standard_normal((3, 2, 4))
    with ga.Graph():
        x = ga.symbol("x")
        var, std = ga.var(x, axis=axis, ddof=ddof), ga.std(x, axis=axis, ddof=ddof)
        np.testing.assert_allclose(var.eval(x=value), np.var(value, axis=axis, ddof=ddof))
        np.testing.assert_allclose(std.eval(x=value), np.std(value, axis=axis, ddof=ddof))
        n = value.size if axis is None else np.prod([value.shape[a] for a in np.atleast_1d(axis)])
        centred = value - np.mean(value, axis=axis, keepdims=True)
        # d sum(var) / dx = 2 (x - mean) / (N - ddof)
        # d sum(std) / dx = (x - mean) / ((N - ddof) std)
        np.testing.assert_allclose(
            ga.grad(ga.sum(var), x).eval(x=value), 2 * centred / (n - ddof), rtol=1e-12
        )
        s = np.std(value, axis=axis, ddof=ddof, keepdims=True)
        np.testing.assert_allclose(
            ga.grad(ga.sum(std), x).eval(x=value), centred / ((n - ddof) * s), rtol=1e-12
        )


def test_var_is_stable_far_from_zero_and_keeps_float32():
    # 1e8 + small values: E[x^2] - E[x]^2 would cancel to noise; np.var's two passes do not
    value = 1e8 + np.array([0.0, 1.0, 2.0, 3.0])
    with ga.Graph():
        x = ga.symbol("x")
        assert float(ga.var(x).eval(x=value)) == 1.25
        np.testing.assert_array_equal(
            ga.grad(ga.var(x), x).eval(x=value), [-0.75, -0.25, 0.25, 0.75]
        )
        f = ga.compile([ga.std(x, ddof=1), ga.grad(ga.std(x, ddof=1), x)], inputs=[x])
        v32 = np.array([1.0, 2.0, 4.0], np.float32)
        val, grad = f(v32)
        assert np.asarray(val).dtype == np.float32 and grad.dtype == np.float32
        assert float(val) == pytest.approx(np.std(v32.astype(float), ddof=1), rel=1e-6)


def test_std_of_a_constant_slice_has_zero_gradient_and_ddof_errors():
    with ga.Graph() as g:
        x = ga.symbol("x")
        value = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
        grad = ga.grad(ga.sum(ga.std(x, axis=1)), x).eval(x=value)
        np.testing.assert_allclose(grad, [[0, 0, 0], [-1 / np.sqrt(6), 0, 1 / np.sqrt(6)]])
        before = g.stats()["nodes"]
        with pytest.raises(ga.GraphadError, match="ddof must be >= 0"):
            ga.var(x, ddof=-1)
        with pytest.raises(ga.GraphadError, match="var: ddof must be an integer"):
            ga.var(x, ddof="1")
        assert g.stats()["nodes"] == before


# -- cumsum / cumprod / diff -----------------------------------------------------------


def test_cumulative_ops_hand_gradients():
    value = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with ga.Graph():
        x = ga.symbol("x")
        # d sum(cumsum(x, axis=1)) / dx_ij = number of prefixes holding j = 3 - j
        np.testing.assert_array_equal(
            ga.grad(ga.sum(ga.cumsum(x, axis=1)), x).eval(x=value), [[3, 2, 1], [3, 2, 1]]
        )
        np.testing.assert_array_equal(
            ga.grad(ga.sum(ga.cumsum(x)), x).eval(x=value), [[6, 5, 4], [3, 2, 1]]
        )
        # cumprod([a, b, c]) summed: a + ab + abc -> (1 + b + bc, a + ac, ab)
        row = ga.grad(ga.sum(ga.cumprod(x, axis=1)), x).eval(x=value)
        np.testing.assert_allclose(row[0], [1 + 2 + 6, 1 + 3, 2], rtol=1e-15)
        # diff twice: x0 - 2 x1 + x2 weighted by g = 1 -> (1, -2, 1)
        np.testing.assert_array_equal(
            ga.grad(ga.sum(ga.diff(x, n=2)), x).eval(x=value), [[1, -2, 1], [1, -2, 1]]
        )
        assert ga.diff(x, n=0).eval(x=value).tolist() == value.tolist()
        np.testing.assert_array_equal(ga.diff(x, n=5).eval(x=value), np.diff(value, n=5))
        with pytest.raises(ga.GraphadError, match="diff: n must be >= 0"):
            ga.diff(x, n=-1)
        assert ga.cumsum(x).eval(x=np.array([True, True])).dtype == np.cumsum([True]).dtype


@pytest.mark.parametrize(
    "build",
    [
        lambda x: ga.var(x, axis=1, ddof=1),
        lambda x: ga.std(x, axis=0),
        lambda x: ga.cumprod(x, axis=1),
        lambda x: ga.trace(x * x),
        lambda x: ga.pad(x, 1, constant_values=3.0),
        lambda x: ga.tile(x, (2, 1)),
        lambda x: ga.repeat(x, 2, axis=0),
        lambda x: ga.diag(ga.diag(x)),
        lambda x: ga.hstack([x, ga.sin(x)]),
    ],
)
def test_hessian_vector_products_vs_finite_differences(build):
    rng = np.random.default_rng(RNG_SEED + 7)
    value = rng.uniform(0.5, 2.0, (3, 3))
    v = rng.standard_normal(value.shape)

    def grad_at(z):
        with ga.Graph():
            y = ga.symbol("y")
            out = build(y)
            return ga.grad(ga.sum(ga.sin(out) * out), y).eval(y=z)

    with ga.Graph():
        x = ga.symbol("x")
        out = build(x)
        gx = ga.grad(ga.sum(ga.sin(out) * out), x)
        hv = ga.grad(ga.sum(gx * ga.constant(v)), x).eval(x=value)
    np.testing.assert_allclose(hv, _fd_hvp(grad_at, value, v), rtol=1e-5, atol=1e-6)


# -- pad ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "width", [0, 2, (1, 2), ((1, 0),), ((0, 2), (3, 1)), [[1, 1], [0, 0]], ((1,), (2,))]
)
def test_pad_widths_values_and_gradient(width):
    rng = np.random.default_rng(RNG_SEED + 3)
    value = rng.standard_normal((2, 3))
    with ga.Graph():
        x = ga.symbol("x")
        e = ga.pad(x, width, constant_values=-1.5)
        want = np.pad(value, width, constant_values=-1.5)
        np.testing.assert_array_equal(e.eval(x=value), want)
        w = rng.standard_normal(want.shape)
        # the VJP of pad is the interior of the cotangent
        pairs = np.broadcast_to(np.asarray(width), (2, 2))
        interior = w[
            pairs[0, 0] : want.shape[0] - pairs[0, 1], pairs[1, 0] : want.shape[1] - pairs[1, 1]
        ]
        np.testing.assert_array_equal(ga.vjp(e, [x], [w])[0].eval(x=value), interior)
        # forward mode: the padding is a constant, so its tangent is zero there
        t = ga.jvp(e, {x: np.ones((2, 3))}).eval(x=value)
        np.testing.assert_array_equal(t, np.pad(np.ones((2, 3)), width))
        s = ga.symbol("s", shape=(2, 3))
        assert ga.pad(s, width).shape == want.shape


def test_pad_refuses_what_it_does_not_support():
    with ga.Graph() as g:
        x = ga.symbol("x")
        c2 = ga.symbol("c", shape=(2,))
        before = g.stats()["nodes"]
        with pytest.raises(ga.GraphadError, match="mode 'linear_ramp' is not supported"):
            ga.pad(x, 1, mode="linear_ramp")
        with pytest.raises(ga.GraphadError, match="pad_width must be >= 0"):
            ga.pad(x, (1, -1))
        with pytest.raises(ga.GraphadError, match="constant_values must be a number"):
            ga.pad(x, 1, constant_values="1")
        with pytest.raises(ga.GraphadError, match="must be a scalar"):
            ga.pad(x, 1, constant_values=c2)
        with pytest.raises(ga.GraphadError, match="not an int, a pair or pairs"):
            ga.pad(x, ((1, 2, 3),))
        assert g.stats()["nodes"] == before
        with pytest.raises(ga.ShapeError):
            ga.pad(ga.symbol("m", shape=(2, 3)), ((1, 1), (1, 1), (1, 1)))


# -- the other layout ops: conventions, methods, text, errors -------------------------------------


def test_layout_values_against_hand_results():
    m = np.arange(6.0).reshape(2, 3)
    with ga.Graph():
        x = ga.symbol("x")
        assert ga.roll(x, 1).eval(x=m).tolist() == [[5, 0, 1], [2, 3, 4]]
        assert ga.rot90(x).eval(x=m).tolist() == [[2, 5], [1, 4], [0, 3]]
        assert ga.rot90(x, k=-1).eval(x=m).tolist() == [[3, 0], [4, 1], [5, 2]]
        assert ga.repeat(x, 2, axis=1).eval(x=m).tolist() == [
            [0, 0, 1, 1, 2, 2],
            [3, 3, 4, 4, 5, 5],
        ]
        assert ga.tile(x, 2).eval(x=np.array([1.0, 2.0])).tolist() == [1, 2, 1, 2]
        assert ga.trace(x).eval(x=m) == 0 + 4
        assert ga.diag(x, k=-1).eval(x=np.array([7.0])).tolist() == [[0, 0], [7, 0]]
        assert ga.column_stack([x, x]).eval(x=np.array([1.0, 2.0])).tolist() == [[1, 1], [2, 2]]
        assert ga.atleast_3d(x).eval(x=np.array([1.0, 2.0])).shape == (1, 2, 1)
        a, b = ga.atleast_2d(x, ga.symbol("y"))  # several arguments: a list, as NumPy's
        assert a.eval(x=1.0).shape == (1, 1) and b.eval(y=m).shape == (2, 3)
        # repeat's VJP sums each group of copies; tile's sums the copies
        np.testing.assert_array_equal(
            ga.grad(ga.sum(ga.repeat(x, 3) * 1.0), x).eval(x=m), np.full((2, 3), 3.0)
        )
        w = np.arange(12.0).reshape(2, 6)
        np.testing.assert_array_equal(
            ga.vjp(ga.tile(x, (1, 2)), [x], [w])[0].eval(x=m), w[:, :3] + w[:, 3:]
        )
        # trace's VJP is the identity matrix (ones on the offset diagonal)
        np.testing.assert_array_equal(
            ga.grad(ga.trace(x, offset=1), x).eval(x=m), [[0, 1, 0], [0, 0, 1]]
        )


def test_astype_casts_and_passes_float_gradients_back():
    with ga.Graph():
        x = ga.symbol("x")
        v = np.array([1.25, -2.5])
        y = ga.astype(x, np.float32)
        assert y.eval(x=v).dtype == np.float32
        g = ga.grad(ga.sum(y * y), x).eval(x=v)
        assert g.dtype == np.float64 and g.tolist() == [2.5, -5.0]
        i = ga.astype(x, "int64")
        assert i.eval(x=v).tolist() == [1, -2]
        np.testing.assert_array_equal(ga.grad(ga.sum(i * 1.0), x).eval(x=v), [0.0, 0.0])
        assert x.astype("float32").op == "astype"
        with pytest.raises(ga.GraphadError, match="complex numbers are out of scope"):
            ga.astype(x, np.complex128)
        with pytest.raises(ga.GraphadError, match="is not a NumPy dtype"):
            ga.astype(x, "no-such-type")


def test_expr_methods_and_flatten():
    m = np.arange(6.0).reshape(2, 3)
    with ga.Graph():
        x = ga.symbol("x")
        assert x.flatten().eval(x=m).tolist() == list(range(6))
        assert ga.flatten(x).op == "ravel" and x.ravel().op == "ravel"
        assert float(x.var(ddof=1).eval(x=m)) == np.var(m, ddof=1)
        assert x.std(axis=0).eval(x=m).tolist() == [1.5, 1.5, 1.5]
        assert x.cumsum(axis=0).eval(x=m).tolist() == np.cumsum(m, axis=0).tolist()
        assert x.swapaxes(0, 1).eval(x=m).shape == (3, 2)
        assert x.diagonal().eval(x=m).tolist() == [0.0, 4.0]
        assert float(x.trace().eval(x=m)) == 4.0
        assert x.squeeze().eval(x=m[None]).shape == (2, 3)
        assert x.repeat(2).eval(x=m).shape == (12,)


def test_declared_reshape_like_ops_lower_to_reshape():
    with ga.Graph():
        x = ga.symbol("x", shape=(1, 3, 1))
        assert ga.squeeze(x).op == "reshape" and ga.squeeze(x).shape == (3,)
        assert ga.expand_dims(ga.squeeze(x), (0, 2)).shape == (1, 3, 1)
        assert ga.atleast_2d(x) is not None and ga.atleast_2d(x).id == x.id  # nothing to do
        assert ga.ravel(x).shape == (3,)
        with pytest.raises(ga.ShapeError, match="squeeze"):
            ga.squeeze(x, axis=1)


def test_parsed_text_reads_the_new_ops():
    m = np.arange(6.0).reshape(2, 3)
    with ga.Graph():
        ga.symbol("x")
        cases = [
            ("roll(x, 1, axis=1)", np.roll(m, 1, axis=1)),  # a positional constant is fine
            ("var(x, axis=0, ddof=1)", np.var(m, axis=0, ddof=1)),
            ("pad(x, ((1, 0), (0, 1)))", np.pad(m, ((1, 0), (0, 1)))),
            ("vstack([x, x])", np.vstack([m, m])),
            ("trace(tril(x, k=-1))", np.trace(np.tril(m, k=-1))),
            ("diff(cumsum(x, axis=1), axis=1)", np.diff(np.cumsum(m, axis=1), axis=1)),
        ]
        for text, want in cases:
            e = ga.parse(text)
            np.testing.assert_allclose(e.eval(x=m), want, err_msg=text)
            back = ga.parse(str(e))  # printed text parses back to the same value
            np.testing.assert_array_equal(back.eval(x=m), e.eval(x=m))
            assert ga.latex(e) and ga.render(e).source
        with pytest.raises(ga.ParseError, match="unknown function 'split'"):
            ga.parse("split(x, 2)")  # a list of pieces is not one expression
        with pytest.raises(ga.GraphadError, match="must be a static integer"):
            ga.parse("roll(x, x)")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: ga.repeat(x, -1), ga.GraphadError, "repeats must be >= 0"),
        (lambda x: ga.repeat(x, [1, 2]), ga.GraphadError, "per-element repeat counts"),
        (lambda x: ga.tile(x, (2, -1)), ga.GraphadError, "reps must be >= 0"),
        (lambda x: ga.roll(x, 1.5), ga.GraphadError, "roll: shift must be an integer"),
        (lambda x: ga.flip(x, axis=True), ga.GraphadError, "flip: axis must be an integer"),
        (lambda x: ga.rot90(x, axes=(0,)), ga.GraphadError, "axes must be a pair"),
        (lambda x: ga.vstack([]), ga.GraphadError, "non-empty sequence"),
        (lambda x: ga.atleast_1d(), ga.GraphadError, "at least one array"),
        (lambda x: ga.tril(x), ga.ShapeError, "tril"),
        (lambda x: ga.diag(ga.symbol("t", shape=(1, 1, 3))), ga.ShapeError, "diag"),
        (lambda x: ga.swapaxes(x, 0, 3), ga.ShapeError, "swapaxes"),
        (lambda x: ga.trace(x), ga.ShapeError, "trace"),
        (lambda x: ga.vstack([x, ga.symbol("z", shape=(4,))]), ga.ShapeError, "vstack"),
    ],
)
def test_bad_arguments_are_named_and_build_nothing(call, error, match):
    with ga.Graph() as g:
        x = ga.symbol("x", shape=(3,))
        ga.symbol("t", shape=(1, 1, 3)), ga.symbol("z", shape=(4,))  # inputs the calls use
        before = g.stats()["nodes"]
        with pytest.raises(error, match=match):
            call(x)
        assert g.stats()["nodes"] == before  # the failed call left the graph as it was


def test_shape_errors_of_undeclared_inputs_surface_when_evaluated():
    with ga.Graph():
        x = ga.symbol("x")
        with pytest.raises(ga.ShapeError, match="squeeze"):
            ga.squeeze(x, axis=0).eval(x=np.ones((2, 3)))
        with pytest.raises(ga.ShapeError, match="tril"):
            ga.tril(x).eval(x=np.ones(3))
