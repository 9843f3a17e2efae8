"""Issue 13, state integrity: one test class per issue class handled here.

* ``TestMixedGraphs`` (class 2): constants and Variables combine with the
  expressions of any graph (optimizers, tapes, ``nn``, the checker's copies);
  non-constant operands of different graphs are still an error.
* ``TestLoadLimits`` (class 4, ``ga.load``): the parser's limits, per-op
  parameter checks derived from the op table, and a failed load that changes
  nothing; ``tests/corpus/persist_hostile.jsonl`` holds crafted files.
* ``TestFailedCallsChangeNothing`` (class 7): rejected parses, unknown input
  names, refused ``defop`` names, exports that cannot be written, file modes.
* ``TestFoldingAndMaskedArrays`` (class 6): constant folding never wraps
  int64; masked arrays are refused at every intake.

References are hand computed, NumPy, or Python's exact integer arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga

RNG = np.random.default_rng(1313)


def _graph_state(g):
    """Everything a failed call must leave as it was (``sclass`` is a lazy cache)."""
    nodes = []
    for n in sorted(g.nodes()):
        node = g.node(n)
        facts = ("op", "args", "params", "role", "shape", "dtype", "name", "adjoint")
        nodes.append((n, *(repr(node.get(f)) for f in facts)))
    return nodes, g.inputs(), dict(g._cons)


# -- class 2 -------------------------------------------------------------------------------------


class TestMixedGraphs:
    A = RNG.normal(size=(6, 3))
    b = RNG.normal(size=6)

    def test_minimize_with_constants_made_outside_the_optimizer(self):
        A, b = self.A, self.b
        Ac, bc = ga.constant(A), ga.constant(b)
        w = ga.Variable(np.zeros(3))
        opt = ga.optim.SGD(0.05)
        want = np.zeros(3)
        for _ in range(5):
            opt.minimize(lambda: ga.sum((Ac @ w - bc) ** 2), var_list=[w])
            want = want - 0.05 * 2 * A.T @ (A @ want - b)  # the SGD step, by hand
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-12, atol=1e-14)

    def test_constant_only_subexpressions_go_to_the_graph_being_built(self):
        # Ac.T has no non-constant operand: inside the optimizer's trace it must become
        # a node of the trace's graph, not of the graph Ac was made in
        A, b = self.A, self.b
        Ac, bc = ga.constant(A), ga.constant(b)
        home = Ac.graph
        before = len(home)
        w = ga.Variable(np.ones(3))
        ga.optim.SGD(0.1).minimize(lambda: ga.sum((w @ Ac.T - bc) ** 2), var_list=[w])
        np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 2 * A.T @ (A @ np.ones(3) - b))
        assert len(home) == before

    def test_tape_gradient_with_constants_made_outside(self):
        A, b = self.A, self.b
        Ac, bc = ga.constant(A), ga.constant(b)
        w0 = RNG.normal(size=3)
        w = ga.Variable(w0)
        with ga.GradientTape() as tape:
            loss = ga.sum((Ac @ w - bc) ** 2)
        np.testing.assert_allclose(tape.gradient(loss, w), 2 * A.T @ (A @ w0 - b), rtol=1e-12)

    def test_a_constant_is_adopted_by_the_graph_being_built(self):
        A = self.A
        with ga.Graph() as g1:
            Ac = ga.constant(A)
        n1 = len(g1)
        with ga.Graph() as g2:
            x = ga.symbol("x", shape=(3,))
            e = Ac @ x
            again = x @ Ac.T  # the same constant, adopted once (hash-consed)
        assert e.graph is g2 and len(g1) == n1  # nothing was added to the constant's graph
        consts = [n for n in g2.nodes() if g2.op(n) == "constant"]
        assert len(consts) == 1
        # the value is shared, not copied: constants hold private read-only arrays
        assert g2.node(consts[0])["value"] is g1.node(Ac.id)["value"]
        xv = RNG.normal(size=3)
        np.testing.assert_allclose(e.eval(x=xv), A @ xv, rtol=1e-13)
        np.testing.assert_allclose(again.eval(x=xv), xv @ A.T, rtol=1e-13)
        # inside a list argument too
        with g2:
            cat = ga.concatenate([x, ga.constant(np.array([5.0]), graph=g1)])
        np.testing.assert_array_equal(cat.eval(x=np.ones(3)), [1, 1, 1, 5])

    def test_large_constants_keyed_by_identity_stay_alive_in_the_adopting_graph(self):
        big = np.arange(70_000.0)  # over graphad.graph._CONTENT_KEY_MAX: keyed by id()
        with ga.Graph():
            c = ga.constant(big)
        with ga.Graph() as g2:
            x = ga.symbol("x")
            e = ga.sum(c * x)
        del c
        import gc

        gc.collect()
        assert float(e.eval(x=2.0)) == 2 * big.sum()
        assert any(v is g2.node(n).get("value") for n in g2.nodes() for v in g2._pinned)

    def test_scalar_constants_keep_their_weak_type_when_adopted(self):
        with ga.Graph():
            two = ga.constant(2.0)
        with ga.Graph():
            x = ga.symbol("x", dtype="float32")
            e = x * two
        assert e.dtype == np.float32
        assert e.eval(x=np.float32(1.5)).dtype == np.float32

    def test_non_constants_of_different_graphs_are_still_an_error(self):
        with ga.Graph():
            x1 = ga.symbols("x")
            s1 = ga.sin(x1)
        with ga.Graph():
            x2 = ga.symbols("x")
        with pytest.raises(ga.GraphadError, match=r"different graphs.*input 'x'"):
            x1 + x2
        with pytest.raises(ga.GraphadError, match="only constants move between graphs"):
            ga.concatenate([x2, s1])
        with pytest.raises(ga.GraphadError, match=r"sin node.*different graph"):
            ga.ops.as_expr(s1, x2.graph)

    def test_constants_of_several_graphs_alone_go_to_the_default_graph(self):
        with ga.Graph():
            a = ga.constant(np.array([1.0, 2.0]))
        with ga.Graph():
            b = ga.constant(np.array([3.0, 4.0]))
        with ga.Graph() as g3:
            s = a + b
        assert s.graph is g3
        np.testing.assert_array_equal(s.eval(), [4.0, 6.0])

    def test_check_grad_runs_custom_rules_in_its_private_copy(self):
        c = np.array(2.5)
        # the rule builds a constant-only product: it must land in the checker's copy
        good = ga.defop(
            "rs_scale_good",
            lambda x: x * 2.5,
            vjp=lambda g, x: [g * (ga.constant(c) * ga.constant(np.array(1.0)))],
        )
        bad = ga.defop(
            "rs_scale_bad",
            lambda x: x * 2.5,
            vjp=lambda g, x: [g * (ga.constant(c) * ga.constant(np.array(1.1)))],
        )
        at = [RNG.normal(size=3)]
        assert ga.check_grad(lambda x: ga.sum(good(x) ** 2), at=at).verdict == "pass"
        assert ga.check_grad(lambda x: ga.sum(bad(x) ** 2), at=at).verdict == "fail"
        with ga.Graph() as g:
            y = ga.symbol("y")
            e = ga.sum(good(y) ** 2)
        before = len(g)
        assert ga.check_grad(e, at={"y": at[0]}).verdict == "pass"
        assert len(g) == before  # the rules' nodes went to the copy, not the user's graph

    def test_nn_custom_loss_with_an_outside_constant(self):
        weights = np.array([1.0, 3.0], dtype=np.float32)
        cw = ga.constant(weights)
        ga.nn.set_random_seed(3)
        model = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(4,))])
        model.compile(optimizer="sgd", loss=lambda y, p: ga.sum(cw * (y - p) ** 2, axis=-1))
        X = RNG.normal(size=(8, 4)).astype(np.float32)
        Y = RNG.normal(size=(8, 2)).astype(np.float32)
        got = model.evaluate(X, Y, batch_size=8)
        got = float(got[0] if isinstance(got, list | tuple) else got)
        P = model.predict(X)
        want = float(np.mean(np.sum(weights * (Y - P) ** 2, axis=-1)))
        assert got == pytest.approx(want, rel=1e-5)
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0)  # trains without a graph error
