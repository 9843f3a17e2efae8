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

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from graph_state import graph_state
from hypothesis import given, settings
from hypothesis import strategies as st

import graphad as ga
from graphad.backends._persist_reader import _param_names
from graphad.backends.persist import dumps, loads
from graphad.ops import OPS

RNG = np.random.default_rng(1313)


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
        big = np.arange(70_000.0)  # over graphad.core.graph._CONTENT_KEY_MAX: keyed by id()
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


# -- class 4 (ga.load) ---------------------------------------------------------------------------

CORPUS = Path(__file__).parent / "corpus" / "persist_hostile.jsonl"


def _corpus():
    with CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _doc(build):
    with ga.Graph():
        return json.loads(dumps(build()))


def _node(doc, op):
    return next(n for n in doc["nodes"] if n["op"] == op)


class TestLoadLimits:
    def test_corpus_covers_limits_and_params(self):
        entries = _corpus()
        assert len(entries) >= 15
        assert {e["category"] for e in entries} == {"limits", "params"}
        assert len({e["name"] for e in entries}) == len(entries)

    @pytest.mark.parametrize("entry", _corpus(), ids=lambda e: e["name"])
    def test_crafted_file_is_refused_and_changes_nothing(self, entry, tmp_path):
        g = ga.Graph()
        x = ga.symbol("x", graph=g)
        ga.sin(x) * 2.0
        before = graph_state(g)
        path = tmp_path / "crafted.json"
        path.write_text(json.dumps(entry["doc"]), encoding="utf-8")
        with pytest.raises(ga.GraphadError, match=entry["error"]) as info:
            ga.load(path, graph=g)
        assert str(path) in str(info.value)
        assert graph_state(g) == before

    def test_shape_parameters_obey_max_elements_as_the_parser_does(self):
        doc = _doc(lambda: ga.broadcast_to(ga.symbol("x"), (10, 99)))
        text = json.dumps(doc)
        with ga.limits.override(max_elements=990):
            (e,) = loads(text)  # 990 elements: at the limit
            np.testing.assert_array_equal(e.eval(x=2.0), np.full((10, 99), 2.0))
        with ga.limits.override(max_elements=989):
            with pytest.raises(ga.GraphadError, match="max_elements=989"):
                loads(text)
            # the parser refuses the same text, naming the same limit
            with pytest.raises(ga.ParseError, match="max_elements=989"), ga.Graph():
                ga.parse("broadcast_to(x, (10, 99))")

    def test_huge_shape_is_refused_before_anything_is_allocated(self):
        import tracemalloc

        doc = _doc(lambda: ga.broadcast_to(ga.symbol("x"), (2, 2)))
        _node(doc, "broadcast_to")["params"]["shape"] = [100_000, 100_000, 100_000]
        text = json.dumps(doc)
        tracemalloc.start()
        try:
            with pytest.raises(ga.GraphadError, match="max_elements"):
                loads(text)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 10_000_000  # a few MB of bookkeeping, not 8e15 bytes

    @pytest.mark.parametrize(
        "name",
        sorted(n for n, op in OPS.items() if op.elementwise and not op.custom and not op.keywords),
    )
    def test_every_elementwise_op_refuses_any_parameter(self, name):
        op = OPS[name]
        assert _param_names(op) == frozenset()
        doc = _doc(lambda: ga.ops.apply(name, *[ga.symbol(f"a{i}") for i in range(op.nargs)]))
        for params in ({"where": False}, {"out": None}, {"dtype": "float16"}):
            _node(doc, name)["params"] = params
            with pytest.raises(ga.GraphadError, match=f"{name} takes no parameters"):
                loads(json.dumps(doc))

    def test_allowed_parameters_are_those_of_the_op_declaration(self):
        # hand-written references for a few ops, one per way the set is derived
        assert _param_names(OPS["sum"]) == {"axis", "keepdims"}  # test_params, emit
        assert _param_names(OPS["broadcast_to"]) == {"shape"}
        assert _param_names(OPS["concat_part"]) == {"index", "axis"}  # impl's keyword-only
        assert _param_names(OPS["stack_part"]) == {"index", "count", "axis"}  # impl's extras
        assert _param_names(OPS["matmul"]) == frozenset()  # ufunc: signature not used
        cube = ga.defop("rs_cube", lambda x: x**3, vjp=lambda g, x: [3 * g * x * x])
        assert _param_names(cube.op) == frozenset()

    def test_everything_graphad_writes_still_loads(self):
        # every public op with each of its test parameters, its gradient, a forward-mode
        # derivative and a second derivative: all parameters graphad itself writes
        used: dict[str, set] = {}
        for name, op in sorted(OPS.items()):
            if op.internal or op.custom:
                continue
            for params in op.test_params:
                with ga.Graph() as g:
                    n = 2 if op.nargs is None else op.nargs
                    syms = [ga.symbol(f"a{i}") for i in range(n)]
                    fn = getattr(ga.ops, name)  # ga.linalg ops too
                    e = fn(syms, **params) if op.nargs is None else fn(*syms, **params)
                    outs = [e]
                    if op.differentiable:
                        gs = ga.grad(ga.sum(e), syms)
                        outs += [*gs, ga.jvp(e, {s: ga.ones_like(s) for s in syms})]
                        outs += ga.grad(ga.sum(gs[0] * gs[0]), syms)
                    for nid in g.nodes():
                        for key, _ in g.node(nid)["params"]:
                            used.setdefault(g.op(nid), set()).add(key)
                    back = loads(dumps(outs))
                    assert [str(b) for b in back] == [str(o) for o in outs]
        for op_name, keys in used.items():
            assert keys <= _param_names(OPS[op_name]), op_name
        assert {"unreduce", "concat_part", "stack_part", "getitem_grad"} <= set(used)

    def test_failed_load_leaves_the_target_graph_exactly_as_it_was(self):
        with ga.Graph():
            x = ga.symbol("x", shape=(3,))
            y = ga.symbol("fresh", shape=(3,))
            doc = json.loads(dumps([ga.sin(x) * y, ga.cos(x)]))
        _node(doc, "cos")["params"] = {"where": False}  # the last node is bad
        g = ga.Graph()
        xg = ga.symbol("x", shape=(3,), graph=g)  # as the file declares it
        kept = ga.sin(xg)  # the file's sin(x) is this very node
        before = graph_state(g)
        with pytest.raises(ga.GraphadError, match="cos takes no parameters"):
            loads(json.dumps(doc), graph=g)
        assert graph_state(g) == before
        assert xg.shape == (3,) and "fresh" not in g.inputs()
        np.testing.assert_allclose(kept.eval(x=np.ones(3)), np.sin(np.ones(3)))
        g2 = ga.Graph()
        ga.symbol("x", graph=g2)  # declared without a shape: the file's (3,) is refused
        before = graph_state(g2)
        with pytest.raises(ga.GraphadError, match="already declared with no shape"):
            loads(json.dumps(doc), graph=g2)
        assert graph_state(g2) == before

    def test_bad_adjoint_mark_leaves_no_mark_on_existing_nodes(self):
        with ga.Graph():
            x = ga.symbol("x")
            e = x**2
            doc = json.loads(dumps([e, ga.grad(e, x)]))
        doc["nodes"][-1]["adjoint"] = [[0, 99]]  # checked after the others are read
        g = ga.Graph()
        with g:
            xg = ga.symbol("x")
            eg = xg**2
            gg = ga.grad(eg, xg)
        for n in g.nodes():  # a graph without marks, sharing every node with the file
            g.node(n).pop("adjoint", None)
        before = graph_state(g)
        with pytest.raises(ga.GraphadError, match="99 is not the id"):
            loads(json.dumps(doc), graph=g)
        assert graph_state(g) == before
        assert all("adjoint" not in g.node(n) for n in g.nodes())
        assert float(gg.eval(x=3.0)) == 6.0
        # the good file writes its marks
        doc["nodes"][-1].pop("adjoint")
        good = json.loads(dumps([e, ga.grad(e, x)]))
        loads(json.dumps(good), graph=g)
        assert any("adjoint" in g.node(n) for n in g.nodes())


