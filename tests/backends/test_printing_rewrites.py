"""Issue 20's shorter printing: names chosen by measuring the whole text, named powers
(``sqrt(u)``), numeric content out of sums, powers of powers, ``log(sqrt(u))``.

Every printed form is checked against values computed here with NumPy from the
formula written by hand, and against the unprinted gradient graph."""

import random
import re

import numpy as np
import pytest

import graphad as ga
from graphad.backends.printing import text_parts, to_text


def _plen(text):
    """Length as the issue counts it: spaces dropped, ``**`` one character."""
    return len(text.replace(" ", "").replace("**", "^"))


def _named_value(main, defs, at):
    """Value of a text with ``where`` definitions: each definition evaluated in order
    (later ones may use earlier names), then the main text."""
    env = dict(at)
    with ga.Graph():
        for name, text in defs:
            env[name] = ga.parse(text).eval(env)
        return ga.parse(main).eval(env)


AT = {
    "x": np.array([0.3, 0.9, 1.7]),
    "y": np.array([0.4, 1.1, 2.3]),
    "z": np.array([0.6, 1.3, 0.8]),
}


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_sigmoid_derivative_names_sigmoid_when_that_is_shorter():
    y = AT["y"]
    with ga.Graph():
        g = ga.grad(ga.parse("sigmoid(y)"), "y")
        main, defs = text_parts(g)
        plain = str(g)
    # written out: 24 characters as counted; named: 23
    assert plain == "sigmoid(y) * (1 - sigmoid(y))"
    assert (main, defs) == ("t * (1 - t)", [("t", "sigmoid(y)")])
    assert _plen(to_text(g, names=True)) < _plen(plain)
    np.testing.assert_allclose(_named_value(main, defs, AT), _sig(y) * (1 - _sig(y)), rtol=1e-14)


def test_a_square_root_that_is_a_factor_is_named_with_the_rest():
    x = AT["x"]
    with ga.Graph():
        g = ga.grad(ga.parse("tanh(sqrt(x)) + exp(sqrt(x))"), "x")
        main, defs = text_parts(g)
    # sqrt(x) is an argument (tanh, exp) and a factor (the chain rule's 1 / (2 * sqrt(x)))
    assert dict(defs)["t"] == "sqrt(x)"
    assert "sqrt" not in main and "2 * t" in main
    r = np.sqrt(x)
    want = ((1 - np.tanh(r) ** 2) + np.exp(r)) / (2 * r)
    np.testing.assert_allclose(_named_value(main, defs, AT), want, rtol=1e-13)


def test_names_are_undone_when_a_later_name_makes_them_useless():
    with ga.Graph():
        g = ga.grad(ga.parse("sigmoid(sigmoid(3 / arctan(y / z)))"), "z")
        main, defs = text_parts(g)
    names = [n for n, _ in defs]
    # every name is used: in the main text or in a later definition
    for i, n in enumerate(names):
        later = main + " ".join(d for _, d in defs[i + 1 :])
        assert any(tok == n for tok in re.findall(r"\w+", later)), (n, defs)
    y, z = AT["y"], AT["z"]
    t = np.arctan(y / z)
    s = _sig(3 / t)
    u = _sig(s)
    want = u * (1 - u) * s * (1 - s) * 3 / t**2 * y / (z**2 + y**2)
    np.testing.assert_allclose(_named_value(main, defs, AT), want, rtol=1e-12)


