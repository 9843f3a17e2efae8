"""Property-based fuzzing of the whole pipeline: text -> graph -> text, compile vs interpret,
gradients vs finite differences.

The parser's own properties (any text gives a result or a ParseError at a
valid position) are in ``test_parse.py`` against a recording builder; here
the real graph builder is used, with the ``ga`` functions behind it.  The
runs are derandomized so CI is reproducible; ``make fuzz`` explores further
(``fuzz/parse_fuzz.py``).
"""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import graphad as ga
from graphad.ops import OPS

# GRAPHAD_FUZZ_EXAMPLES=20000 turns these into a long randomized run (``make fuzz``'s
# fallback where atheris is not available)
_EXAMPLES = int(os.environ.get("GRAPHAD_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=_EXAMPLES or 150,
    deadline=None,
    derandomize=not _EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

NAMES = ["x", "y", "z"]
NUMBERS = ["0", "1", "2", "3", "0.5", "2.5", "1e-3", "1.5e2", "pi", "e"]
# the parser's elementwise functions and arithmetic operators, from the op table
_ELEMENTWISE = [op for op in OPS.values() if op.public and op.elementwise and op.parse]
UNARY = sorted(op.name for op in _ELEMENTWISE if op.nargs == 1)
REDUCE = ["sum", "mean", "max", "min", "prod", "logsumexp"]
BINARY_OPS = sorted(op.infix for op in _ELEMENTWISE if op.infix and op.dtype != "bool")
BINARY_FNS = sorted(op.name for op in _ELEMENTWISE if op.nargs == 2 and op.dtype != "bool")
CMP = ["<", "<=", ">", ">=", "==", "!="]


def _grammar(unary, binary_ops, binary_fns, reduce, conditionals=True, leaves=None):
    """Random expression text from a small grammar over the ``ga`` functions."""
    leaves = leaves if leaves is not None else st.sampled_from(NAMES + NUMBERS)

    def call(*parts):
        return st.builds(lambda *p: f"{p[0]}({', '.join(p[1:])})", *parts)

    def extend(child):
        ops = st.sampled_from(binary_ops)
        options = [
            call(st.sampled_from(unary), child),
            st.builds(lambda a, op, b: f"({a} {op} {b})", child, ops, child),
            st.builds(lambda a: f"-{a}", child),
        ]
        if binary_fns:
            options.append(call(st.sampled_from(binary_fns), child, child))
        if reduce:
            options.append(call(st.sampled_from(reduce), child))
        if conditionals:
            cond = st.builds(lambda a, c, b: f"{a} {c} {b}", child, st.sampled_from(CMP), child)
            options.append(call(st.just("where"), cond, child, child))
            options.append(call(st.just("clip"), child, st.just("-1"), st.just("2")))
        return st.one_of(options)

    return st.recursive(leaves, extend, max_leaves=10)


ANY_EXPR = _grammar(UNARY, BINARY_OPS, BINARY_FNS, REDUCE)
# smooth and bounded: finite differences are accurate everywhere on [-1, 1]
SMOOTH_EXPR = _grammar(
    ["sin", "cos", "tanh", "sigmoid", "softplus", "arctan", "square"],
    ["+", "-", "*"],
    [],
    [],
    conditionals=False,
    leaves=st.sampled_from([*NAMES, "0.5", "2", "1.5"]),
)

POINT = st.tuples(*[st.floats(-2, 2, allow_nan=False, allow_infinity=False)] * 3)


@SETTINGS
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_graphad_error(text):
    with ga.Graph():
        try:
            e = ga.parse(text)
        except ga.GraphadError as err:
            if isinstance(err, ga.ParseError):
                assert 0 <= err.position <= len(text)
            return
        assert isinstance(e, ga.Expr)


TOKENS = ["x", "y", "sin", "sum", "where", "reshape", "concatenate", "clip", "(", ")", "[", "]",
          ",", "axis=", "keepdims=", "shape=", "-1", "0", "2", "1e308", "**", "*", "+", "-", "/",
          "@", "<", "==", "True", "None", "(2, 3)", "[1, 2]", " ", "pi", "e", "9" * 20]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=20).map("".join), POINT)