# -- class 7 -------------------------------------------------------------------------------------

TERMS = ["a", "b", "sin(c)", "d*e", "exp(f)", "2.5", "g**2"]
BAD_TEXTS = [
    "a1 + b1 + sin(c1) + 2x",  # fails after three inputs and two nodes
    "u1*v1 + broadcast_to(w1, (100000, 100000, 100000))",  # max_elements, late
    "p1 + q1 +",
    "m1 @ n1 + where(k1)",  # a call with the wrong arity
    "s1 * t1 + reshape(3.0, (2, 3))",  # ShapeError, which propagates unchanged
    "exp(r1) + nosuchfunction(r1)",
]


def _failing_rule_op():
    def vjp(g, x):
        ga.exp(x) * g  # builds nodes, then fails
        raise ValueError("rule failed")

    return ga.defop("rs_failing_rule", np.sin, vjp=vjp)


class TestFailedCallsChangeNothing:
    @pytest.mark.parametrize("text", BAD_TEXTS)
    def test_rejected_parse_leaves_the_default_graph_as_it_was(self, text):
        with ga.Graph() as g:
            x = ga.symbols("x")
            ga.sin(x) + 1.0
            before = graph_state(g)
            with pytest.raises(ga.GraphadError):
                ga.parse(text)
            assert graph_state(g) == before
        # the shared global default graph too
        shared = ga.get_default_graph()
        before = graph_state(shared)
        with pytest.raises(ga.GraphadError):
            ga.parse(text)
        assert graph_state(shared) == before

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(
        terms=st.lists(st.sampled_from(TERMS), min_size=1, max_size=6),
        fault=st.sampled_from(["* /", "2z", ")", "sin(", "h +* i", "broadcast_to(j, (10**9,))"]),
        cut=st.integers(0, 6),
    )
    def test_parse_is_all_or_nothing(self, terms, fault, cut):
        g = ga.Graph()
        ga.symbol("a", graph=g) * 2.0
        before = graph_state(g)
        parts = list(terms)
        parts.insert(min(cut, len(parts)), fault)
        with pytest.raises(ga.GraphadError):
            ga.parse(" + ".join(parts), graph=g)
        assert graph_state(g) == before
        # the same terms without the fault still parse, into the same graph
        good = ga.parse(" + ".join(terms), graph=g)
        assert good.graph is g

    def test_unknown_input_names_are_errors_that_add_nothing(self):
        with ga.Graph() as g:
            x, y, _ = ga.symbols("x y unused")
            e = x * y
            before = graph_state(g)
            with pytest.raises(ga.UnknownNameError, match="typo"):
                ga.compile(e, inputs=[x, "typo"])
            with pytest.raises(ga.UnknownNameError, match=r"'nope'.*inputs: 'unused', 'x', 'y'"):
                ga.grad(e, "nope")
            with pytest.raises(ga.UnknownNameError, match="nope"):
                ga.grad(e, [x, "nope"])
            with pytest.raises(ga.UnknownNameError, match="nope"):
                ga.jvp(e, {"nope": 1.0})
            with pytest.raises(ga.UnknownNameError, match="nope"):
                ga.hessian(e, ["x", "nope"])
            assert graph_state(g) == before
            # a declared input e does not use still has a zero gradient of its shape
            gu = ga.grad(e, "unused")
            got = gu.eval(x=1.0, y=2.0, unused=np.ones((2, 3)))
            np.testing.assert_array_equal(got, np.zeros((2, 3)))
            f = ga.compile(e, inputs=[x, y, "unused"])
            assert f(2.0, 3.0, 7.0) == 6.0

    def test_differentiating_with_respect_to_a_non_input_is_a_clear_error(self):
        with ga.Graph() as g:
            x, y = ga.symbols("x y")
            e = ga.sin(x * y)
            xy, two = x * y, ga.constant(2.0)  # made by the test, before the snapshot
            before = graph_state(g)
            with pytest.raises(ga.GraphadError, match="not the multiply node"):
                ga.grad(e, xy)
            with pytest.raises(ga.GraphadError, match="not a constant"):
                ga.grad(e, two)
            with pytest.raises(ga.GraphadError, match="got int"):
                ga.grad(e, 3)
            with pytest.raises(ga.GraphadError, match="got NoneType"):
                ga.grad(e, [x, None])
            with pytest.raises(ga.GraphadError, match="not the sin node"):
                ga.jacobian(e, e)
            assert graph_state(g) == before

    def test_a_tape_still_differentiates_with_respect_to_intermediate_tensors(self):
        x = ga.Variable(2.0)
        with ga.GradientTape(persistent=True) as tape:
            y = x * x
            z = y * 3.0 + ga.sin(y)
        assert float(tape.gradient(z, y)) == pytest.approx(3.0 + np.cos(4.0), rel=1e-14)
        assert float(tape.gradient(z, x)) == pytest.approx((3.0 + np.cos(4.0)) * 4.0, rel=1e-14)

    @pytest.mark.parametrize("name", ["input", "constant", "sin", "sum", "dot", "e", "pi",
                                      "sum_to_like", "placeholder_like"])  # fmt: skip
    def test_defop_refuses_reserved_and_built_in_names(self, name):
        before = dict(OPS)
        with pytest.raises(ga.GraphadError, match=r"reserved|built-in"):
            ga.defop(name, np.sin, vjp=lambda g, x: [g * ga.cos(x)])
        assert before == OPS  # nothing registered or replaced
        with ga.Graph():
            e = ga.parse("sin(x) * e + pi + dot(x, x)") + ga.constant(1.0)
            xv = np.array([0.5, -1.0])
            want = np.sin(xv) * np.e + np.pi + xv @ xv + 1.0
            np.testing.assert_allclose(e.eval(x=xv), want, rtol=1e-15)

    def test_export_that_cannot_write_the_module_leaves_no_npz(self, tmp_path):
        with ga.Graph():
            x = ga.symbol("x", shape=(500,))
            f = ga.compile(x * ga.constant(np.arange(500.0)))
        target = tmp_path / "mod.py"
        target.mkdir()  # a directory where the module should go: the rename fails
        with pytest.raises(OSError):
            ga.export(f, target)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mod.py"]
        # an .npz that was there before is put back as it was
        old = tmp_path / "mod.npz"
        old.write_bytes(b"old contents")
        with pytest.raises(OSError):
            ga.export(f, target)
        assert old.read_bytes() == b"old contents"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mod.npz", "mod.py"]

    def test_export_writes_both_files_when_it_can(self, tmp_path):
        with ga.Graph():
            x = ga.symbol("x", shape=(500,))
            f = ga.compile(x * ga.constant(np.arange(500.0)))
        ga.export(f, tmp_path / "ok.py")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npz", "ok.py"]
        ns: dict = {"__file__": str(tmp_path / "ok.py")}
        exec(compile((tmp_path / "ok.py").read_text(), str(tmp_path / "ok.py"), "exec"), ns)
        np.testing.assert_array_equal(ns["graphad_function"](np.ones(500))[0], np.arange(500.0))

    @staticmethod
    def _savers(tmp_path):
        with ga.Graph():
            x = ga.symbol("x", shape=(500,))
            e = x * ga.constant(np.arange(500.0))
            f = ga.compile(e)
        ga.nn.set_random_seed(0)
        model = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,))])
        model.build((None, 3))
        return {
            "graph.json": lambda p: ga.save(e, p),
            "module.py": lambda p: ga.export(f, p),
            "model.npz": lambda p: model.save(p),
        }

    @pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
    def test_new_files_get_the_umask_default_mode(self, tmp_path, umask):
        savers = self._savers(tmp_path)
        old = os.umask(umask)
        try:
            for name, save in savers.items():
                save(tmp_path / name)
        finally:
            os.umask(old)
        want = 0o666 & ~umask
        for p in tmp_path.iterdir():  # module.npz too
            assert stat.S_IMODE(p.stat().st_mode) == want, p.name
        assert (tmp_path / "module.npz").exists()

    def test_replaced_files_keep_their_mode(self, tmp_path):
        savers = self._savers(tmp_path)
        modes = {"graph.json": 0o644, "module.py": 0o604, "module.npz": 0o640, "model.npz": 0o600}
        for name, mode in modes.items():
            (tmp_path / name).write_bytes(b"old")
            os.chmod(tmp_path / name, mode)
        for name, save in savers.items():
            save(tmp_path / name)
        for name, mode in modes.items():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
            assert (tmp_path / name).read_bytes() != b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(modes)  # no temp files

    def test_check_grad_without_a_value_for_wrt_adds_no_input(self):
        with ga.Graph() as g:
            x = ga.symbol("x")
            e = ga.sin(x)
            before = graph_state(g)
            with pytest.raises(ga.MissingInputError, match="'nope'"):
                ga.check_grad(e, at={"x": 0.3}, wrt=["x", "nope"])
            assert graph_state(g) == before

    def test_failed_gradient_with_a_failing_custom_rule_adds_nothing(self):
        op = _failing_rule_op()
        with ga.Graph() as g:
            x = ga.symbol("x")
            e = ga.sin(op(x) * x)
            before = graph_state(g)
            with pytest.raises(ValueError, match="rule failed"):
                ga.grad(e, x)
            assert graph_state(g) == before
            with pytest.raises(ValueError, match="rule failed"):
                ga.jvp(e, {x: 1.0})  # derived by transposition of the VJP
            assert graph_state(g) == before

    def test_failed_vjp_with_cotangents_adds_nothing(self):
        op = _failing_rule_op()
        with ga.Graph() as g:
            x = ga.symbol("x", shape=(3,))
            e = op(x) * 2.0
            before = graph_state(g)
            with pytest.raises(ValueError, match="rule failed"):
                ga.vjp([e], [x], [np.arange(3.0)])  # the cotangent's constant goes too
            assert graph_state(g) == before
            with pytest.raises(ga.GraphadError, match="wrt must be a list"):
                ga.vjp([e], x)
            # a good call still works after the failed ones
            f = ga.sin(x) * 2.0
            (gx,) = ga.vjp([f], [x], [np.arange(3.0)])
            np.testing.assert_allclose(gx.eval(x=np.zeros(3)), 2 * np.arange(3.0))