@pytest.mark.parametrize(
    ("src", "want", "ref"),
    [
        # numeric content of a sum factor joins the coefficient
        (
            "(cos(x) / 2 - sin(x) / 2) / y",
            "(cos(x) - sin(x)) / (2 * y)",
            lambda x, y, z: (np.cos(x) / 2 - np.sin(x) / 2) / y,
        ),
        # (a ** u) ** k is a ** (k * u), inside a product as alone
        ("x / (2 ** (x ** 2)) ** 2", "x / 2 ** (2 * x ** 2)", lambda x, y, z: x / 4.0 ** (x**2)),
        ("z / (y ** x) ** 2", "z / y ** (2 * x)", lambda x, y, z: z / (y**x) ** 2),
        # a factor shared by the terms stays in when pulling it out is longer
        ("sqrt(y) + y - z", "sqrt(y) + y - z", lambda x, y, z: np.sqrt(y) + y - z),
        # log(sqrt(u)) is log(u) / 2
        ("sin(log(sqrt(z)))", "sin(log(z) / 2)", lambda x, y, z: np.sin(np.log(np.sqrt(z)))),
        # sqrt of a power of a positive number is a power
        ("sqrt(3 ** x) * y", "3 ** (x / 2) * y", lambda x, y, z: np.sqrt(3.0**x) * y),
        ("y / sqrt(2 ** x)", "y / 2 ** (x / 2)", lambda x, y, z: y / np.sqrt(2.0**x)),
        # a negative product takes its sign into a sum: -x * (1 - t) is x * (t - 1) ...
        (
            "-x * (1 - tanh(z) ** 2) / y",
            "x * (tanh(z) ** 2 - 1) / y",
            lambda x, y, z: -x * (1 - np.tanh(z) ** 2) / y,
        ),
        ("-2 * (sqrt(y) - x)", "2 * (x - sqrt(y))", lambda x, y, z: -2 * (np.sqrt(y) - x)),
        # ... but a sigmoid's s * (1 - s) stays as people write it
        (
            "-sigmoid(x) * (1 - sigmoid(x)) * y",
            "-sigmoid(x) * (1 - sigmoid(x)) * y",
            lambda x, y, z: -_sig(x) * (1 - _sig(x)) * y,
        ),
        # a lone square root needs no parentheses as an exponent
        ("2 ** sqrt(z) * y", "2 ** sqrt(z) * y", lambda x, y, z: 2.0 ** np.sqrt(z) * y),
        ("2 ** (z ** 3)", "2 ** (z ** 3)", lambda x, y, z: 2.0 ** (z**3)),
        # a positive number's power: log(2 ** y) is y * log(2) for every y
        ("log(2 ** y) * z", "y * log(2) * z", lambda x, y, z: np.log(2.0**y) * z),
        ("log(3 ** (x * y))", "x * y * log(3)", lambda x, y, z: np.log(3.0 ** (x * y))),
        # an odd power: log(x ** 3) and 3 * log(x) are undefined for the same x
        ("log(x ** 3)", "3 * log(x)", lambda x, y, z: np.log(x**3)),
        ("log(x ** 2)", "log(x ** 2)", lambda x, y, z: np.log(x**2)),  # 2 * log(|x|)
        ("log(0.5) * y", "-log(2) * y", lambda x, y, z: np.log(0.5) * y),
        # and sigmoid(log(z ** 3)), now sigmoid(3 * log(z)), is still a quotient
        (
            "sigmoid(log(z ** 3)) * y",
            "z ** 3 * y / (z ** 3 + 1)",
            lambda x, y, z: z**3 * y / (z**3 + 1),
        ),
        # a sum's numeric content pulled out with the factor its terms share
        (
            "sin(y) * log(2) / 3 + sin(y) / 3",
            "sin(y) * (log(2) + 1) / 3",
            lambda x, y, z: np.sin(y) * (np.log(2) + 1) / 3,
        ),
    ],
)
def test_rewrites_print_shorter_and_keep_values(src, want, ref):
    with ga.Graph():
        e = ga.parse(src)
        text = str(e)
        assert text == want
        got = ga.parse(text).eval(AT)
    np.testing.assert_allclose(got, ref(**AT), rtol=1e-13)


def test_log_of_a_square_root_keeps_its_domain():
    # sqrt(u) and log(u) are both undefined below 0 and both -inf at log(0)
    at = {"z": np.array([-1.0, 0.0, 2.0])}
    with ga.Graph():
        e = ga.parse("log(sqrt(z))")
        text = str(e)
        assert text == "log(z) / 2"
        with np.errstate(all="ignore"):
            want = np.log(np.sqrt(at["z"]))
            got = ga.parse(text).eval(at)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-15)


