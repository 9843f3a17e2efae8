"""The graph (hash-consing, ids, roles) and Expr (operators, eval, errors, SymPy bridge)."""

from __future__ import annotations

import numpy as np
import pytest
from graph_state import graph_state

import graphad as ga


def test_symbols_returns_one_or_a_tuple_and_names_identify_inputs():
    with ga.Graph():
        x = ga.symbols("x")
        assert isinstance(x, ga.Expr)
        a, b, c = ga.symbols("a, b c")
        assert (a.name, b.name, c.name) == ("a", "b", "c")
        assert ga.parse("x") is x is ga.symbols("x")


def test_hash_consing_shares_equal_subexpressions():
    with ga.Graph() as g:
        e = ga.parse("sin(x) + sin(x)")
        assert sum(1 for n in g.nodes() if g.op(n) == "sin") == 1
        assert e.args[0] is e.args[1]
        x = ga.symbols("x")
        assert ga.sin(x) is e.args[0]
        # argument order is kept: x - y and y - x are different nodes
        y = ga.symbols("y")
        assert (x - y) is not (y - x)
        assert (x - y).eval(x=5.0, y=2.0) == 3.0


def test_constants_of_different_types_are_different_nodes():
    with ga.Graph():
        x = ga.symbols("x")
        assert (x * 1) is not (x * 1.0)
        assert (x + 0.0) is not (x + (-0.0))


def test_node_ids_are_deterministic_across_graphs():
    def build():
        with ga.Graph() as g:
            x, y = ga.symbols("x y")
            e = x**2 + ga.sin(x * y)
            ga.grad(e, [x, y])
        return [(n, g.op(n), g.args(n), g.node(n)["role"]) for n in sorted(g.nodes())]

    assert build() == build()


def test_separate_graphs_do_not_mix():
    with ga.Graph():
        x1 = ga.symbols("x")
    with ga.Graph():
        x2 = ga.symbols("x")
    assert x1 is not x2
    with pytest.raises(ga.GraphadError, match="different graphs"):
        _ = x1 + x2


def test_edges_mirror_argument_tuples():
    with ga.Graph() as g:
        x = ga.symbols("x")
        e = x * x - x
        for n in g.nodes():
            assert set(g.nx.predecessors(n)) == set(g.args(n))
        assert g.args(e.args[0].id) == (x.id, x.id)


def test_static_shapes_and_shape_errors_at_build_time():
    with ga.Graph():
        A = ga.symbol("A", shape=(3, 4))
        B = ga.symbol("B", shape=(5, 2))
        assert (A @ ga.symbol("v", shape=(4,))).shape == (3,)
        with pytest.raises(ga.ShapeError, match=r"matmul.*\(3, 4\).*\(5, 2\)"):
            _ = A @ B
        with pytest.raises(ga.ShapeError, match=r"add.*\(3, 4\).*\(5, 2\)"):
            _ = A + B


def test_shape_errors_at_evaluation_when_shapes_are_unknown():
    with ga.Graph():
        a, b = ga.symbols("a b")
        e = a @ b
        with pytest.raises(ga.ShapeError, match="matmul"):
            e.eval(a=np.ones((3, 4)), b=np.ones((5, 2)))


def test_eval_semantics():
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = x * y
        r = e.eval(x=3.0, y=2.0)
        assert isinstance(r, np.float64) and r == 6.0
        assert e.eval({"x": 3.0, "y": 2.0, "unused": 1.0}) == 6.0
        assert e.eval({x: 3.0}, y=2.0) == 6.0
        assert isinstance(e.eval(x=np.ones(3), y=2.0), np.ndarray)
        with pytest.raises(ga.MissingInputError, match="'y'"):
            e.eval(x=1.0)
        with pytest.raises(ga.DTypeError, match="'x'"):
            e.eval(x="abc", y=1.0)


def test_declared_dtype_and_shape_are_enforced():
    with ga.Graph():
        W = ga.symbol("W", shape=(2, 2), dtype="float32")
        assert W.eval(W=np.ones((2, 2))).dtype == np.float32
        with pytest.raises(ga.ShapeError, match="'W'"):
            W.eval(W=np.ones(3))
        with pytest.raises(ga.DTypeError, match="'W'"):
            W.eval(W=np.ones((2, 2), dtype=complex))
        with pytest.raises(ga.GraphadError, match="already declared"):
            ga.symbol("W", shape=(3, 3))