def test_token_soup_parses_evaluates_and_compiles_or_raises_graphad_errors(text, point):
    """Whatever parses evaluates, interpreted and compiled alike, or fails with a GraphadError."""
    with ga.Graph():
        try:
            e = ga.parse(text)
        except ga.GraphadError:
            return
        values = dict(zip(NAMES, point, strict=True))
        try:
            want = e.eval(values)
        except ga.GraphadError:
            return
        (got,) = ga.compile([e], inputs=[n for n in NAMES if n in e.free_symbols])(
            *[values[n] for n in NAMES if n in e.free_symbols]
        )
        _same(got, want)


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@SETTINGS
@given(ANY_EXPR)
@example("sin(log(0))")  # NaN printed as "nan" parsed back as an input named nan
@example("e <= 88")  # a folded comparison printed as "True", which is no operand
@example("(1 < 2) + x * (0 != 0) + where(1 > 2, x, -(0/0))")
def test_print_parse_print_is_stable(text):
    with ga.Graph():
        e = ga.parse(text)
        printed = str(e)
        again = ga.parse(printed)
        # the printer collects terms (x - y - (z - x) prints 2 * x - y - z), so the
        # parsed text is an equal function, not always the same node; its text is a
        # fixed point and its values are the same
        assert str(again) == printed, (text, printed, str(again))
        at = {"x": np.array([0.5, -1.25]), "y": np.array([1.5, 0.75]), "z": np.array([-0.5, 2.0])}
        with np.errstate(all="ignore"):
            want, got = e.eval(at), again.eval(at)
        np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True, err_msg=text)


@SETTINGS
@given(ANY_EXPR, POINT, st.sampled_from([np.float64, np.float32]))
def test_compiled_equals_interpreted(text, point, dtype):
    with ga.Graph():
        e = ga.parse(text)
        names = list(e.free_symbols)
        gs = ga.grad(e, names) if names else []
        values = {n: dtype(v) for n, v in zip(NAMES, point, strict=True)}
        f = ga.compile([e, *gs], inputs=names)
        got = f(*[values[n] for n in names])
        for g, w in zip(got, [e.eval(values), *(g.eval(values) for g in gs)], strict=True):
            g, w = np.asarray(g), np.asarray(w)
            assert g.dtype == w.dtype and g.shape == w.shape
            # the optimizer may reassociate constants: equal to rounding, NaN/inf in place
            np.testing.assert_allclose(g, w, rtol=1e-5 if dtype is np.float32 else 1e-12)


@SETTINGS
@given(SMOOTH_EXPR, st.tuples(*[st.floats(-1, 1)] * 3))
def test_gradient_matches_finite_differences(text, point):
    with ga.Graph():
        e = ga.parse(text)
        names = list(e.free_symbols)
        assume(names)
        f = ga.compile([e, *ga.grad(e, names)], inputs=names)
    x0 = np.array([dict(zip(NAMES, point, strict=True))[n] for n in names])

    def value(x):
        return float(f(*x)[0])

    grad = np.array([float(g) for g in f(*x0)[1:]])
    for i in range(len(names)):
        # Richardson-extrapolated central differences: error O(h**4)
        def central(h, i=i):
            d = np.zeros_like(x0)
            d[i] = h
            return (value(x0 + d) - value(x0 - d)) / (2 * h)

        h = 1e-3
        fd = (4 * central(h / 2) - central(h)) / 3
        scale = max(1.0, abs(fd), abs(value(x0)))
        assert math.isclose(grad[i], fd, rel_tol=1e-6, abs_tol=1e-7 * scale), (
            text, names[i], grad[i], fd,
        )  # fmt: skip