def test_a_power_of_exp_prints_one_exp():
    with ga.Graph():
        g = ga.grad(ga.parse("z / sqrt(exp(z - x)) ** 3"), "z")
        text = str(g)
        got = ga.parse(text).eval(AT)
    assert text.count("exp(") == 1
    x, z = AT["x"], AT["z"]
    want = np.exp(-1.5 * (z - x)) * (1 - 1.5 * z)  # by hand: d/dz z * exp(-3 (z - x) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_latex_agrees_with_the_names_and_powers_of_the_text():
    with ga.Graph():
        g = ga.grad(ga.parse("tanh(sqrt(x)) + exp(sqrt(x))"), "x")
        tex = ga.latex(g)
        _, defs = text_parts(g)
        z = ga.symbol("z")
        assert ga.latex(2 ** ga.sqrt(z)) == r"2^{\sqrt{z}}"
    assert r"\text{where}" in tex and r"t = \sqrt{x}" in tex
    assert r"\sqrt" not in tex.split(r"\text{where}")[0]  # named in the formula too
    assert [n for n, _ in defs] == ["t"]


_UNARY = ("sin", "exp", "log", "sqrt", "tanh", "sigmoid", "arctan", "log1p")


def _expr(rng, depth):
    if depth == 0 or rng.random() < 0.15:
        return rng.choice("xyz") if rng.random() < 0.8 else str(rng.randint(2, 5))
    k = rng.random()
    if k < 0.5:
        return f"{rng.choice(_UNARY)}({_expr(rng, depth - 1)})"
    if k < 0.6:
        return f"({_expr(rng, depth - 1)}) ** {rng.randint(2, 3)}"
    return f"({_expr(rng, depth - 1)}) {rng.choice('+-*/')} ({_expr(rng, depth - 1)})"


def test_named_texts_have_the_values_of_the_gradient_and_are_never_longer():
    """On seeded random expressions: the text with names (definitions evaluated in
    order) has the gradient's values, and is never longer than the text without."""
    rng = random.Random(5)
    checked = 0
    for _ in range(40):
        text = _expr(rng, 4)
        with ga.Graph():
            e = ga.parse(text)
            for v in sorted(e.free_symbols):
                g = ga.grad(e, v)
                plain = str(g)
                main, defs = text_parts(g)
                named = to_text(g, names=True)
                assert _plen(named) <= _plen(plain), (text, named, plain)
                with np.errstate(all="ignore"):
                    want = np.broadcast_to(g.eval(AT), (3,))
                    got = np.broadcast_to(_named_value(main, defs, AT), (3,))
                ok = np.isfinite(want)
                np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=1e-12, err_msg=text)
                checked += int(ok.sum())
    assert checked > 100


def test_powers_that_cancel_leave_no_factor_one():
    with ga.Graph():
        g = ga.grad(ga.parse("log(sqrt(x * sqrt(3 ** (z * z))))"), "z")
        text = str(g)
        got = ga.parse(text).eval(AT)
    assert text == "log(3) * z / 2"  # by hand: (log(x) + z ** 2 * log(3) / 2) / 2
    np.testing.assert_allclose(got, np.log(3) * AT["z"] / 2, rtol=1e-14)


def test_a_sum_used_in_several_places_keeps_one_form():
    # moving 1/2 out of the inner derivative's sum where it is a factor, but not
    # where it stands alone, would write two forms of one long sum (896 characters
    # instead of 486)
    at = {"x": np.array([0.3, 1.2]), "y": np.array([0.5, -0.7])}
    with ga.Graph():
        x, y = ga.symbols("x y")
        h = x
        for i in range(2):
            h = ga.tanh(h * (i + 2) + ga.sigmoid(y * h)) + ga.sqrt(ga.exp(h) + i)
        g = ga.grad(h, "x")
        text = str(g)
        np.testing.assert_allclose(ga.parse(text).eval(at), g.eval(at), rtol=1e-12)
    assert len(text) < 500


