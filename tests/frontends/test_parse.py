"""Tests of graphad.frontends.text: structure, errors and their positions, limits, scale, safety."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import inspect
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphad.core.errors import GraphadError, ParseError, ShapeError, UnknownNameError
from graphad.frontends.text import DEFAULT_LIMITS, Builder, ParseLimits, parse
from graphad.ops import OPS, PARSER_FUNCTIONS

# graphad/__init__ re-exports a function named parse, which shadows the submodule attribute.
parse_module = sys.modules["graphad.frontends.text"]

# the parser's functions and infix operators, as the op table declares them
FUNCTIONS = PARSER_FUNCTIONS


class Recorder:
    """Builds nested tuples, so tests can assert on the exact structure."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def number(self, value, text):
        assert type(value) in (int, float), value
        assert isinstance(text, str)
        return ("num", value)

    def name(self, ident):
        return ("name", ident)

    def unary(self, op, operand):
        assert op in ("-", "+")
        return (op, operand)

    def binary(self, op, left, right):
        return (op, left, right)

    def call(self, func, args, kwargs):
        self.calls.append(func)
        return ("call", func, args, kwargs)

    def is_function(self, name):
        return name in FUNCTIONS


class Counter:
    """A trivial builder for scale tests: each node is the count of nodes below it."""

    def number(self, value, text):
        return 1

    def name(self, ident):
        return 1

    def unary(self, op, operand):
        return operand + 1

    def binary(self, op, left, right):
        return left + right + 1

    def call(self, func, args, kwargs):
        return 1

    def is_function(self, name):
        return name in FUNCTIONS


def P(text, **kwargs):
    return parse(text, Recorder(), **kwargs)


def N(value):
    return ("num", value)


x, y, z = ("name", "x"), ("name", "y"), ("name", "z")
a, b, c = ("name", "a"), ("name", "b"), ("name", "c")


def perr(text, builder=None, **kwargs) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, builder or Recorder(), **kwargs)
    return info.value


# ------------------------------------------------------------------ structure


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2**3**2", ("**", N(2), ("**", N(3), N(2)))),
        ("2^3^2", ("**", N(2), ("**", N(3), N(2)))),
        ("-x**2", ("-", ("**", x, N(2)))),
        ("-x^2", ("-", ("**", x, N(2)))),
        ("a-b-c", ("-", ("-", a, b), c)),
        ("a/b/c", ("/", ("/", a, b), c)),
        ("x@y*z", ("*", ("@", x, y), z)),
        ("x*y@z", ("@", ("*", x, y), z)),
        ("2**-1", ("**", N(2), ("-", N(1)))),
        ("2**-x**2", ("**", N(2), ("-", ("**", x, N(2))))),
        ("2**-x*3", ("*", ("**", N(2), ("-", x)), N(3))),
        ("-x*y", ("*", ("-", x), y)),
        ("--x", ("-", ("-", x))),
        ("+x - -y", ("-", ("+", x), ("-", y))),
        ("x+y*z", ("+", x, ("*", y, z))),
        ("(x+y)*z", ("*", ("+", x, y), z)),
        ("((x))", x),
        ("(-1)**2", ("**", ("-", N(1)), N(2))),
        ("-1", ("-", N(1))),
        ("a < b + c", ("<", a, ("+", b, c))),
        ("a+1 >= -b", (">=", ("+", a, N(1)), ("-", b))),
        ("(a < b) == c", ("==", ("<", a, b), c)),
        ("a != b", ("!=", a, b)),
        ("a <= b", ("<=", a, b)),
        ("x\t+\n y\r\n", ("+", x, y)),
        ("2*pi + e", ("+", ("*", N(2), ("name", "pi")), ("name", "e"))),
    ],
)
def test_structure(text, expected):
    assert P(text) == expected


@pytest.mark.parametrize(
    "text, value",
    [
        ("1_000", 1000),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("5.", 5.0),
        ("1.5E+2", 150.0),
        ("1.e2", 100.0),
        ("0", 0),
        ("00", 0),
        ("0_0", 0),
        ("0.0", 0.0),
        ("0x1F", 31),
        ("0b1_01", 5),
        ("0o17", 15),
        ("012.5", 12.5),
        ("1_000.000_1", 1000.0001),
    ],
)
def test_numbers(text, value):
    result = P(text)
    assert result == N(value)
    assert type(result[1]) is type(value)


