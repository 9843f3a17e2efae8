"""Tests of graphad.testing: check_op, sampling helpers and Hypothesis strategies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphad as ga
from graphad import testing

mysin = ga.defop("mysin_t", np.sin, vjp=lambda g, x: [g * ga.cos(x)])
wrong_log = ga.defop("wronglog_t", np.log, vjp=lambda g, x: [g / (x + 1.0)])
half_mul = ga.defop("halfmul_t", np.multiply, vjp=lambda g, a, b: [g * b, g * a * 0.5])


def test_reexports():
    assert testing.assert_grad is ga.assert_grad
    assert testing.check_grad is ga.check_grad


def test_check_op_passes_a_correct_custom_op():
    reports = testing.check_op(mysin, (-3, 3), n=4)
    assert len(reports) == 4 and all(r.verdict == "pass" for r in reports)
    # each point is a fresh random point, and the AD value is cos at that point
    xs = [float(r.point["a0"]) for r in reports]
    assert len(set(xs)) == 4 and all(-3 < x < 3 for x in xs)
    for r, x in zip(reports, xs, strict=True):
        assert r.inputs[0].elements[0].ad == pytest.approx(math.cos(x), rel=1e-14)


def test_check_op_raises_for_a_wrong_custom_op_with_culprit():
    with pytest.raises(ga.GradientCheckError) as info:
        testing.check_op(wrong_log, (0.5, 3.0), n=3)
    report = info.value.report
    assert report.verdict == "fail" and report.culprit_check.op == "wronglog_t"
    assert isinstance(info.value, AssertionError)  # pytest shows it as a plain test failure


def test_check_op_names_the_wrong_argument_of_a_binary_op():
    with pytest.raises(ga.GradientCheckError) as info:
        testing.check_op(half_mul, (-2, 2), (-2, 2), n=1)
    assert info.value.report.culprit_check.failing_positions == [1]


def test_check_op_by_name_uses_the_op_domain_and_params():
    reports = testing.check_op("log", n=3)  # domain (0.1, 4): outside it log is NaN
    assert all(0.1 < float(r.point["a0"]) < 4.0 for r in reports)
    reports = testing.check_op("logsumexp", shapes=(2, 3), n=2, params={"axis": -1})
    assert all(r.verdict == "pass" and r.inputs[0].shape == (2, 3) for r in reports)
    reports = testing.check_op("stack", (-1, 1), (-1, 1), shapes=(3,), n=1, params={"axis": 0})
    assert reports[0].verdict == "pass" and len(reports[0].inputs) == 2


def test_check_op_float32_uses_float32_tolerances():
    (r,) = testing.check_op(lambda x, y: ga.tanh(x) * y, (-1, 1), (-1, 1), n=1,
                            dtype=np.float32)  # fmt: skip
    assert r.verdict == "pass" and r.dtype == "float32" and r.inputs[0].bounds
    # tolerances from float32 rounding analysis: above float64's, below 1e-4 relative
    for e in r.inputs[0].elements:
        assert 1e-12 * abs(e.fd) < r.inputs[0].threshold(e) < 1e-4 * max(abs(e.fd), 1e-3)


def test_check_op_unknown_name():
    with pytest.raises(ga.UnknownNameError):
        testing.check_op("no_such_op")


def test_sample_stays_inside_each_domain():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = testing.sample([(0.5, 2.0), (-3.0, -1.0)], [(4,), ()], rng)
        assert a.shape == (4,) and np.all((a > 0.5) & (a < 2.0))
        assert b.shape == () and -3.0 < b < -1.0


@settings(max_examples=15, deadline=None)
@given(testing.points((0.1, 4.0)))
def test_points_strategy_drives_a_gradient_check(x):
    assert 0.1 < x < 4.0
    r = ga.assert_grad(lambda a: ga.log(a) * ga.sqrt(a), at=(x,), sympy=False)
    exact = 1 / x * math.sqrt(x) + math.log(x) / (2 * math.sqrt(x))
    assert r.inputs[0].elements[0].ad == pytest.approx(exact, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(testing.points((-1.0, 1.0), shape=(2, 3), dtype=np.float32))
def test_points_strategy_tensors(v):
    assert v.shape == (2, 3) and v.dtype == np.float32
    assert np.all((v > -1.0) & (v < 1.0))


@settings(max_examples=10, deadline=None)
@given(testing.op_points("divide"))
def test_op_points_respects_the_op_domain(args):
    a, b = args
    assert -2.0 < a < 2.0 and 0.5 < b < 2.0
    ga.assert_grad(lambda p, q: ga.divide(p, q), at=(a, b), sympy=False)


ELEMENTWISE = sorted(n for n, op in ga.ops.OPS.items()
                     if op.elementwise and op.differentiable and not op.custom)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ELEMENTWISE), st.data())
def test_random_points_in_every_elementwise_domain_never_fail(name, data):
    args = data.draw(testing.op_points(name))
    r = ga.check_grad(lambda *xs: getattr(ga, name)(*xs), at=args, sympy=False)
    assert r.verdict != "fail", str(r)