def test_chained_layers_print_no_longer_with_the_new_rewrites():
    # three tanh/sigmoid/sqrt layers: the product of the three chain-rule factors
    # stays a product (moving 1/2 out of one of them wrote a long sum twice: 267
    # characters named instead of 247)
    with ga.Graph():
        x, y = ga.symbols("x y")
        h = x
        for i in range(3):
            h = ga.tanh(h * (i + 2) + ga.sigmoid(y * h)) + ga.sqrt(ga.exp(h) + i)
        g = ga.grad(h, "x")
        main, defs = text_parts(g)
        named = to_text(g, names=True)
        at = {"x": np.array([0.3, 1.2]), "y": np.array([0.5, -0.7])}
        want = g.eval(at)
    assert _plen(named) <= 250
    np.testing.assert_allclose(_named_value(main, defs, at), want, rtol=1e-12)


@pytest.mark.parametrize(
    ("src", "wrt", "want", "ref"),
    [
        # d/dx log(1 + tanh(x)) = (1 - tanh(x) ** 2) / (1 + tanh(x)) = 1 - tanh(x)
        ("log1p(tanh(x))", "x", "1 - tanh(x)", lambda x, y, z: 1 - np.tanh(x)),
        # (t ** 2 - 1) / (t + 1) is t - 1: the sign stays with the sum
        (
            "log(exp(log1p(tanh(log1p(x - z)))))",
            "z",
            "(tanh(log1p(x - z)) - 1) / (x - z + 1)",
            lambda x, y, z: (np.tanh(np.log1p(x - z)) - 1) / (x - z + 1),
        ),
        # over a square root, one factor of the sum is left under it
        (
            "sqrt(1 + tanh(y))",
            "y",
            "sqrt(1 + tanh(y)) * (1 - tanh(y)) / 2",
            lambda x, y, z: np.sqrt(1 + np.tanh(y)) * (1 - np.tanh(y)) / 2,
        ),
        # d/dx 1 / sigmoid(x) = -(1 - sigmoid(x)) / sigmoid(x) = -exp(-x)
        ("1 / sigmoid(x)", "x", "-exp(-x)", lambda x, y, z: -np.exp(-x)),
        ("y / sigmoid(x + 3)", "x", "-y * exp(-x - 3)", lambda x, y, z: -y * np.exp(-x - 3)),
        # a sum multiplied through by what its terms divide by:
        # d/dx arctan(y / x) = -y / x ** 2 / (1 + y ** 2 / x ** 2) = -y / (x ** 2 + y ** 2)
        ("arctan(y / x)", "x", "-y / (x ** 2 + y ** 2)", lambda x, y, z: -y / (x**2 + y**2)),
        ("arctan(y / x)", "y", "x / (x ** 2 + y ** 2)", lambda x, y, z: x / (x**2 + y**2)),
        # d/dz log(1 + 3 / z) = -3 / z ** 2 / (1 + 3 / z) = -3 / (z * (z + 3))
        ("log(1 + 3 / z)", "z", "-3 / (z * (z + 3))", lambda x, y, z: -3 / (z * (z + 3))),
        ("1 / (1 + 1 / x)", "x", "1 / (x + 1) ** 2", lambda x, y, z: 1 / (x + 1) ** 2),
    ],
)
def test_a_sum_factor_cancels_against_the_divisor_or_is_multiplied_through(src, wrt, want, ref):
    with ga.Graph():
        g = ga.grad(ga.parse(src), wrt)
        text = str(g)
        assert text == want
        got = ga.parse(text).eval(AT)
        unprinted = g.eval(AT)
    np.testing.assert_allclose(got, ref(**AT), rtol=1e-13)
    np.testing.assert_allclose(got, unprinted, rtol=1e-12)


def test_differences_of_squares_cancel_either_way_round():
    # (4 x^2 - 9) / (2 x - 3) = 2 x + 3; (x + 1) / (1 - x^2) = 1 / (1 - x); (1 - sigmoid)^3
    # over sigmoid^2 keeps one (1 - sigmoid) and two exp(-x)
    cases = [
        ("(4 * x ** 2 - 9) / (2 * x - 3)", "2 * x + 3", lambda x: 2 * x + 3),
        ("(x + 1) / (1 - x ** 2)", "1 / (1 - x)", lambda x: 1 / (1 - x)),
        ("(x - 1) / (1 - x ** 2)", "-1 / (1 + x)", lambda x: -1 / (1 + x)),
        (
            "(1 - sigmoid(x)) ** 3 / sigmoid(x) ** 2",
            "(1 - sigmoid(x)) * exp(-2 * x)",
            lambda x: _sig(-x) * np.exp(-2 * x),
        ),
        ("sigmoid(x) / (1 - sigmoid(x))", "exp(x)", np.exp),
    ]
    x = AT["x"]
    for src, want, ref in cases:
        with ga.Graph():
            text = str(ga.parse(src))
            assert text == want, src
            np.testing.assert_allclose(ga.parse(text).eval(x=x), ref(x), rtol=1e-13)