# -- class 6 (folding, masked arrays) ------------------------------------------------------------

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _exact_or_float(v: int):
    """The reference: Python's exact result if int64 holds it, else the nearest float."""
    return v if INT64_MIN <= v <= INT64_MAX else float(v)


class TestFoldingAndMaskedArrays:
    def test_issue_example_does_not_wrap(self):
        with ga.Graph():
            e = ga.constant(2**62) + ga.constant(2**62)
            assert e.op == "constant"
            assert type(e.graph.node(e.id)["value"]) is float
            assert float(e.eval()) == 2.0**63  # not -2**63
            assert float(ga.compile(e)()) == 2.0**63
            p = ga.parse("4611686018427387904 + 4611686018427387904")
            assert float(p.eval()) == 2.0**63
            # in range: still the exact int, with NumPy's integer dtype
            q = ga.constant(2**62) + ga.constant(2**62 - 1)
            assert q.eval() == INT64_MAX and q.eval().dtype.kind == "i"

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(
        a=st.integers(INT64_MIN, INT64_MAX),
        b=st.integers(INT64_MIN, INT64_MAX),
        op=st.sampled_from(["add", "subtract", "multiply"]),
    )
    def test_binary_int_folding_matches_exact_arithmetic(self, a, b, op):
        exact = {"add": a + b, "subtract": a - b, "multiply": a * b}[op]
        with ga.Graph():
            e = getattr(ga, op)(ga.constant(a), ga.constant(b))
            assert e.op == "constant"
            got = e.graph.node(e.id)["value"]
        want = _exact_or_float(exact)
        assert type(got) is type(want) and got == want

    @pytest.mark.parametrize(
        ("op", "value", "want"),
        [
            ("negative", INT64_MIN, float(2**63)),
            ("abs", INT64_MIN, float(2**63)),
            ("square", 2**32, float(2**64)),
            ("square", 3_037_000_499, 3_037_000_499**2),  # the largest square in int64
            ("negative", INT64_MAX, -INT64_MAX),
            ("square", 10**200, float("inf")),  # past float range: IEEE overflow, as for **
        ],
    )
    def test_unary_int_folding(self, op, value, want):
        with ga.Graph():
            e = getattr(ga, op)(ga.constant(value))
            got = e.graph.node(e.id)["value"]
        assert type(got) is type(want) and got == want

    def test_other_folds_are_unchanged(self):
        with ga.Graph():
            cases = {
                "divide": (ga.divide(ga.constant(7), ga.constant(2)), 3.5),
                "less": (ga.less(ga.constant(1), ga.constant(2)), True),
                "maximum": (ga.maximum(ga.constant(-3), ga.constant(5)), 5),
                "power": (ga.power(ga.constant(2), ga.constant(70)), 2.0**70),
                "sin": (ga.sin(ga.constant(0)), 0.0),
            }
            for name, (e, want) in cases.items():
                got = e.graph.node(e.id)["value"]
                assert type(got) is type(want) and got == want, name

    MASKED = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])

    def test_masked_input_values_are_refused_by_the_interpreter_and_compiled_code(self):
        with ga.Graph():
            x = ga.symbol("x")
            e = ga.sum(x * 2.0)
            f = ga.compile(e)
            xs = ga.symbol("xs", shape=(3,), dtype="float64")
            fs = ga.compile(ga.sum(xs))
        for call in (lambda: e.eval(x=self.MASKED), lambda: f(self.MASKED),
                     lambda: fs(self.MASKED), lambda: f(x=self.MASKED)):  # fmt: skip
            with pytest.raises(ga.DTypeError, match="masked arrays"):
                call()
        # plain arrays (the data, or filled) still work and agree
        data = self.MASKED.filled(0.0)
        assert float(e.eval(x=data)) == float(f(data)) == 8.0

    def test_masked_constants_are_refused(self):
        with ga.Graph():
            x = ga.symbol("x")
            for make in (
                lambda: ga.constant(self.MASKED),
                lambda: ga.constant(self.MASKED, dtype="float32"),
                lambda: x + self.MASKED,
                lambda: self.MASKED * x,
                lambda: ga.where(x > 0, self.MASKED, 0.0),
                lambda: ga.concatenate([x, self.MASKED]),
            ):
                with pytest.raises(ga.GraphadError, match="masked arrays"):
                    make()