def test_number_text_is_the_source_literal():
    seen = []

    class Texts(Recorder):
        def number(self, value, text):
            seen.append(text)
            return super().number(value, text)

    parse("1_000 + 0x1f + .5e1", Texts())
    assert seen == ["1_000", "0x1f", ".5e1"]


def test_identifiers_are_nfkc_normalized():
    assert P("ｘ + ℌ") == ("+", x, ("name", "H"))
    assert P("θ*x_1") == ("*", ("name", "θ"), ("name", "x_1"))
    assert P("ｓｉｎ(x)") == ("call", "sin", [x], {})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sum(x, axis=0, keepdims=True)", ("call", "sum", [x], {"axis": 0, "keepdims": True})),
        ("softmax(x, axis=-1)", ("call", "softmax", [x], {"axis": -1})),
        ("clip(x, 0, 1)", ("call", "clip", [x, 0, 1], {})),
        ("clip(x, -0.5, 1.5)", ("call", "clip", [x, -0.5, 1.5], {})),
        ("concatenate([x, y], axis=0)", ("call", "concatenate", [[x, y]], {"axis": 0})),
        ("stack((x, y))", ("call", "stack", [(x, y)], {})),
        ("stack((x,))", ("call", "stack", [(x,)], {})),
        ("reshape(x, (2, 3))", ("call", "reshape", [x, (2, 3)], {})),
        ("reshape(x, [-1, 2])", ("call", "reshape", [x, [-1, 2]], {})),
        ("reshape(x, ((2, 3), [4]))", ("call", "reshape", [x, ((2, 3), [4])], {})),
        ("transpose(x, ())", ("call", "transpose", [x, ()], {})),
        ("stack([])", ("call", "stack", [[]], {})),
        ("sum(x, axis=None)", ("call", "sum", [x], {"axis": None})),
        ("sum(x, keepdims = False)", ("call", "sum", [x], {"keepdims": False})),
        ("sum(x,)", ("call", "sum", [x], {})),
        ("sum(x, axis=0,)", ("call", "sum", [x], {"axis": 0})),
        ("relu()", ("call", "relu", [], {})),
        ("sum((1))", ("call", "sum", [1], {})),
        ("sum(-x)", ("call", "sum", [("-", x)], {})),
        ("sum(2*3)", ("call", "sum", [("*", N(2), N(3))], {})),
        ("sum(-1 + x)", ("call", "sum", [("+", ("-", N(1)), x)], {})),
        ("sum(+1)", ("call", "sum", [("+", N(1))], {})),
        ("sum(- -1)", ("call", "sum", [("-", ("-", N(1)))], {})),
        ("sum(-2**2)", ("call", "sum", [("-", ("**", N(2), N(2)))], {})),
        ("where(x > 0, x, 0.5)", ("call", "where", [(">", x, N(0)), x, 0.5], {})),
        ("sin(x) * cos(y)", ("*", ("call", "sin", [x], {}), ("call", "cos", [y], {}))),
        ("-sin(x)**2", ("-", ("**", ("call", "sin", [x], {}), N(2)))),
        ("exp (x)", ("call", "exp", [x], {})),
        (
            "maximum(sum(x, axis=1), 0)",
            ("call", "maximum", [("call", "sum", [x], {"axis": 1}), 0], {}),
        ),
    ],
)
def test_calls(text, expected):
    result = P(text)
    assert result == expected
    if result[0] == "call":  # Python values keep their exact types (int stays int)
        assert list(map(type, result[2])) == list(map(type, expected[2]))


def test_literal_argument_types():
    _tag, _func, args, kwargs = P("clip(x, -1, 2.5, True, None, axis=-1)")
    assert [type(v) for v in args[1:]] == [int, float, bool, type(None)]
    assert type(kwargs["axis"]) is int and kwargs["axis"] == -1