def test_comparisons_build_boolean_nodes_and_truth_value_is_an_error():
    with ga.Graph():
        x = ga.symbols("x")
        c = x > 0
        assert c.dtype is None or c.dtype == bool
        np.testing.assert_array_equal(ga.where(c, x, -x).eval(x=np.array([-2.0, 3.0])), [2, 3])
        with pytest.raises(TypeError, match="ambiguous"):
            bool(c)
        assert {x: 1}[x] == 1  # Exprs are hashable and interned


def test_methods_mirror_numpy():
    with ga.Graph():
        x = ga.symbols("x")
        a = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(x.T.eval(x=a), a.T)
        np.testing.assert_array_equal(x.sum(axis=0).eval(x=a), a.sum(axis=0))
        np.testing.assert_array_equal(
            x.mean(axis=1, keepdims=True).eval(x=a), a.mean(axis=1, keepdims=True)
        )
        np.testing.assert_array_equal(x.reshape(3, 2).eval(x=a), a.reshape(3, 2))
        np.testing.assert_array_equal((-x).eval(x=a), -a)
        assert ga.parse("y * x + z").free_symbols == ("x", "y", "z")


def test_numpy_scalars_on_the_left_defer_to_expr():
    with ga.Graph():
        x = ga.symbols("x")
        e = np.float64(2.0) * x
        assert isinstance(e, ga.Expr) and e.eval(x=3.0) == 6.0


def test_str_is_reparseable():
    with ga.Graph():
        for text in [
            "x ** 2 + sin(x * y) - 1",
            "-(x + y) ** 2",
            "(x - y) - (z - x)",
            "x / (y * z)",
            "2 ** -x",
            "sum(x, axis=0, keepdims=True)",
        ]:
            e = ga.parse(text)
            back = ga.parse(str(e))
            # the printer collects terms ((x - y) - (z - x) prints 2 * x - y - z): the text
            # means the same function, so it evaluates to the same values
            assert back.free_symbols == e.free_symbols, text
            at = {"x": np.array([0.7, -1.3]), "y": np.array([1.9, 0.4]), "z": 2.5}
            np.testing.assert_allclose(back.eval(at), e.eval(at), rtol=1e-14, err_msg=text)


def test_to_and_from_sympy_roundtrip():
    sympy = pytest.importorskip("sympy")
    with ga.Graph():
        e = ga.parse("x**2 + sin(x*y) - exp(y)/(1 + x**2) + sqrt(abs(y))")
        s = ga.to_sympy(e)
        x, y = sympy.symbols("x y", real=True)
        assert (
            sympy.simplify(
                s - (x**2 + sympy.sin(x * y) - sympy.exp(y) / (1 + x**2) + sympy.sqrt(sympy.Abs(y)))
            )
            == 0
        )
        back = ga.from_sympy(s)
        pt = {"x": 0.7, "y": -1.3}
        assert float(back.eval(pt)) == pytest.approx(float(e.eval(pt)), rel=1e-14)
        gx = ga.grad(back, "x")
        assert float(gx.eval(pt)) == pytest.approx(float(sympy.diff(s, x).subs({x: 0.7, y: -1.3})))


def test_sympy_bridge_is_iterative_on_deep_expressions():
    pytest.importorskip("sympy")
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for _ in range(1000):  # deeper than the 200 levels SymPy simplifies eagerly
            e = ga.sin(e)
        s = ga.to_sympy(e)
        back = ga.from_sympy(s)
        assert float(back.eval(x=0.3)) == pytest.approx(float(e.eval(x=0.3)), rel=1e-14)


def test_to_sympy_refuses_tensor_constants_clearly():
    with ga.Graph():
        x = ga.symbols("x")
        with pytest.raises(ga.GraphadError, match="tensor constant"):
            ga.to_sympy(x * ga.constant(np.ones(3)))


def test_parse_errors_carry_position_and_caret():
    with pytest.raises(ga.ParseError) as info:
        ga.parse("2x + 1")
    assert info.value.position == 1 and "2*x" in str(info.value)
    assert "^" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ga.ParseError, match="foo"):
        ga.parse("foo(x)")


def test_weak_python_scalars_fold_without_overflow():
    with ga.Graph():
        e = ga.parse("9**9**9")  # folds to inf instead of building a huge integer
        assert e.op == "constant" and e.eval() == np.inf
        assert ga.parse("2**-1").eval() == 0.5


