"""The array API standard's names that NumPy 2 has for existing ops (``np.atan`` is
``np.arctan``): ``ga`` has them too, ``ga.parse`` reads them, and text written by
SymPy (``atan``, ``asin``) parses."""

import numpy as np
import pytest
import sympy

import graphad as ga

PAIRS = [
    ("asin", "arcsin"),
    ("acos", "arccos"),
    ("atan", "arctan"),
    ("asinh", "arcsinh"),
    ("acosh", "arccosh"),
    ("atanh", "arctanh"),
    ("atan2", "arctan2"),
    ("pow", "power"),
    ("concat", "concatenate"),
    ("permute_dims", "transpose"),
]


@pytest.mark.parametrize(("short", "long"), PAIRS)
def test_each_name_is_numpys_alias_and_ours(short, long):
    assert getattr(np, short) is getattr(np, long)  # the alias this mirrors
    assert getattr(ga, short) is getattr(ga, long)
    assert short in ga.__all__


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("asin(x / 2)", lambda x, y: np.arcsin(x / 2)),
        ("acos(x / 2)", lambda x, y: np.arccos(x / 2)),
        ("atan(x) * y", lambda x, y: np.arctan(x) * y),
        ("asinh(x) - acosh(y + 1)", lambda x, y: np.arcsinh(x) - np.arccosh(y + 1)),
        ("atanh(x / 3)", lambda x, y: np.arctanh(x / 3)),
        ("atan2(y, x)", lambda x, y: np.arctan2(y, x)),
        ("pow(x, y)", lambda x, y: np.power(x, y)),
    ],
)
def test_the_parser_reads_them(text, ref):
    x, y = np.array([0.3, 1.1, 1.7]), np.array([0.5, 2.0, 0.25])
    with ga.Graph():
        e = ga.parse(text)
        np.testing.assert_array_equal(e.eval(x=x, y=y), ref(x, y))


def test_one_node_whichever_name_built_it():
    with ga.Graph():
        a = ga.parse("atan(x) + arctan(x)")
        x = ga.symbol("x")
        assert ga.atan(x).id == ga.arctan(x).id
        assert str(a) == "2 * atan(x)"


def test_printed_text_uses_the_short_names_and_parses_back():
    with ga.Graph():
        e = ga.parse("arctan(x) * arcsinh(y) + arctan2(y, x)")
        text = str(e)
        assert text == "atan(x) * asinh(y) + atan2(y, x)"
        at = {"x": np.array([0.4, -1.3]), "y": np.array([2.0, 0.7])}
        np.testing.assert_array_equal(ga.parse(text).eval(at), e.eval(at))
        assert ga.latex(ga.parse("arctanh(x)")) == r"\operatorname{atanh}{\left(x \right)}"
        assert ga.latex(ga.parse("arctan2(y, x)")).startswith(r"\operatorname{atan2}")


def test_sympys_text_of_a_derivative_parses_with_the_same_values():
    x, y = sympy.symbols("x y", real=True)
    d = sympy.diff(sympy.atan(x / y) * sympy.asin(x / 3), x)
    text = str(d)
    assert "atan" in text and "asin" in text
    at = {"x": np.array([0.3, 1.2]), "y": np.array([0.5, -2.0])}
    want = np.array([float(d.subs({x: a, y: b})) for a, b in zip(at["x"], at["y"], strict=True)])
    with ga.Graph():
        np.testing.assert_allclose(ga.parse(text).eval(at), want, rtol=1e-13)