def test_a_shared_sum_is_multiplied_through_where_the_whole_text_is_shorter():
    # d/dz log(log(u)) = u' / (u * log(u)) with u = 1 + 3 / z: u * z ** 2 is z * (z + 3)
    # though u stays inside log(u)
    z = AT["z"]
    with ga.Graph():
        g = ga.grad(ga.parse("log(log(1 + 3 / z))"), "z")
        text = str(g)
        got = ga.parse(text).eval(AT)
    assert text == "-3 / (log(1 + 3 / z) * z * (z + 3))"
    np.testing.assert_allclose(got, -3 / (z**2 * (1 + 3 / z) * np.log(1 + 3 / z)), rtol=1e-13)


def test_a_shared_sum_keeps_one_form_where_two_would_be_longer():
    # the sum s = exp(y) + z / (4 * (y + z)) + y ** 3 is the argument of log and, in
    # 1 / s, could be multiplied through by 4 * (y + z): then it is written twice
    with ga.Graph():
        g = ga.grad(ga.parse("log(log(exp(y) + z / 4 / (y + z) + y ** 3))"), "y")
        main, defs = text_parts(g)
        named = to_text(g, names=True)
        plain = str(g)
        want = g.eval(AT)
    assert _plen(named) < _plen(plain), named
    # the sum is one named part, used twice in the main text
    (name,) = [n for n, d in defs if "y ** 3" in d]
    assert re.findall(rf"\b{name}\b", main) == [name, name], named
    np.testing.assert_allclose(_named_value(main, defs, AT), want, rtol=1e-13)


def test_an_angle_folded_from_an_inverse_function_prints_as_a_fraction_of_pi():
    # x / x cancels, leaving arctan(1): NumPy's value of it is exactly the float pi / 4
    with ga.Graph():
        g = ga.grad(ga.parse("arctan(x / x) * y"), "y")
        assert str(g) == "pi / 4"


def test_the_square_root_of_a_square_is_the_absolute_value_bit_for_bit():
    # the identity the printer writes (sqrt(u ** 2) is abs(u)) holds exactly in
    # floating point wherever u ** 2 neither overflows nor underflows
    rng = np.random.default_rng(7)
    u = rng.standard_normal(100_000) * 10.0 ** rng.integers(-150, 150, 100_000)
    np.testing.assert_array_equal(np.sqrt(u * u), np.abs(u))
    with ga.Graph():
        e = ga.parse("sqrt(u ** 2)")
        assert str(e) == "abs(u)"
        np.testing.assert_array_equal(ga.parse(str(e)).eval(u=u), e.eval(u=u))


@pytest.mark.parametrize(
    ("src", "want", "ref"),
    [
        # softplus written out: its derivative is the sigmoid
        ("log1p(exp(x))", "sigmoid(x)", lambda x: _sig(x)),
        ("log(1 + exp(2 * x))", "2 * sigmoid(2 * x)", lambda x: 2 * _sig(2 * x)),
        # the sigmoid written out: its derivative as people write a sigmoid's
        ("1 / (1 + exp(-x))", "(1 - sigmoid(x)) * sigmoid(x)", lambda x: _sig(x) * _sig(-x)),
        (
            "exp(-x) / (1 + exp(-x))",
            "-sigmoid(x) * (1 - sigmoid(x))",
            lambda x: -_sig(x) * _sig(-x),
        ),
    ],
)
def test_exp_over_exp_plus_one_is_a_sigmoid(src, want, ref):
    x = AT["x"]
    with ga.Graph():
        g = ga.grad(ga.parse(src), "x")
        text = str(g)
        assert text == want
        got = ga.parse(text).eval(x=x)
        np.testing.assert_allclose(got, g.eval(x=x), rtol=1e-13)
    np.testing.assert_allclose(got, ref(x), rtol=1e-13)


