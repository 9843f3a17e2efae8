"""Rounding-error bounds (graphad.check.rounding) against float64 references, and the
checker's tolerances built from them."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphad as ga
from graphad.backends.interp import evaluate
from graphad.check.problem import replay
from graphad.check.rounding import graph_bounds


def _bounds_and_values(e, values):
    g = e.graph
    order = g.topo([e.id])
    env = dict(zip(order, evaluate(g, order, values), strict=True))
    steps = [n for n in order if g.op(n) not in ("input", "constant")]
    return graph_bounds(g.records(), steps, env), env


def test_cancellation_bound_scales_with_the_cancelled_terms():
    with ga.Graph():
        x = ga.symbols("x")
        e = (x + 1e8) - 1e8
        bounds, env = _bounds_and_values(e, {"x": 0.1})
    actual = abs(float(env[e.id]) - 0.1)  # exact value is x
    eps = np.finfo(np.float64).eps
    assert actual > 0  # the cancellation really loses digits
    assert actual <= bounds[e.id] <= 8 * eps * 1e8


def test_exact_ops_add_no_error_and_inputs_are_exact():
    with ga.Graph():
        x = ga.symbol("x", shape=(2, 3))
        e = ga.reshape(-x, (3, 2))
        bounds, _ = _bounds_and_values(e, {"x": np.arange(6.0).reshape(2, 3)})
    assert np.all(np.asarray(bounds[e.id]) == 0)


def _random_float32_graph(rng, x):
    unary = [ga.sin, ga.cos, ga.tanh, ga.exp, ga.sigmoid, lambda a: a * a, lambda a: -a,
             lambda a: ga.log(1 + a * a), lambda a: ga.sqrt(1 + a * a)]  # fmt: skip
    binary = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
              lambda a, b: a / (1 + b * b)]  # fmt: skip
    terms = [x]
    for _ in range(8):
        if rng.random() < 0.5:
            terms.append(unary[rng.integers(len(unary))](terms[rng.integers(len(terms))]))
        else:
            a, b = terms[rng.integers(len(terms))], terms[rng.integers(len(terms))]
            terms.append(binary[rng.integers(len(binary))](a, b))
    return terms[-1]


def test_float32_bounds_cover_the_error_against_float64_on_random_graphs():
    """Every node's float32 value is within its bound of the same graph evaluated in
    float64 (whose own error is ~1e-16, far below float32's)."""
    rng = np.random.default_rng(2026)
    checked = 0
    for _ in range(150):
        with ga.Graph():
            x = ga.symbol("x", dtype="float32", shape=(4,))
            e = _random_float32_graph(rng, x)
            point = rng.uniform(-2, 2, 4).astype(np.float32)
            bounds, env32 = _bounds_and_values(e, {"x": point})
        # the float64 reference: the same graph with the input widened
        copy, ids = replay(e.graph, [e.id], widen=True)
        order = copy.topo([ids[e.id]])
        env64 = dict(
            zip(order, evaluate(copy, order, {"x": point.astype(np.float64)}), strict=True)
        )
        for n, m in ids.items():
            if n not in bounds or m not in env64:
                continue
            v32 = np.asarray(env32[n], dtype=np.float64)
            if not np.all(np.isfinite(v32)):
                continue
            gap = np.abs(v32 - np.asarray(env64[m]))
            assert np.all(gap <= np.asarray(bounds[n]) + 1e-300), (n, gap, bounds[n])
            checked += 1
    assert checked > 500


def test_sum_and_matmul_bounds_cover_float32_and_grow_with_the_terms():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 300)).astype(np.float32)
    b = rng.standard_normal((300, 7)).astype(np.float32)
    with ga.Graph():
        A = ga.symbol("A", dtype="float32", shape=(40, 300))
        B = ga.symbol("B", dtype="float32", shape=(300, 7))
        s = ga.sum(ga.exp(A * 0.1))
        m = A @ B
        bs, env = _bounds_and_values(s, {"A": a})
        bm, envm = _bounds_and_values(m, {"A": a, "B": b})
    exact_s = np.sum(np.exp(a.astype(np.float64) * np.float64(np.float32(0.1))))
    assert abs(float(env[s.id]) - exact_s) <= bs[s.id]
    eps32 = float(np.finfo(np.float32).eps)
    # (terms + 2) ulps of the sum, plus exp's and the product's few
    assert bs[s.id] <= eps32 * (a.size + 12) * exact_s
    exact_m = a.astype(np.float64) @ b.astype(np.float64)
    assert np.all(np.abs(np.asarray(envm[m.id], np.float64) - exact_m) <= bm[m.id])


