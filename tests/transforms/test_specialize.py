"""Specialization to the types a graph runs with: the default path (symbols without
declared shapes) computes, compiles and prints like the declared path.

References: NumPy on the same values, SymPy's derivatives, hand-written formulas, and the
graph built from declared shapes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import sympy

import graphad as ga
from graphad.transforms.specialize import CACHE_SIZE, specialize


def _plain(e):
    """to_sympy with graphad's symbols (which carry assumptions) renamed to plain ones."""
    s = ga.to_sympy(e).doit()
    return s.subs({v: sympy.Symbol(v.name) for v in s.free_symbols})


def _ops(fn):
    return [fn.graph.op(n) for n in fn.graph.nodes()]


class TestPrinting:
    def test_gradient_reads_as_a_person_writes_it(self):
        with ga.Graph():
            x, _ = ga.symbols("x y")
            g = ga.grad(ga.parse("x**2 + sin(x*y)"), "x")
            assert str(g) == "2 * x + cos(x * y) * y"
            assert str(ga.grad(x**2 + x - 1, x)) == "2 * x + 1"

    def test_hessian_entries_are_short_formulas_equal_to_sympy(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            h = ga.hessian(ga.parse("x**2 + sin(x*y)"), [x, y])
            sx, sy = sympy.symbols("x y")
            f = sx**2 + sympy.sin(sx * sy)
            for i, a in enumerate((sx, sy)):
                for j, b in enumerate((sx, sy)):
                    text = str(h[i][j])
                    assert len(text) < 40 and "_like" not in text and "jacobian" not in text
                    assert sympy.simplify(_plain(h[i][j]) - sympy.diff(f, a, b)) == 0
                    want = float(sympy.diff(f, a, b).subs({sx: 3.0, sy: 2.0}))
                    assert float(h[i][j].eval(x=3.0, y=2.0)) == pytest.approx(want, rel=1e-14)

    def test_latex_and_sympy_show_no_plumbing(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            g = ga.grad(x * ga.exp(y) / (1 + x**2), y)
            latex = g._repr_latex_()
            assert "like" not in latex and "sum" not in latex
            sx, sy = sympy.symbols("x y")
            want = sympy.diff(sx * sympy.exp(sy) / (1 + sx**2), sy)
            assert sympy.simplify(_plain(g) - want) == 0

    def test_command_line_prints_the_short_form(self):
        out = subprocess.run(
            [sys.executable, "-m", "graphad", "grad", "x**2 + sin(x*y)", "--wrt", "x"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "2 * x + cos(x * y) * y" in out


class TestJacobians:
    def test_undeclared_matrix_vector_jacobian(self):
        W = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 1.0]])
        xv = np.array([0.3, -0.2])
        with ga.Graph():
            x = ga.symbol("x")
            J = ga.jacobian(ga.tanh(ga.constant(W) @ x), x)
            f = ga.compile(J)
            got, compiled = J.eval(x=xv), f(xv)
        want = (1.0 - np.tanh(W @ xv) ** 2)[:, None] * W
        assert got.shape == compiled.shape == (3, 2)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        assert got.tobytes() == compiled.tobytes()

    def test_hessian_of_a_vector_input_is_the_full_matrix(self):
        xv = np.array([0.5, -1.0, 2.0])
        with ga.Graph():
            x = ga.symbol("x")
            H = ga.hessian(ga.sum(x**3) + ga.sum(x) ** 2, x)
            got = H.eval(x=xv)
        assert np.array_equal(got, np.diag(6.0 * xv) + 2.0 * np.ones((3, 3)))

    def test_same_graph_different_shapes(self):
        with ga.Graph():
            x = ga.symbol("x")
            J = ga.jacobian(x**2, x)
            f = ga.compile(J)
        assert float(f(3.0)) == 6.0
        np.testing.assert_array_equal(f(np.array([1.0, 2.0])), np.diag([2.0, 4.0]))
        assert len(f.signatures) == 2


class TestNoWastedWork:
    def test_dead_forward_nodes_are_not_computed_for_their_shape(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            f = ga.compile([ga.grad(x**2 + ga.exp(y), x)])
            assert float(f(3.0, 1.0)[0]) == 6.0
            assert "exp" not in _ops(f) and "np.exp" not in f.source
            f_arr = ga.compile([ga.grad(x**2 + ga.exp(y), x)])
            got = f_arr(np.arange(3.0), np.ones(3))[0]
            assert "np.exp" not in f_arr.source
        np.testing.assert_array_equal(got, 2.0 * np.arange(3.0))

    def test_times_one_folds_and_plus_zero_only_where_ieee_allows(self):
        with ga.Graph():
            x = ga.symbol("x")
            f = ga.compile(x * 1 + 0)
            assert f(np.int64(5)) == 5 and _ops(f) == ["input"]  # integers: both fold
            z = f(-0.0)  # floats: -0.0 * 1 + 0 is +0.0, so the + 0 must stay
            assert z == 0.0 and not np.signbit(z) and _ops(f) == ["input", "constant", "add"]
            g = ga.compile(x * 1.0)
            assert g(-0.0) == 0.0 and np.signbit(g(-0.0)) and _ops(g) == ["input"]
            nan = ga.compile(0.0 * x)
            assert np.isnan(nan(np.inf)) and np.isnan(nan(np.nan))

    def test_specialized_graph_is_the_declared_graph(self):
        """Undeclared symbols specialized to float64 (3,) give the same optimized graph,
        node for node, as symbols declared float64 (3,)."""

        def build(x, y):
            return ga.grad(ga.sum(ga.tanh(x * y) + x**2), [x, y])

        with ga.Graph():
            a = ga.compile(build(*ga.symbols("x y")))
            a(np.ones(3), np.ones(3))
        with ga.Graph():
            x = ga.symbol("x", shape=(3,), dtype="float64")
            y = ga.symbol("y", shape=(3,), dtype="float64")
            b = ga.compile(build(x, y))
        assert sorted(_ops(a)) == sorted(_ops(b))
        assert _renumbered(a.source) == _renumbered(b.source)


def _renumbered(source):
    """The body with node names numbered in order of appearance (ids differ per graph)."""
    import re

    body = source[source.index("def graphad_function") :]
    names: dict[str, str] = {}
    return re.sub(r"\bv\d+\b", lambda m: names.setdefault(m.group(0), f"v{len(names)}"), body)


class TestFunctionSignatures:
    def test_broadcasting_is_summed_per_signature(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            f = ga.compile(ga.grad(x * y, [x, y]))
        gx, gy = f(2.0, 5.0)
        assert (float(gx), float(gy)) == (5.0, 2.0)
        gx, gy = f(2.0, np.array([1.0, 2.0, 3.0]))  # x broadcast over y: its gradient sums
        assert float(gx) == 6.0 and np.array_equal(gy, [2.0, 2.0, 2.0])
        gx, gy = f(np.ones((2, 1)), np.ones(3))
        assert np.array_equal(gx, [[3.0], [3.0]]) and np.array_equal(gy, [2.0, 2.0, 2.0])
        assert f.signatures == [
            "x: float64[], y: float64[]",
            "x: float64[], y: float64[3]",
            "x: float64[2, 1], y: float64[3]",
        ]
        assert f.source.splitlines()[1] == "# specialized for x0: float64[2, 1], x1: float64[3]"

    def test_dtype_is_part_of_the_signature(self):
        with ga.Graph():
            x = ga.symbol("x")
            f = ga.compile(x * 2.0)
        assert f(np.float32(1.5)).dtype == np.float32
        assert f(np.array([1, 2], dtype=np.int8)).dtype == np.float64
        for _ in range(2):  # the second round takes the arrays' fast path: same answers
            assert f(np.ones(2, np.float32)).dtype == np.float32
            assert f(np.ones(2, np.float64)).dtype == np.float64
            assert f(np.ones((2, 2), np.float32)).shape == (2, 2)

    def test_the_cache_is_bounded(self):
        with ga.Graph():
            x = ga.symbol("x")
            f = ga.compile(ga.sin(x))
        for n in range(CACHE_SIZE + 5):
            assert f(np.zeros(n + 1)).shape == (n + 1,)
        assert len(f.signatures) == CACHE_SIZE

    def test_shape_errors_name_the_op_when_called(self):
        with ga.Graph():
            a, b = ga.symbols("a b")
            f = ga.compile(a @ b)
        np.testing.assert_array_equal(f(np.eye(2), np.ones(2)), [1.0, 1.0])
        with pytest.raises(ga.ShapeError, match=r"matmul: shapes \(2, 3\) and \(2,\)"):
            f(np.ones((2, 3)), np.ones(2))

    def test_export_of_undeclared_inputs_runs_for_any_shape(self, tmp_path):
        with ga.Graph():
            x, y = ga.symbols("x y")
            f = ga.compile(ga.grad(x * y, x))
        f(1.0, 2.0)  # a scalar specialization exists; the module must not be it
        path = tmp_path / "gx.py"
        ga.export(f, path)
        spec = importlib.util.spec_from_file_location("gx", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        (got,) = mod.graphad_function(np.float64(2.0), np.array([1.0, 2.0, 3.0]))
        assert float(got) == 6.0

    def test_specialize_leaves_the_graph_alone(self):
        with ga.Graph() as g:
            x = ga.symbol("x")
            e = ga.grad(ga.sum(x**2), x)
            before = len(g)
            spec = specialize(g, [e.id], [x.id], [((4,), np.dtype("float32"))])
        assert len(g) == before
        assert spec.graph.node(spec.outputs[0])["shape"] == (4,)
        assert spec.graph.node(spec.outputs[0])["dtype"] == np.float32
        helpers = {"sum_to_like", "ones_like", "unreduce", "broadcast_like", "numel"}
        assert not helpers & {spec.graph.op(n) for n in spec.graph.nodes()}


class TestWhereNodesGo:
    def test_gradients_build_in_their_own_graph_whatever_the_default(self):
        """A rule or lowering that builds a node of constants alone (a reduction's seed
        broadcast) puts it in the expression's graph, not the innermost ``with`` graph."""
        g = ga.Graph()
        x = ga.symbol("x", shape=(3,), dtype="float32", graph=g)
        with ga.Graph() as other:
            gx = ga.grad(ga.sum(x * 2.0), x)
            got = gx.eval(x=np.ones(3, np.float32))
            f = ga.compile(ga.grad(ga.sum(ga.symbol("y", graph=g) ** 2), "y"))
            assert np.array_equal(f(np.arange(3.0)), [0.0, 2.0, 4.0])
        assert len(other) == 0
        assert got.dtype == np.float32 and np.array_equal(got, [2.0, 2.0, 2.0])


class TestComputationLimits:
    """Issue 13, class 5: a limit on the whole computation, not one tensor."""

    def test_peak_of_a_chain_is_two_arrays(self):
        from graphad.transforms.specialize import peak_live_elements

        with ga.Graph() as g:
            x = ga.symbol("x", shape=(4,), dtype="float64")
            z = ga.sin(x) * 2.0  # x and sin(x) alive together, then sin(x) and the product
            assert peak_live_elements(g, [z.id]) == 8
            view = ga.reshape(ga.broadcast_to(ga.constant(1.0), (1000, 4)), (4000,))
            assert peak_live_elements(g, [view.id]) == 0  # views of a constant: no memory

    def test_a_schedule_over_the_limit_is_refused_before_it_runs(self):
        calls = []
        counted = ga.defop("counted_sin_limits", lambda a: calls.append(1) or np.sin(a),
                           vjp=lambda g, x: [g * ga.cos(x)])  # fmt: skip
        with ga.Graph():
            x = ga.symbol("x")
            e = ga.stack([counted(x * k) for k in (1.0, 2.0, 3.0)])  # all three alive at once
            xv = np.ones(5000)
            with ga.limits.override(max_live_elements=15_000):
                with pytest.raises(ga.LimitError, match="max_live_elements=15,000"):
                    e.eval(x=xv)
                f = ga.compile(e)
                with pytest.raises(ga.LimitError, match="max_live_elements"):
                    f(xv)
                assert calls == []  # refused before anything ran
                assert f(np.ones(10)).shape == (3, 10)  # small inputs are fine
            assert e.eval(x=xv).shape == (3, 5000)  # within the default limit


class TestIntegerGradients:
    """Issue 13, class 6: d(x**2)/dx at int8(100) came out -56 (computed in int8)."""

    def test_gradients_of_integer_values_are_refused(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            g = ga.grad(x**2 * y, x)
            with pytest.raises(ga.DTypeError, match="'x' is differentiated but given int8"):
                g.eval(x=np.int8(100), y=1.0)
            f = ga.compile(g)
            with pytest.raises(ga.DTypeError, match="'x' is differentiated"):
                f(np.int8(100), 1.0)
            assert float(f(100.0, 1.0)) == 200.0  # floats: NumPy's answer
            assert float(g.eval(x=3.0, y=np.int64(2))) == 12.0  # y is not differentiated
            assert ga.compile(x**2)(np.int8(3)) == 9  # forward integer code is untouched
            t = ga.jvp(x**3, {x: 1.0})
            with pytest.raises(ga.DTypeError):
                t.eval(x=np.int32(2))


def test_one_copy_compile_matches_specialize_then_optimize():
    """Compiles specialize and optimize in one copy: the optimized graph has the ops the
    two passes give, and the same values (broadcasting x of shape (3,) against scalar y)."""
    from collections import Counter

    from graphad.transforms.rewrite import optimize_ids, optimize_specialized
    from graphad.transforms.specialize import specialize

    with ga.Graph() as g:
        x, y = ga.symbols("x y")
        f = ga.sum(ga.exp(x) * y + x / (y + 1.0)) + ga.mean(ga.tanh(x)) + (1.0 - x[0]) ** 2
        grads = ga.grad(f, [x, y])
    outs = [f.id] + [e.id for e in grads]
    ins = [x.id, y.id]
    types = [((3,), np.dtype(np.float64)), ((), np.dtype(np.float64))]
    spec = specialize(g, outs, ins, types)
    old, old_outs, _ = optimize_ids(spec.graph, spec.outputs, spec.inputs)
    new, new_outs, new_ins = optimize_specialized(g, outs, ins, types)
    assert Counter(old.op(n) for n in old.topo(old_outs)) == Counter(
        new.op(n) for n in new.topo(new_outs)
    )
    xv, yv = np.array([0.3, -1.2, 2.0]), 0.7
    from graphad.backends.interp import evaluate

    got = evaluate(new, new_outs, {"x": xv, "y": yv})
    want_f = np.sum(np.exp(xv) * yv + xv / (yv + 1.0)) + np.mean(np.tanh(xv)) + (1.0 - xv[0]) ** 2
    assert got[0] == pytest.approx(want_f, rel=1e-14)
    want_gx = np.exp(xv) * yv + 1.0 / (yv + 1.0) + (1 - np.tanh(xv) ** 2) / 3
    want_gx[0] -= 2 * (1.0 - xv[0])
    np.testing.assert_allclose(got[1], want_gx, rtol=1e-13)
    want_gy = np.sum(np.exp(xv) - xv / (yv + 1.0) ** 2)
    assert got[2] == pytest.approx(want_gy, rel=1e-13)
    assert [new.node(i).name for i in new_ins] == ["x", "y"]


def test_nodes_needed_for_their_type_alone_are_not_built():
    """A gradient's ``ones_like(f)`` seed and ``sum_to_like(g, t)`` read f's and t's type
    alone: compiling the gradient infers the forward sum without building it, and the
    values are the hand-derived Rosenbrock gradient, bit for bit the same as without."""
    from graphad.backends.interp import evaluate
    from graphad.transforms.rewrite import _optimize_specialized
    from graphad.transforms.specialize import _shape_only_nodes

    n = 6
    with ga.Graph() as g:
        xs = list(ga.symbols(" ".join(f"x{i}" for i in range(n))))
        f = None
        for i in range(n - 1):
            term = 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
            f = term if f is None else f + term
        grads = ga.grad(f, xs)
    outs, ins = [e.id for e in grads], [x.id for x in xs]
    ghosts = _shape_only_nodes(g.records(), g.topo(outs), outs)
    assert f.id in ghosts  # the forward sum: needed by ones_like for its type only
    types = [((), np.dtype(np.float64))] * n
    vals = np.array([0.5, -1.25, 2.0, -0.0, 3.5, 1.0])
    env = {f"x{i}": float(v) for i, v in enumerate(vals)}
    got = {}
    for shape_only in (True, False):
        new, o, _ = _optimize_specialized(g, outs, ins, types, True, shape_only)
        got[shape_only] = evaluate(new, o, env)
    want = np.zeros(n)
    want[:-1] += -400.0 * vals[:-1] * (vals[1:] - vals[:-1] ** 2) - 2.0 * (1.0 - vals[:-1])
    want[1:] += 200.0 * (vals[1:] - vals[:-1] ** 2)
    np.testing.assert_allclose(np.array(got[True], dtype=float), want, rtol=1e-14)
    for a, b in zip(got[True], got[False], strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
        assert np.asarray(a).dtype == np.asarray(b).dtype == np.float64
    fn = ga.compile(grads, inputs=xs)
    np.testing.assert_allclose(np.array(fn(*vals), dtype=float), want, rtol=1e-14)


def test_type_only_reference_of_another_shape_is_lowered_from_its_type():
    """``sum_to_like(g, t)`` with g of shape (3,) and t = y * 2 of shape () needed for its
    shape alone: t is not built, the lowering sums g from t's type (d/dy = 2 * 3)."""
    from graphad.transforms.specialize import _shape_only_nodes

    with ga.Graph() as g:
        x, y = ga.symbols("x y")
        t = y * 2.0
        f = ga.sum(x + t)
        gx, gy = ga.grad(f, [x, y])
    outs = [gx.id, gy.id]
    assert t.id in _shape_only_nodes(g.records(), g.topo(outs), outs)
    fn = ga.compile([gx, gy], inputs=[x, y])
    vx, vy = fn(np.array([1.0, -2.0, 0.5]), 1.5)
    np.testing.assert_array_equal(vx, np.ones(3))
    assert vy == 6.0 and np.asarray(vy).dtype == np.float64
    # the same values on the path that builds every node
    np.testing.assert_array_equal(gx.eval(x=np.array([1.0, -2.0, 0.5]), y=1.5), np.ones(3))
    assert gy.eval(x=np.array([1.0, -2.0, 0.5]), y=1.5) == 6.0


def test_a_node_left_unbuilt_whose_shape_is_unknown_starts_the_copy_again():
    """A custom op has no shape rule: where ``sum_to_like`` needs such a node's shape,
    specialization raises its internal NeedsValue and the compile starts again building
    every node; the values are the same (d/dx sum(x + 2y) = 1, d/dy = 2 * 3)."""
    from graphad.transforms.specialize import NeedsValue

    with ga.Graph() as g:
        twice = ga.defop("q1_twice", lambda a: 2.0 * a, vjp=lambda g, a: [2.0 * g])
        x, y = ga.symbols("x y")
        f = ga.sum(x + twice(y))
        gx, gy = ga.grad(f, [x, y])
    types = [((3,), np.dtype(np.float64)), ((), np.dtype(np.float64))]
    with pytest.raises(NeedsValue):
        specialize(g, [gx.id, gy.id], [x.id, y.id], types, marks=False, shape_only=True)
    fn = ga.compile([gx, gy], inputs=[x, y])
    vx, vy = fn(np.array([1.0, -2.0, 0.5]), 1.5)
    np.testing.assert_array_equal(vx, np.ones(3))
    assert vy == 6.0