def test_builder_protocol_is_satisfied_by_recorder():
    assert isinstance(Recorder(), Builder)
    assert ParseLimits() == DEFAULT_LIMITS


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text, position, fragment",
    [
        ("", 0, "empty"),
        ("  \t\n", 0, "empty"),
        ("2x", 1, "2*x"),
        ("2 x", 2, "2*x"),
        ("3sin(x)", 1, "3*sin"),
        ("2(x+1)", 1, "2*("),
        ("x y", 2, "missing operator"),
        ("sin(x) y", 7, "missing operator"),
        ("x + $", 4, "unexpected character '$'"),
        ("x\n+ $", 4, "unexpected character"),
        ("(x + 1", 0, "never closed"),
        ("sin(x))", 6, "unmatched ')'"),
        ("x)", 1, "unmatched ')'"),
        ("]", 0, "unmatched ']'"),
        ("(x]", 2, "does not match"),
        ("sum([x)", 6, "does not match"),
        ("((x)", 0, "never closed"),
        ("(" * 50, 49, "never closed"),
        ("foo(x)", 0, "foo"),
        ("x(1)", 0, "unknown function 'x'"),
        ("x +", 2, "operand"),
        ("x **", 2, "'**'"),
        ("2 ** ", 2, "'**'"),
        ("x + -", 4, "operand"),
        ("-", 0, "operand"),
        ("* x", 0, "missing operand"),
        ("x + * y", 4, "missing operand"),
        ("(x + )", 5, "missing operand"),
        ("x.T", 1, "attribute access"),
        ("a.__class__", 1, "attribute access"),
        ("sin(x).real", 6, "attribute access"),
        ("x[0]", 1, "subscript"),
        ("lambda: 1", 0, "lambda"),
        ("x if y else z", 2, "conditional"),
        ("[x for x in y]", 0, "lists"),
        ("sum(x for x in y)", 6, "comprehension"),
        ("x and y", 2, "'and'"),
        ("x or y", 2, "'or'"),
        ("not x", 0, "'not'"),
        ("x is y", 2, "'is'"),
        ("x in y", 2, "'in'"),
        ("(y := 1)", 3, ":="),
        ("x // y", 2, "//"),
        ("x & y", 2, "bitwise"),
        ("x << 2", 2, "shift"),
        ("import os", 0, "'import'"),
        ("yield x", 0, "'yield'"),
        ("x < y < z", 6, "chained comparisons"),
        ("x == y != z", 7, "chained comparisons"),
        ("a < b + c > d", 10, "chained comparisons"),
        ("1j", 0, "complex"),
        ("2.5J + x", 0, "complex"),
        ("'a'", 0, "string literals"),
        ('"a"', 0, "string literals"),
        ("x +\\\n y", 3, "backslash"),
        ("x; y", 1, "single expression"),
        ("x # c", 2, "comments"),
        ("{1}", 0, "dict and set"),
        ("\0", 0, "unexpected character U+0000"),
        ("x × y", 2, "unexpected character '×' (U+00D7)"),
        ("x\u00a0+ y", 1, "U+00A0"),
        ("x²", 1, "U+00B2"),
        ("１", 0, "U+FF11"),
        ("__import__", 0, "names beginning with '__' are not allowed"),
        ("x + __y", 4, "names beginning with '__'"),
        ("_＿x", 0, "names beginning with '__'"),  # NFKC turns it into __x
        ("＿＿x", 0, "U+FF3F"),  # not an identifier start, as in Python
        ("sin + 1", 0, "function"),
        ("sin", 0, "function"),
        ("(1, 2)", 2, "tuple"),
        ("x, y", 1, "tuple"),
        ("()", 0, "empty parentheses"),
        ("True", 0, "function argument"),
        ("None + x", 0, "function argument"),
        ("sum(True + 1)", 4, "True"),
        ("sum((1, 2) + x)", 4, "tuple"),
        ("sum(x * [1])", 8, "list"),
        ("sum(x, axis=0, 1)", 15, "positional argument follows keyword"),
        ("sum(x, axis=0, axis=1)", 15, "repeated"),
        ("sum(x, axis=)", 12, "no value"),
        ("sum(*x)", 4, "unpacking"),
        ("sum(**k)", 4, "unpacking"),
        ("sum(,)", 4, "missing operand"),
        ("sum(x,,)", 6, "missing operand"),
        ("sum(x + 1 = 2)", 10, "'='"),
        ("x = 1", 2, "'='"),
        ("=x", 0, "'='"),
        (".", 0, "unexpected character '.'"),
        ("012", 0, "leading zeros"),
        ("1_", 0, "invalid numeric literal"),
        ("1__0", 0, "invalid numeric literal"),
        ("0x", 0, "invalid numeric literal"),
        ("0b12", 0, "invalid numeric literal"),
        ("x!", 1, "'!'"),
        ("`x`", 0, "unexpected character"),
    ],
)
def test_errors(text, position, fragment):
    err = perr(text)
    assert err.position == position, err
    assert fragment in err.reason, err
    assert err.text == text
    assert isinstance(err, ValueError) and isinstance(err, GraphadError)


