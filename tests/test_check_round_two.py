"""Issue 15, gradient checker round two: one class per issue item (a) to (g).

Each planted bug is a custom op whose rule is wrong in a known way; the reference values
(what the right derivative is, which element is wrong) are written by hand here.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga


def _op(name, impl, vjp):
    return ga.defop(f"r2t_{name}", impl, vjp=vjp)


class TestA_CustomRuleBuildingConstants:
    def test_rule_with_ga_constant_is_checked_and_localized(self):
        good = _op("const_good", np.exp, lambda g, x: [g * ga.exp(x) * ga.constant(1.0)])
        bad = _op("const_bad", np.exp, lambda g, x: [g * ga.exp(x) * ga.constant(1.5)])
        with ga.Graph():
            x = ga.symbols("x")
            assert ga.check_grad(good(x * 2.0), at={"x": 0.3}).verdict == "pass"
            r = ga.check_grad(ga.sin(bad(x * 2.0)), at={"x": 0.3})
        assert r.verdict == "fail" and r.culprit_check.op == "r2t_const_bad", str(r)


class TestB_AdaptiveStepNeverCallsSmoothAKink:
    def test_log_at_sigmoid_minus_20_with_10pct_wrong_rule_fails(self):
        badlog = _op("badlog", np.log, lambda g, x: [g / x * 1.1])
        with ga.Graph():
            x = ga.symbols("x")
            r = ga.check_grad(badlog(ga.sigmoid(x)), at={"x": -20.0})
        # d/dx log(sigmoid(x)) = 1 - sigmoid(x) ~ 1; the rule says 1.1
        assert r.verdict == "fail" and not r.ok, str(r)
        assert r.culprit_check.op == "r2t_badlog"
        assert "kink" not in str(r)
        with pytest.raises(ga.GradientCheckError), ga.Graph():
            x = ga.symbols("x")
            ga.assert_grad(badlog(ga.sigmoid(x)), at={"x": -20.0})

    def test_correct_log_at_tiny_argument_passes_and_real_kinks_stay_kinks(self):
        with ga.Graph():
            x = ga.symbols("x")
            assert ga.check_grad(ga.log(ga.sigmoid(x)), at={"x": -20.0}).verdict == "pass"
            # relu at exactly 0 is a real kink: AD's 0 is in [0, 1]
            assert ga.check_grad(ga.relu(x), at={"x": 0.0}).verdict == "pass"

    def test_node_check_uses_a_relative_step(self):
        from graphad.check.gradcheck import localize

        badlog = _op("badlog2", np.log, lambda g, x: [g / x * 1.1])
        with ga.Graph() as g:
            x = ga.symbols("x")
            e = badlog(x)
        (c,) = localize(g, e.id, {"x": 2e-9})
        assert c.status == "fail", c.to_dict()
        p = c.positions[0]
        # the rule's product is 1.1 times the numerical one
        assert p["rule"] == pytest.approx(1.1 * p["numerical"], rel=1e-6)


class TestC_CotangentLinearity:
    def test_rule_ignoring_its_cotangent_fails_at_a_scalar_output(self):
        ign = _op("ignore_g", np.sin, lambda g, x: [ga.cos(x)])
        with ga.Graph():
            x = ga.symbols("x")
            r = ga.check_grad(ign(x), at={"x": 0.3})
        assert r.verdict == "fail", str(r)
        assert r.culprit_check is not None and r.culprit_check.op == "r2t_ignore_g"
        text = str(r)
        assert "not multiplied by grad_output" in text and "not linear" in text
        assert "not linear in its incoming cotangent" in r.culprit_reason

    def test_rule_squaring_its_cotangent_fails_inside_a_graph(self):
        sq = _op("square_g", np.sin, lambda g, x: [g * g * ga.cos(x)])
        with ga.Graph():
            x = ga.symbols("x")
            r = ga.check_grad(ga.exp(sq(x * 2.0)), at={"x": 0.3})
        assert r.verdict == "fail" and r.culprit_check.op == "r2t_square_g", str(r)

    def test_linear_rules_are_not_flagged(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            r = ga.check_grad(ga.tanh(x * y) + x**3, at={"x": 0.7, "y": -1.2})
        assert r.verdict == "pass" and not r.notes, str(r)


class TestD_PerElementTolerance:
    def test_10pct_error_in_a_small_element_next_to_a_1e6_one(self):
        mask = np.array([1.0, 1.0, 1.1])
        sq = _op("sq_small", np.square, lambda g, x: [g * 2.0 * x * ga.constant(mask)])
        x = np.array([5e5, 1.0, 1e-3])  # gradients 1e6, 2, 2e-3 (the last one 10% wrong)
        r = ga.check_grad(lambda a: sq(a), at=(x,))
        assert r.verdict == "fail", str(r)
        bad = [e.index for e in r.input("a").elements if e.status == "fail"]
        assert bad == [(2,)]
        assert r.culprit_check.op == "r2t_sq_small"
        assert r.culprit_check.positions[0]["element"] == (2,)

    def test_correct_rule_with_the_same_magnitudes_passes(self):
        x = np.array([5e5, 1.0, 1e-3])
        assert ga.check_grad(lambda a: ga.square(a) * 3.0, at=(x,)).verdict == "pass"


class TestE_BisectionLocatesTheElement:
    def test_one_wrong_element_of_50000(self):
        m = np.ones(50_000)
        m[12_345] = 1.5
        s = _op("sin_one", np.sin, lambda g, x: [g * ga.cos(x) * ga.constant(m)])
        x = np.linspace(0.0, 1.0, 50_000)
        r = ga.check_grad(lambda a: ga.sum(s(a) * 2.0), at=(x,))
        assert r.verdict == "fail"
        inp = r.input("a")
        assert inp.mode == "projection+bisection"
        failing = [e for e in inp.elements if isinstance(e.index, tuple) and e.status == "fail"]
        assert [e.index for e in failing] == [(12_345,)]
        # AD says 2*1.5*cos(x), the function's slope is 2*cos(x)
        assert failing[0].ad == pytest.approx(3.0 * np.cos(x[12_345]), rel=1e-12)
        assert failing[0].fd == pytest.approx(2.0 * np.cos(x[12_345]), rel=1e-8)
        c = r.culprit_check
        assert c.op == "r2t_sin_one" and c.positions[0]["element"] == (12_345,)
        assert "12345" in str(r)
        # about 2*log2(50000) differences, not 1024 sampled elements
        assert len(inp.elements) < 10


class TestF_ReportText:
    def test_wrong_shape_rule_gets_a_row_and_a_culprit_line(self):
        ws = _op("wshape", np.sin, lambda g, x: [ga.sum(g * ga.cos(x))])
        r = ga.check_grad(lambda x: ga.sum(ws(x)), at=(np.array([0.1, 0.2, 0.3]),))
        text = str(r)
        assert r.verdict == "fail"
        row = next(line for line in text.splitlines() if "FAIL (shape)" in line)
        assert "shape ()" in row and "shape (3,)" in row and row.split()[0] == "x"
        culprit = next(line for line in text.splitlines() if line.startswith("culprit:"))
        assert "r2t_wshape" in culprit and "returned shape ()" in culprit
        assert "n/a" not in culprit and "= n/a" not in text
        assert "returned shape ()" in r.summary()
        assert "FAIL (shape)" in r._repr_html_()

    def test_callable_inputs_are_named_from_its_signature(self):
        def loss(weights, bias):
            return ga.sum(ga.tanh(weights) * bias)

        r = ga.check_grad(loss, at=(np.array([0.1, -0.2]), 0.5), wrt="bias")
        assert [i.name for i in r.inputs] == ["bias"]
        assert r.label == "loss(weights, bias)" and set(r.point) == {"weights", "bias"}
        assert r.input("a1") is r.input("bias")  # the positional alias still works
        # a *args function keeps positional names
        r = ga.check_grad(lambda *xs: xs[0] * xs[1], at=(2.0, 3.0))
        assert [i.name for i in r.inputs] == ["a0", "a1"]
        with pytest.raises(ga.GraphadError, match="not an argument"):
            ga.check_grad(loss, at=(np.array([0.1, -0.2]), 0.5), wrt="nope")

    def test_sympy_header_is_short_and_the_error_is_a_note(self):
        bad = _op("nosym", np.sin, lambda g, x: [g * ga.cos(x)])
        with ga.Graph():
            x = ga.symbols("x")
            r = ga.check_grad(bad(x), at={"x": 0.3})
        head = str(r).splitlines()[1]
        assert "SymPy: n/a (see note)" in head and "to_sympy" not in head
        assert any("to_sympy" in line and "note" in line for line in str(r).splitlines())

    def test_decided_by_sympy_is_shown_in_text_and_html(self):
        with ga.Graph():
            x = ga.symbols("x")
            r = ga.check_grad(ga.exp(x) * 1e-30 + x, at={"x": 0.3}, rtol=0, atol=0)
        e = r.input("x").elements[0]
        assert e.abs_err > 0 and r.verdict == "pass"  # only SymPy (exactly 1) can say so
        assert e.sympy == 1.0
        assert "pass (by SymPy)" in str(r) and "decided by SymPy" in str(r)
        assert "decided by SymPy" in r._repr_html_()

    def test_html_pass_if_lines_name_their_input(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            html = ga.check_grad(x * y, at={"x": 1.0, "y": 2.0}, sympy=False)._repr_html_()
        assert "<p>x: pass; pass if" in html and "<p>y: pass; pass if" in html


# a sine whose rule is right but builds a cosine whose own rule has the wrong sign: only
# second derivatives see it
_mycos = ga.defop("r2t_mycos", np.cos, vjp=lambda g, x: [g * ga.sin(x)])
_mysin = ga.defop("r2t_mysin", np.sin, vjp=lambda g, x: [g * _mycos(x)])


class TestG_SecondOrder:
    def test_wrong_second_derivative_fails_and_names_the_rule(self):
        with ga.Graph() as graph:
            x, y = ga.symbols("x y")
            e = _mysin(x * y) + x**2
            before = graph.nx.number_of_nodes()
            at = {"x": 0.7, "y": 1.3}
            assert ga.check_grad(e, at=at).verdict == "pass"  # first order is right
            r = ga.check_grad(e, at=at, order=2, seed=3)
            assert graph.nx.number_of_nodes() == before  # the user's graph gains nothing
        assert r.verdict == "fail" and r.culprit_check.op == "r2t_mycos", str(r)
        # the same random r with the correct sine: its AD is the true H r, which the
        # differences of the (first-order right) gradient must reproduce here
        with ga.Graph():
            x, y = ga.symbols("x y")
            good = ga.check_grad(ga.sin(x * y) + x**2, at=at, order=2, seed=3)
        assert good.verdict == "pass"
        for name in ("x", "y"):
            want = good.input(name).elements[0].ad
            assert r.input(name).elements[0].fd == pytest.approx(want, rel=1e-7)
            assert r.input(name).elements[0].ad != pytest.approx(want, rel=1e-3)
        assert "order 2" in str(r)

    def test_correct_functions_pass_at_order_two(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            r = ga.check_grad(ga.sin(x * y) * ga.exp(x), at={"x": 0.7, "y": 1.3}, order=2)
        assert r.verdict == "pass", str(r)
        r = ga.check_grad(lambda a: ga.tanh(a) * a, at=(np.array([0.1, 0.5, -2.0]),), order=2)
        assert r.verdict == "pass", str(r)
        with pytest.raises(ga.GraphadError, match="order"):
            ga.check_grad(lambda a: a * a, at=(1.0,), order=3)

    def test_cli_order_two(self):
        import argparse
        import io

        from graphad.cli import check as check_cmd

        def cli(argv):
            parser = argparse.ArgumentParser()
            check_cmd.add_arguments(parser)
            out = io.StringIO()
            return check_cmd.run(parser.parse_args(argv), out), out.getvalue()

        code, text = cli(["r2t_mysin(x) * x", "--at", "x=0.4", "--order", "2"])
        assert code == 1 and "culprit: r2t_mycos" in text
        code, text = cli(["sin(x) * x", "--at", "x=0.4", "--order", "2", "--no-sympy"])
        assert code == 0 and "PASS" in text


def _wrong_above_two(g, x):
    # right (cos) for x <= 2, 20% off above: only part of the domain shows it
    return [g * ga.cos(x) * ga.where(x > 2.0, 1.2, 1.0)]


class TestCheckOpSamplesTheDeclaredDomain:
    def test_rule_wrong_only_above_two_is_found(self):
        op = ga.defop("r2t_above2", np.sin, vjp=_wrong_above_two, domain=[(0.0, 4.0)])
        assert op.op.domain == ((0.0, 4.0),)
        for seed in range(5):  # whatever the seed: two strata suffice
            with pytest.raises(ga.GradientCheckError) as info:
                ga.testing.check_op(op, n=2, seed=seed)
            report = info.value.report
            assert report.culprit_check.op == "r2t_above2"
            assert float(next(iter(report.point.values()))) > 2.0

    def test_points_cover_every_stratum_of_each_element(self):
        rng = np.random.default_rng(1)
        pts = ga.testing.stratified([(0.0, 4.0), (-1.0, 1.0)], [(3,), ()], 5, rng)
        xs = np.array([p[0] for p in pts])  # (5, 3)
        ys = np.array([float(p[1]) for p in pts])
        for col in xs.T:
            assert sorted(((col - 0.2) // 0.72).astype(int)) == [0, 1, 2, 3, 4]
        assert sorted(((ys + 0.9) // 0.36).astype(int)) == [0, 1, 2, 3, 4]

    def test_defop_refuses_a_bad_domain(self):
        with pytest.raises(ga.GraphadError, match="domain"):
            ga.defop("r2t_baddom", np.sin, vjp=_wrong_above_two, domain=[(1.0, 0.0)])
        with pytest.raises(ga.GraphadError, match="domain"):
            ga.defop("r2t_baddom2", np.sin, vjp=_wrong_above_two, domain=[(0, 1), (0, 1)])


class TestRoundingAwareTolerances:
    def test_float32_rule_off_by_1e4_relative_is_caught_and_named(self):
        off = _op("tanh_1e4", np.tanh, lambda g, x: [g * (1 - ga.tanh(x) ** 2) * 1.0001])
        good = _op("tanh_ok", np.tanh, lambda g, x: [g * (1 - ga.tanh(x) ** 2)])
        for at in (0.3, 1.3, -2.0):
            with ga.Graph():
                x = ga.symbol("x", dtype="float32")
                r = ga.check_grad(ga.exp(off(x * 0.5)), at={"x": at})
                assert r.verdict == "fail" and r.culprit_check.op == "r2t_tanh_1e4", str(r)
                # the stated threshold is below the planted error
                e = r.input("x").elements[0]
                assert r.input("x").threshold(e) < 1e-4 * abs(e.fd)
                assert "detection threshold" in str(r)
                ok = ga.check_grad(ga.exp(good(x * 0.5)), at={"x": at})
                assert ok.verdict == "pass", str(ok)