def test_a_1e5_relative_error_in_a_float64_rule_is_caught_and_named():
    bad = ga.defop("log_off_1e5", np.log, vjp=lambda g, x: [g * (1 + 1e-5) / x])
    r = ga.check_grad(lambda x: bad(x) + x * x, at=(2.5,))
    assert r.verdict == "fail" and r.culprit_check is not None
    assert r.culprit_check.op == "log_off_1e5"
    good = ga.check_grad(lambda x: ga.log(x) + x * x, at=(2.5,))
    assert good.verdict == "pass"
    (e,) = good.inputs[0].elements
    # an error of 1e-5 * 0.4 = 4e-6 is far above what could have been seen
    assert good.inputs[0].threshold(e) < 1e-8
    assert "detection threshold" in str(good)


def test_float32_rules_off_by_1e4_are_caught_and_correct_float32_ones_pass():
    for name, f, d in (("sin", np.sin, np.cos), ("exp", np.exp, np.exp),
                       ("tanh", np.tanh, lambda x: 1 - np.tanh(x) ** 2)):  # fmt: skip
        right = {"sin": ga.cos, "exp": ga.exp, "tanh": lambda x: 1 - ga.tanh(x) ** 2}[name]
        bad = ga.defop(f"{name}_f32_1e4", f, vjp=lambda g, x, r=right: [g * r(x) * 1.0001])
        x0 = np.float32(0.7)
        r = ga.check_grad(lambda x, b=bad: b(x) * 2.0 + x, at=(x0,))
        assert r.dtype == "float32" and r.verdict == "fail", name
        assert r.culprit_check is not None and r.culprit_check.op == f"{name}_f32_1e4"
        good = ga.defop(f"{name}_f32_ok", f, vjp=lambda g, x, r=right: [g * r(x)])
        ok = ga.check_grad(lambda x, b=good: b(x) * 2.0 + x, at=(x0,))
        assert ok.verdict == "pass", name
        exact = 2 * float(d(np.float64(x0))) + 1
        (e,) = ok.inputs[0].elements
        assert e.ad == pytest.approx(exact, rel=1e-5)
        assert ok.inputs[0].threshold(e) < 1e-4 * abs(exact)


def test_user_tolerances_keep_the_fixed_formula():
    r = ga.check_grad(lambda x: ga.sin(x), at=(0.3,), rtol=1e-3, atol=0.0)
    i = r.inputs[0]
    assert not i.bounds and i.rtol == 1e-3
    assert i.tolerance(i.elements[0]) == pytest.approx(1e-3 * math.cos(0.3), rel=1e-6)


def test_a_float64_constant_in_a_float32_graph_counts_its_rounding():
    """(x - c) near x = c cancels: c rounded to float32 moves AD's result by ~1e-5
    relative, which is not AD's fault and must not be a false alarm."""
    with ga.Graph():
        x = ga.symbol("x", dtype="float32")
        e = ga.exp(ga.tanh((x - 1.897576859356914) ** 2 * 3.0))
        r = ga.check_grad(e, at={"x": 1.89145}, sympy=False)
    (el,) = r.inputs[0].elements
    assert r.verdict == "pass"
    assert abs(el.ad - el.fd) <= el.atol  # the constant's rounding is inside the bound