def test_error_display_has_caret():
    err = perr("x + 2x")
    assert err.position == 5
    assert str(err).splitlines()[-1] == "  " + " " * 5 + "^"
    assert "2*x" in str(err)


def test_unknown_function_suggestions():
    assert "did you mean 'sin'" in perr("sinn(x)").reason
    assert "'softmax'" in perr("soft_max(x)").reason
    assert "'log_softmax'" in perr("logsoftmax(x)").reason
    assert "'sin'" in perr("Sin(x)").reason
    assert "did you mean" not in perr("foo(x)").reason
    assert perr("frobnicate_" * 10 + "(x)").reason.startswith("unknown function")


def test_suggestions_use_function_names_when_the_builder_lists_them():
    class Listing(Recorder):
        def function_names(self):
            return sorted(FUNCTIONS)

    err = perr("logsumexpp(x)", Listing())
    assert "'logsumexp'" in err.reason


# ------------------------------------------------------------ builder errors


class Failing(Recorder):
    def __init__(self, method, exc):
        super().__init__()
        self.method = method
        self.exc = exc

    def __getattribute__(self, attr):
        if attr == object.__getattribute__(self, "method"):
            exc = object.__getattribute__(self, "exc")

            def fail(*args):
                raise exc

            return fail
        return object.__getattribute__(self, attr)


@pytest.mark.parametrize(
    "method, text, position",
    [
        ("binary", "x + y", 2),
        ("binary", "x * y ** z", 6),
        ("unary", "1 - -x", 4),
        ("call", "y * sum(x, axis=0)", 4),
        ("name", "1 + foo", 4),
        ("number", "x + 12", 4),
        ("number", "x + (-12)", 6),
    ],
)
@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad shapes"),
        TypeError("bad types"),
        UnknownNameError("bad name"),
        ParseError("bad parse"),
    ],
)
def test_builder_errors_become_parse_errors(method, text, position, exc):
    err = perr(text, Failing(method, exc))
    assert err.position == position
    assert err.text == text
    assert err.reason == (exc.reason if isinstance(exc, ParseError) else str(exc))
    assert err.__cause__ is exc


def test_builder_shape_error_propagates_unchanged():
    exc = ShapeError("(2,) and (3,) cannot broadcast")
    with pytest.raises(ShapeError) as info:
        parse("x + y", Failing("binary", exc))
    assert info.value is exc


def test_builder_parse_error_with_text_propagates_unchanged():
    exc = ParseError("inner", "other text", 3)
    with pytest.raises(ParseError) as info:
        parse("sum(x)", Failing("call", exc))
    assert info.value is exc


def test_other_builder_exceptions_are_not_swallowed():
    with pytest.raises(KeyError):
        parse("x + y", Failing("binary", KeyError("k")))


def test_non_string_input():
    with pytest.raises(TypeError):
        parse(b"x", Recorder())


# --------------------------------------------------------------------- limits


def test_max_length():
    assert P("x" * 10, limits=ParseLimits(max_length=10)) == ("name", "x" * 10)
    err = perr("x" * 11, limits=ParseLimits(max_length=10))
    assert err.reason == "input is 11 characters long; the limit is max_length=10"
    err = perr("x" * 1_000_001)
    assert "input is 1000001 characters long; the limit is max_length=1000000" in err.reason


def test_max_depth():
    assert P("((x))", limits=ParseLimits(max_depth=2)) == x
    err = perr("((x))", limits=ParseLimits(max_depth=1))
    assert err.position == 1 and "max_depth=1" in err.reason
    err = perr("sum(sin(x))", limits=ParseLimits(max_depth=1))
    assert err.position == 7 and "max_depth=1" in err.reason
    assert perr("sum([[1]])", limits=ParseLimits(max_depth=2)).position == 5


def test_max_tokens():
    assert P("x+x", limits=ParseLimits(max_tokens=3)) == ("+", x, x)
    err = perr("x + x + x", limits=ParseLimits(max_tokens=4))
    assert err.position == 8 and "max_tokens=4" in err.reason


def test_max_literal_digits():
    limits = ParseLimits(max_literal_digits=3)
    for ok in ("999", "1.25", "1e10", "0x_fff", "0.5"):
        P(ok, limits=limits)
    for bad in ("1000", "1_000", "12.34", "0xffff", "x + 1e1000"):
        err = perr(bad, limits=limits)
        assert "the limit is max_literal_digits=3" in err.reason, bad
    err = perr("x+" + "1" * 401)
    assert err.position == 2
    assert "401 digits; the limit is max_literal_digits=400" in err.reason