def test_redeclaring_an_input_is_an_error_that_changes_nothing():
    """A declared shape or dtype is a constraint fixed at the first ga.symbol: declaring the
    input again differently raises, and what was built with it still evaluates."""
    with ga.Graph() as g:
        x = ga.symbol("x")
        e = ga.sin(x)
        with pytest.raises(ga.GraphadError, match="already declared with no shape"):
            ga.symbol("x", shape=(2,))
        with pytest.raises(ga.GraphadError, match="already declared with no dtype"):
            ga.symbol("x", dtype="float32")
        assert g.node(x.id)["shape"] is None and g.node(x.id)["dtype"] is None
        assert float(e.eval(x=1.0)) == np.sin(1.0)
        y = ga.symbol("y", shape=(3,), dtype="float64")
        assert ga.symbol("y", shape=(3,)) is y and ga.symbols("y") is y  # same, or unsaid
        with pytest.raises(ga.GraphadError, match=r"shape \(3,\), not \(4,\)"):
            ga.symbol("y", shape=(4,))


# -- Graph.transaction: all or nothing -------------------------------------------------------------


class _Stop(Exception):
    pass


def test_transaction_keeps_what_a_successful_block_built():
    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    with g.transaction():
        e = ga.sin(x) + ga.symbol("y", graph=g)
    assert sorted(g.inputs()) == ["x", "y"]
    assert float(e.eval(x=0.0, y=2.0)) == 2.0


def test_transaction_undoes_nodes_and_inputs():
    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    kept = ga.exp(x) * 2.0
    before = graph_state(g)
    with pytest.raises(_Stop), g.transaction():
        y = ga.symbol("y", shape=(3,), dtype="float32", graph=g)
        big = ga.constant(np.arange(100_000.0), graph=g)  # pinned: keyed by identity
        ga.sum(ga.sin(x) * y + big[:3])
        raise _Stop
    assert graph_state(g) == before
    assert x.shape is None and "y" not in g.inputs()
    # the graph works as before
    assert float((kept + 1.0).eval(x=0.0)) == 3.0
    np.testing.assert_array_equal((x * 2.0).eval(x=np.ones((2, 2))), np.full((2, 2), 2.0))
    # a node built again after the rollback is a new node, not a stale handle's id
    s = ga.sin(x)
    assert s.id in g and float(s.eval(x=0.0)) == 0.0


def test_a_redeclaration_inside_a_transaction_is_refused_and_rolled_back():
    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    before = graph_state(g)
    with pytest.raises(ga.GraphadError, match="already declared"), g.transaction():
        ga.sin(x) + ga.symbol("z", graph=g)
        ga.symbol("x", shape=(3,), graph=g)
    assert graph_state(g) == before and x.shape is None


def test_nested_transactions_undo_only_their_own_block():
    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    with g.transaction():
        a = ga.sin(x)
        inner_before = graph_state(g)
        with pytest.raises(_Stop), g.transaction():
            ga.cos(a) + ga.symbol("z", graph=g)
            raise _Stop
        assert graph_state(g) == inner_before
        b = ga.cos(a)
    assert float(b.eval(x=0.0)) == 1.0 and sorted(g.inputs()) == ["x"]


def test_transaction_blocks_other_threads_so_their_nodes_survive_a_rollback():
    import threading

    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    got = {}

    def build():
        got["e"] = ga.tanh(x) * 3.0

    with pytest.raises(_Stop), g.transaction():
        ga.sin(x)
        t = threading.Thread(target=build)
        t.start()
        t.join(0.2)  # it waits for the graph's lock, whenever it gets there
        raise _Stop
    t.join(10)
    e = got["e"]
    assert e.id in g and float(e.eval(x=0.0)) == 0.0
    assert not any(g.op(n) == "sin" for n in g.nodes())


def test_transaction_handles_an_input_made_inside_the_block():
    g = ga.Graph()
    a = ga.symbol("a", graph=g)
    before = graph_state(g)
    with pytest.raises(_Stop), g.transaction():
        b = ga.symbol("b", shape=(2,), graph=g)
        with pytest.raises(_Stop), g.transaction():
            ga.sin(b) * ga.symbol("c", graph=g)
            raise _Stop
        assert sorted(g.inputs()) == ["a", "b"]
        raise _Stop
    assert graph_state(g) == before and a.shape is None