def test_a_sigmoid_written_out_prints_as_written():
    # 1 / (1 + exp(-x)) alone stays as the user wrote it; only the cancelled quotient
    # of a derivative becomes a sigmoid
    with ga.Graph():
        assert str(ga.parse("1 / (1 + exp(-x))")) == "1 / (1 + exp(-x))"
        assert str(ga.parse("exp(x) / (exp(x) + 1)")) == "sigmoid(x)"


def test_numbers_past_int64_print_as_the_floats_numpy_computes():
    # exact arithmetic can outgrow the int64 literals ga.parse reads: 2 ** 64 - x
    with ga.Graph():
        g = ga.grad(ga.parse("log1p(2 ** (2 ** 6) - x)"), "x")
        text = str(g)
        back = ga.parse(text)
        at = {"x": np.array([1.0, 3.0])}
        np.testing.assert_array_equal(back.eval(at), g.eval(at))
    assert "18446744073709551616" not in text


def test_texts_of_the_benchmarks_deep_expressions_have_the_gradients_values():
    """Round trip on the printing benchmark's own generator at the depth of issue 20's
    example: the text without names parses back, and the text with names (definitions
    evaluated in order), to the values of the unprinted gradient."""
    from benchmarks.printing import nested_expression

    rng = random.Random(20)
    at = {v: np.array([0.37, 0.81, 1.23, 1.9]) * (1 + 0.1 * i) for i, v in enumerate("xyz")}
    checked = 0
    for _ in range(25):
        text = nested_expression(rng, 6)
        with ga.Graph():
            e = ga.parse(text)
            for v in sorted(e.free_symbols):
                g = ga.grad(e, v)
                main, defs = text_parts(g)
                with np.errstate(all="ignore"):
                    want = np.broadcast_to(g.eval(at), (4,))
                    plain = np.broadcast_to(ga.parse(str(g)).eval(at), (4,))
                    named = np.broadcast_to(_named_value(main, defs, at), (4,))
                ok = np.isfinite(want) & (np.abs(want) < 1e150)
                for got in (plain, named):
                    np.testing.assert_allclose(
                        got[ok], want[ok], rtol=1e-8, atol=1e-12, err_msg=text
                    )
                checked += int(ok.sum())
    assert checked > 100


def test_a_named_power_is_never_the_sum_a_product_prints_negated():
    # -3 * ... * (z - 4) ** 3 prints its sign into the sum, (4 - z) ** 3; with
    # (z - 4) ** 3 named s, writing s there gave the derivative's negation
    with ga.Graph():
        g = ga.grad(ga.parse("exp(((z - 4) / tanh(y)) ** 3 * tanh(4) ** 2) + 4"), "y")
        main, defs = text_parts(g)
        want = g.eval(AT)
    assert ("s", "(z - 4) ** 3") in defs, defs
    got = _named_value(main, defs, AT)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert np.all(want != 0)


def test_the_form_printed_with_names_is_chosen_by_its_length_with_names():
    # written out, the sum 5 + 1 / y multiplied through by y is shorter; with names,
    # keeping it (and naming it t) is: 56 characters as counted, against 58
    with ga.Graph():
        g = ga.grad(ga.parse("exp(z) / 2 ** (log(5 * x + x / y) ** 2)"), "y")
        main, defs = text_parts(g)
        text = to_text(g, names=True)
    assert text == (
        "2 * exp(z) * log(2) * s / (2 ** (s ** 2) * t * y ** 2)   where t = 5 + 1 / y, "
        "s = log(x * t)"
    )
    assert _plen(text) == 56
    x, y, z = AT["x"], AT["y"], AT["z"]
    big_l = np.log(5 * x + x / y)  # by hand: 2 exp(z) log(2) L / (2 ** (L ** 2) y (5 y + 1))
    want = 2 * np.exp(z) * np.log(2) * big_l / (2.0 ** (big_l**2) * y * (5 * y + 1))
    np.testing.assert_allclose(_named_value(main, defs, AT), want, rtol=1e-13)