def test_huge_literal_past_pythons_int_limit_is_a_parse_error():
    err = perr("7" * 5000, limits=ParseLimits(max_literal_digits=10_000))
    assert err.position == 0


def test_limits_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.max_depth = 5
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValueError):
            ParseLimits(max_depth=bad)
    assert DEFAULT_LIMITS.max_length == 1_000_000
    assert DEFAULT_LIMITS.max_depth == 10_000
    assert DEFAULT_LIMITS.max_tokens == 2_000_000
    assert DEFAULT_LIMITS.max_literal_digits == 400


# ---------------------------------------------------------------------- scale


def test_200000_term_sum():
    text = "+".join(f"x{i}" for i in range(200_000))
    assert len(text) > DEFAULT_LIMITS.max_length
    assert "max_length=1000000" in perr(text, Counter()).reason
    assert parse(text, Counter(), limits=ParseLimits(max_length=2_000_000)) == 399_999


def test_million_character_input():
    text = "+".join(["x"] * 500_000)
    assert len(text) == 999_999
    assert parse(text, Counter()) == 999_999


def test_left_associative_sum_shape():
    # (((x0 + x1) + x2) + x3): the left operand of each + is the previous sum.
    assert P("x0+x1+x2+x3") == (
        "+",
        ("+", ("+", ("name", "x0"), ("name", "x1")), ("name", "x2")),
        ("name", "x3"),
    )


def test_deep_nesting():
    assert P("(" * 10_000 + "x" + ")" * 10_000) == x
    assert parse("sin(" * 10_000 + "x" + ")" * 10_000, Counter()) == 1
    err = perr("(" * 10_001 + "x" + ")" * 10_001)
    assert err.position == 10_000 and "max_depth=10000" in err.reason
    err = perr("(" * 100_000 + "x" + ")" * 100_000)
    assert err.position == 10_000 and "max_depth=10000" in err.reason
    assert "never closed" in perr("(" * 10_000).reason


def test_long_operator_chains():
    assert parse("-" * 100_000 + "x", Counter()) == 100_001
    assert parse("**".join(["x"] * 100_000), Counter()) == 199_999
    assert parse("2" + "**-2" * 50_000, Counter()) == 150_001


