"""A folded constant keeps what it was folded from (``log(2)``) for printing, on a node
of its own: a literal of the same float value must keep printing as that literal.

``tanh(exp(3))`` rounds to exactly 1.0 in float64, so the fold and the literal ``1.0``
that every gradient carries have equal values; before, they shared one node, and the
derivative below printed a spurious ``tanh(exp(3)) *`` factor."""

from __future__ import annotations

import math

import numpy as np

import graphad as ga
from graphad.backends.printing import to_text


def test_a_fold_equal_to_a_literal_does_not_print_in_its_place():
    assert math.tanh(math.exp(3)) == 1.0  # the premise: the fold is exactly 1.0
    with ga.Graph():
        z = ga.symbol("z")
        e = ga.parse("tanh(sin(z**3)) / sin(tanh(exp(3)))")
        text = to_text(ga.grad(e, z))
        # the hand-derived derivative: 3 z^2 cos(z^3) (1 - tanh(sin(z^3))^2) / sin(tanh(e^3))
        assert text.count("tanh(exp(3))") == 1, text
        for zv in (0.3, -0.7, 1.1):
            want = (
                3
                * zv**2
                * math.cos(zv**3)
                * (1 - math.tanh(math.sin(zv**3)) ** 2)
                / math.sin(math.tanh(math.exp(3)))
            )
            back = ga.parse(text).eval(z=zv)
            assert np.isclose(back, want, rtol=1e-13)


def _exact(e):
    return e.graph.records()[e.id].exact


def test_literal_and_fold_of_equal_value_are_separate_nodes_both_orders():
    with ga.Graph():
        lit = ga.constant(1.0)
        fold = ga.parse("tanh(exp(3))")
        assert lit is not fold and lit.eval() == fold.eval() == 1.0
        assert _exact(lit) is None and _exact(fold)[0] == "tanh"
    with ga.Graph():
        fold = ga.parse("tanh(exp(3))")
        lit = ga.constant(1.0)  # made after the fold: still the plain literal
        assert lit is not fold and _exact(lit) is None and _exact(fold)[0] == "tanh"
        assert ga.parse("tanh(exp(3))") is fold  # equal folds are still shared
        assert ga.parse("log(2)") is ga.parse("log(2)")
        x = ga.symbol("x")
        assert to_text(x * ga.parse("log(2)")) == "x * log(2)"


def test_an_op_that_selects_a_constant_keeps_its_exact_form():
    with ga.Graph():
        x = ga.symbol("x")
        log2 = ga.parse("log(2)")
        picked = ga.maximum(log2, 0.5)  # folds to log(2)'s float: the same node
        assert picked is log2
        assert to_text(x * picked) == "x * log(2)"
        assert to_text(x * ga.where(False, 0.5, log2)) == "x * log(2)"
