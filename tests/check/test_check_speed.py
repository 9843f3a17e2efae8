"""Issue 15, checker speed: the shortcuts taken for speed give the same numbers as the
slow paths they replace (SymPy's derivative at the point vs ``sympy.diff``; the
seven finite-difference points evaluated as one vector vs one at a time; the
prepared schedule vs ``evaluate``)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

import graphad as ga
from graphad.backends import sympy_box as _sympy_box
from graphad.check.fd import fd_derivative

sp = pytest.importorskip("sympy")


def _diff_at(expr, names, values):
    syms = {s.name: s for s in expr.free_symbols}
    subs = {syms[n]: sp.Float(v, 30) for n, v in values.items()}
    return [float(sp.diff(expr, syms[n]).xreplace(subs).evalf(30)) for n in names]


class TestSympyAtThePoint:
    x, y = sp.symbols("x y", real=True)
    CASES: ClassVar[list] = [
        (x**3 * y + sp.sin(x * y), {"x": 0.7, "y": -1.3}),
        (sp.exp(sp.tanh(x)) / (1 + y**2) - sp.log(1 + x**2), {"x": 1.1, "y": 0.4}),
        (sp.sqrt(1 + x**2) * sp.atan(y) + 1 / (1 + sp.exp(-x)), {"x": -0.2, "y": 2.5}),
        (x**y, {"x": 1.7, "y": 0.6}),  # the exponent moves too
        (sp.Abs(x - 0.5) * sp.cos(y) + sp.Max(x, y) * 3, {"x": 0.1, "y": 0.9}),
        (sp.Piecewise((x**2, sp.Gt(x, y)), (sp.sin(y) * x, True)), {"x": 0.2, "y": 0.3}),
        (sp.Piecewise((x**2, sp.Gt(x, y)), (sp.sin(y) * x, True)), {"x": 0.4, "y": 0.3}),
        (x * y * 0 + sp.Rational(1, 3) * x + sp.pi * y, {"x": 2.0, "y": 3.0}),
    ]

    @pytest.mark.parametrize("k", range(len(CASES)))
    def test_equals_diff_then_evaluate(self, k):
        expr, values = self.CASES[k]
        got = _sympy_box._at_point(expr, ["x", "y"], values)
        want = _diff_at(expr, ["x", "y"], values)
        assert got == pytest.approx(want, rel=1e-14, abs=1e-300)

    def test_shared_parts_are_visited_once(self):
        # 40 levels, each using the previous three times: the tree has ~3**40 leaves,
        # so anything that walks it (diff, free_symbols) would not finish
        x, y = self.x, self.y
        e = x
        for _ in range(40):
            e = sp.Add(sp.Mul(sp.sin(e), sp.cos(e), evaluate=False), e * y, evaluate=False)
        got = _sympy_box._at_point(e, ["x", "y"], {"x": 0.3, "y": 0.5})
        # reference: the same recurrence, forward by hand in floats (d/dx and d/dy)
        v, dx, dy = 0.3, 1.0, 0.0
        for _ in range(40):
            s, c = math.sin(v), math.cos(v)
            dv = c * c - s * s  # d(sin v cos v)/dv
            v, dx, dy = s * c + v * 0.5, dv * dx + 0.5 * dx, dv * dy + 0.5 * dy + v
        assert got == pytest.approx([dx, dy], rel=1e-9)

    def test_unknown_symbol_value_falls_back_to_diff(self):
        x = self.x
        # z has no value: the forward pass cannot evaluate it, SymPy's diff says n/a
        z = sp.Symbol("z", real=True)
        assert _sympy_box._derivatives(x**2 + 0 * z, ["x"], {"x": 3.0}) == [6.0]
        assert _sympy_box._derivatives(x**2 * z, ["x"], {"x": 3.0}) == [None]


def test_batched_stencil_equals_point_by_point():
    f = lambda t: np.sin(0.3 + t) * np.exp(np.tanh(0.3 + t))  # noqa: E731

    def batched(t):
        return f(t)

    batched.many = lambda ts: f(ts)
    one = fd_derivative(f, 6e-6, 2.2e-16, 1e-6, 1e-9)
    many = fd_derivative(batched, 6e-6, 2.2e-16, 1e-6, 1e-9)
    for field in ("value", "err", "lo", "hi"):
        assert float(getattr(one, field)) == float(getattr(many, field)), field
    assert str(one.kind) == str(many.kind) == "smooth"


def test_check_results_unchanged_by_the_fast_paths():
    """A traced callable (no copy, batched stencil) and the same function as an Expr
    (copied graph) give the same AD and FD numbers, and both match the hand derivative."""

    def fn(a):
        return ga.sin(a) * ga.exp(ga.tanh(a)) + a * a

    r1 = ga.check_grad(fn, at=(0.4,), sympy=False)
    with ga.Graph():
        x = ga.symbols("a")
        r2 = ga.check_grad(fn(x), at={"a": 0.4}, sympy=False)
    e1, e2 = r1.inputs[0].elements[0], r2.inputs[0].elements[0]
    t = math.tanh(0.4)
    want = math.cos(0.4) * math.exp(t) + math.sin(0.4) * math.exp(t) * (1 - t * t) + 0.8
    assert e1.ad == e2.ad == pytest.approx(want, rel=1e-15)
    assert e1.fd == e2.fd == pytest.approx(want, rel=1e-9)
    assert r1.verdict == r2.verdict == "pass"


class TestSympyAlongTheGraph:
    """The in-process witness (each op's SymPy form and partials, chained along the graph)
    gives SymPy's numbers: compared with ``to_sympy`` then ``diff``."""

    @pytest.mark.parametrize("seed", range(6))
    def test_random_scalar_graphs_match_diff(self, seed):
        from graphad.check.problem import _prepare
        from graphad.check.sympy_witness import _sympy_at_point

        rng = np.random.default_rng(seed)
        with ga.Graph():
            x, y = ga.symbols("x y")
            e = x
            for _ in range(6):  # a chain of ops, each using earlier parts
                k = int(rng.integers(8))
                e = [
                    ga.sin(e) * y,
                    ga.exp(ga.tanh(e)) + x,
                    ga.log(1 + e * e),
                    ga.sqrt(1 + e * e) / (1 + y * y),
                    ga.sigmoid(e) - ga.arctan(y),
                    e**3 + 2 ** (e * 0.1),
                    ga.relu(e) + ga.abs(y),
                    ga.maximum(e, y) * 1.5,
                ][k]
            at = {"x": float(rng.uniform(-1, 1)), "y": float(rng.uniform(0.2, 1.5))}
            prob = _prepare(e, at, None)
            got = _sympy_at_point(prob)
            want = _diff_at(ga.to_sympy(e), prob.names, at)
        assert got is not None
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300)

    def test_ops_without_a_plain_form_go_to_the_sympy_process(self):
        from graphad.check.problem import _prepare
        from graphad.check.sympy_witness import _sympy_at_point

        with ga.Graph():
            x = ga.symbols("x")
            e = ga.where(x > 0.5, x * x, ga.sin(x))  # a condition: SymPy's Piecewise
            assert _sympy_at_point(_prepare(e, {"x": 0.7}, None)) is None
            r = ga.check_grad(e, at={"x": 0.7}, sympy_timeout=60)
        assert r.input("x").elements[0].sympy == pytest.approx(1.4, rel=1e-14)


def test_a_tensor_inside_a_scalar_graph_gets_no_witness_along_the_graph():
    """sum(broadcast_to(x, (3,))) is 3x; the ops' scalar SymPy forms would say 1."""
    from graphad.check.problem import _prepare
    from graphad.check.sympy_witness import _sympy_at_point

    with ga.Graph():
        x = ga.symbols("x")
        f = ga.sum(ga.broadcast_to(x, (3,)))
        assert _sympy_at_point(_prepare(f, {"x": 1.0}, None)) is None
        r = ga.check_grad(f, at={"x": 1.0})
    assert r.inputs[0].elements[0].sympy is None and r.verdict == "pass"
    assert float(r.inputs[0].elements[0].ad) == 3.0