def test_parser_uses_no_recursion():
    depth = len(inspect.stack(0))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)
    try:
        assert parse("(" * 5_000 + "x" + ")" * 5_000, Counter()) == 1
        assert parse("sum(" * 3_000 + "x" + ")" * 3_000, Counter()) == 1
        assert parse("-" * 5_000 + "x" + "**x" * 5_000, Counter()) == 15_001
        with pytest.raises(ParseError):
            parse("(" * 5_000 + "sinn(x)", Counter())
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("module", ["graphad.frontends.text", "graphad.frontends.lexer"])
def test_source_has_no_eval_and_no_self_calls(module):
    tree = ast.parse(Path(sys.modules[module].__file__).read_text(encoding="utf-8"))
    forbidden = {"eval", "exec", "compile", "__import__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id not in forbidden, node.id
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            assert not {"ast", "sympy"} & {n.split(".")[0] for n in names}
        if isinstance(node, ast.FunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    callee = inner.func
                    name = getattr(callee, "id", None) or getattr(callee, "attr", None)
                    assert name != node.name, f"{node.name} calls itself"


# ------------------------------------------------------------------- injection

INJECTIONS = [
    "__import__('os').system('touch {canary}')",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "[x for x in y]",
    "exec('1')",
    'eval("1")',
    "open('f')",
    "exec(\"open('{canary}', 'w')\")",
    "sum(__import__('os').system('touch {canary}'))",
    "sin.__globals__",
    "x.__class__",
    "getattr(x, '__class__')",
    "globals()",
    "breakpoint()",
    "(lambda: __import__('os'))()",
    "sum(x, axis=__import__('os').system('touch {canary}'))",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_is_refused(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "CANARY"
    recorder = Recorder()
    with pytest.raises(ParseError):
        parse(template.format(canary=canary), recorder)
    assert not canary.exists()
    assert not (tmp_path / "f").exists()
    assert set(recorder.calls) <= FUNCTIONS


# ------------------------------------------------------------------ hypothesis

FRAGMENTS = [
    "x", "y", "sin", "sum", "1", "2.5", "1e3", "0x1", "(", ")", "[", "]", ",", "=", "==",
    "+", "-", "*", "**", "/", "@", "^", "<", ">=", " ", "\n", ".", "axis", "True", "None",
    "_", "e", "j", "lambda", "$", "'", "θ", "ｘ", "__", "\0", ":", "!=", "(x,)",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_gives_result_or_parse_error(text):
    try:
        P(text)
    except ParseError as err:
        assert 0 <= err.position <= len(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_token_soup_gives_result_or_parse_error(text):
    try:
        P(text)
    except ParseError as err:
        assert 0 <= err.position <= len(text)


BINARY_OPS = sorted(op.infix for op in OPS.values() if op.infix and op.public)
NAMES = ["x", "y", "z", "alpha", "w_1", "pi", "e", "θ", "x0", "inf"]

leaves = st.one_of(
    st.integers(0, 10**12).map(N),
    st.floats(0, 1e300, allow_nan=False, allow_infinity=False).map(N),
    st.sampled_from(NAMES).map(lambda n: ("name", n)),
)


def _whole_argument_safe(node) -> bool:
    # A bare (or negated) number node as a whole argument re-parses as a Python value.
    return node[0] != "num" and not (node[0] == "-" and len(node) == 2 and node[1][0] == "num")


def _extend(children):
    args = children.filter(_whole_argument_safe)
    values = st.one_of(
        args,
        st.integers(-9, 9),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.booleans(),
        st.none(),
        st.lists(st.one_of(st.integers(-3, 3), args), max_size=3),
        st.lists(st.one_of(st.integers(-3, 3), args), max_size=3).map(tuple),
    )
    return st.one_of(
        st.tuples(st.sampled_from(BINARY_OPS), children, children),
        st.tuples(st.sampled_from(["-", "+"]), children),
        st.builds(
            lambda func, pos, kw: ("call", func, pos, kw),
            st.sampled_from(sorted(FUNCTIONS)),
            st.lists(values, max_size=3),
            st.dictionaries(st.sampled_from(["axis", "keepdims", "k"]), values, max_size=2),
        ),
    )


expressions = st.recursive(leaves, _extend, max_leaves=25)


def to_text(tree) -> str:
    """Fully parenthesized source for a Recorder tree, without recursion."""
    out: list[str] = []
    stack: list = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, tuple) and item and isinstance(item[0], str):  # a node
            tag = item[0]
            if tag in ("num", "name"):
                out.append(repr(item[1]) if tag == "num" else item[1])
            elif tag == "call":
                _, func, args, kwargs = item
                parts: list = [_Raw(func + "(")]
                for i, arg in enumerate(args):
                    parts += [_Raw(", ")] * (i > 0) + [arg]
                for i, (key, arg) in enumerate(kwargs.items()):
                    parts += [_Raw(", ")] * (i > 0 or bool(args)) + [_Raw(key + "="), arg]
                stack.extend(reversed([*parts, _Raw(")")]))
            elif len(item) == 2:
                stack.extend(reversed([_Raw("(" + tag), item[1], _Raw(")")]))
            else:
                stack.extend(reversed([_Raw("("), item[1], _Raw(f" {tag} "), item[2], _Raw(")")]))
        elif isinstance(item, list | tuple):  # a Python list/tuple argument
            opener, closer = ("[", "]") if isinstance(item, list) else ("(", ")")
            parts = [_Raw(opener)]
            for i, element in enumerate(item):
                parts += [_Raw(", ")] * (i > 0) + [element]
            if isinstance(item, tuple) and len(item) == 1:
                parts.append(_Raw(","))
            stack.extend(reversed([*parts, _Raw(closer)]))
        else:  # int, float, bool or None argument
            out.append(repr(item))
    return "".join(out)


class _Raw(str):
    """Text the printer emits verbatim."""


def test_printer_output():
    tree = ("call", "sum", [("-", x), -1, (2,), [], True], {"axis": None})
    assert to_text(tree) == "sum((-x), -1, (2,), [], True, axis=None)"
    assert to_text(("**", N(2), ("-", y))) == "(2 ** (-y))"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expressions)
def test_printed_expressions_reparse_to_the_same_structure(tree):
    text = to_text(tree)
    assert P(text) == tree, text
    # Operators never depend on spacing.
    assert P(text.replace(" ", "")) == tree


# -------------------------------------------------------------------- doctest


def test_docstring_examples_run():
    result = doctest.testmod(parse_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_inf_literal_is_a_float():
    # Python's own rule: an overflowing float literal is inf, not an error.
    assert P("1e400") == N(math.inf)