def test_saves_never_replace_a_device_or_a_fifo(tmp_path):
    """Renaming a temporary file over /dev/full replaced the device with a plain file
    (found the hard way): a target that exists and is not a regular file is refused."""
    import os

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    with ga.Graph():
        x = ga.symbol("x", shape=(), dtype="float64")
        f = ga.compile(x * 2.0)
        with pytest.raises(ga.GraphadError, match="not a regular file"):
            ga.export(f, fifo)
        with pytest.raises(ga.GraphadError, match="not a regular file"):
            ga.save(x * 2.0, fifo)
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.py"]  # nothing left behind


def test_a_tape_computes_expressions_of_constants_eagerly():
    """TensorFlow computes ops on constants at once: ga.constant(A).T inside a tape is a
    value, so a TF user's `Ac.T @ w` works (it raised "cannot mix" before)."""
    A, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0])
    Ac, bc = ga.constant(A), ga.constant(b)
    w = ga.Variable(np.array([0.5, -0.25]))
    with ga.GradientTape() as tape:
        loss = ga.sum((Ac.T @ w - bc) ** 2)
    grad = tape.gradient(loss, w)
    np.testing.assert_allclose(grad, 2 * A @ (A.T @ w.numpy() - b), rtol=1e-15)
    x = ga.symbol("x", graph=ga.Graph())
    with pytest.raises(ga.GraphadError, match="cannot mix"), ga.GradientTape():
        _ = x * w  # an expression with inputs still cannot mix with eager values
