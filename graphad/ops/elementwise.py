"""Elementwise ops: arithmetic, comparisons and the NumPy math functions.

Most ops declare ``partials`` (the local derivative of the output with
respect to each argument, as graph nodes); their VJP and JVP are derived from
it in :mod:`graphad.ops.rules`, with broadcasting undone in one place.

Past 600 lines because it is a table: one declaration per elementwise op (about sixty),
each with its rules and facets in one place, as the op table is meant to be read.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GraphadError
from .core import Op, apply, broadcast_shape, const_value, export, op_function, register
from .rules import _exec_helper, sum_to


def _bshape(name):
    return lambda *shapes, **_: broadcast_shape(name, *shapes)


def _elementwise(name, impl, partials, *, nargs=1, dtype="float", emit=None, domain=None, **kw):
    """Declare an elementwise op (broadcasting shape rule, NumPy's emitted call by
    default) and generate its ``ga`` function; every other facet is passed through."""
    op = register(
        Op(
            name=name,
            impl=impl,
            nargs=nargs,
            partials=partials,
            shape=_bshape(name),
            dtype=dtype,
            emit=emit or f"np.{name}(" + ", ".join(f"{{{i}}}" for i in range(nargs)) + ")",
            domain=domain or [(-2.0, 2.0)] * nargs,
            elementwise=True,
            **kw,
        )
    )
    return op_function(op)


# -- arithmetic ------------------------------------------------------------------

_AB = ("x1", "x2")

add = _elementwise(
    "add",
    np.add,
    lambda ans, a, b: [1, 1],
    nargs=2,
    argnames=_AB,
    dtype="promote",
    infix="+",
    dunder="add",
    precedence=10,
    sympy=lambda sp, a, b: a + b,
    emit="{0} + {1}",
    numexpr="({0} + {1})",
    numpy="np.add",
    label="+",
    doc="``x1 + x2`` with broadcasting.",
    exact=True,
)
subtract = _elementwise(
    "subtract",
    np.subtract,
    lambda ans, a, b: [1, -1],
    nargs=2,
    argnames=_AB,
    dtype="promote",
    infix="-",
    dunder="sub",
    precedence=10,
    sympy=lambda sp, a, b: a - b,
    emit="{0} - {1}",
    numexpr="({0} - {1})",
    numpy="np.subtract",
    label="−",
    doc="``x1 - x2`` with broadcasting.",
    exact=True,
)
multiply = _elementwise(
    "multiply",
    np.multiply,
    lambda ans, a, b: [b, a],
    nargs=2,
    argnames=_AB,
    dtype="promote",
    infix="*",
    dunder="mul",
    precedence=20,
    sympy=lambda sp, a, b: a * b,
    emit="{0} * {1}",
    numexpr="({0} * {1})",
    numpy="np.multiply",
    label="×",
    doc="``x1 * x2`` with broadcasting.",
    exact=True,
)
divide = _elementwise(
    "divide",
    np.true_divide,
    lambda ans, a, b: [divide(1.0, b), negative(divide(ans, b))],
    nargs=2,
    argnames=_AB,
    infix="/",
    dunder="truediv",
    precedence=20,
    sympy=lambda sp, a, b: a / b,
    emit="{0} / {1}",
    numexpr="({0} / {1})",
    numpy="np.true_divide",
    label="÷",
    domain=[(-2.0, 2.0), (0.5, 2.0)],
    doc="``x1 / x2`` (true division).",
    exact=True,
)
negative = _elementwise(
    "negative",
    np.negative,
    lambda ans, a: [-1],
    dtype="promote",
    sympy=lambda sp, a: -a,
    emit="-{0}",
    numexpr="(-{0})",
    numpy="np.negative",
    dunder="neg",
    label="neg",
    precedence=30,
    preserves_zero=True,
    monotone=-1,
    doc="``-x``.",
    exact=True,
)


def _power_partials(ans, a, b):
    c = const_value(b)
    if isinstance(c, int | float) and not isinstance(c, bool):
        # constant exponent: fold c - 1 now so x**2 differentiates to 2*x; x**0 is constant
        da = multiply(c, a) if c == 2 else multiply(c, power(a, c - 1)) if c != 1 else 1
        da = None if c == 0 else da
    else:
        # PyTorch's convention: d/da is 0 where b == 0 (not 0 * 0**-1 = NaN at a == 0).
        # That 0 is written b * (1/a), not a constant: a constant has no derivative in b,
        # and d/db d/da a**b at b == 0 is 1/a (JAX issue 12033); 1/a is taken as 0 where
        # a is 0, inf or NaN so that the value stays exactly 0 as before.
        def da():
            mag = abs(a)
            ok = multiply(greater(mag, 0), less(mag, math.inf))
            inv = where(ok, divide(1.0, where(ok, a, 1.0)), 0.0)
            return where(equal(b, 0), multiply(b, inv), multiply(b, power(a, subtract(b, 1))))

    def db():
        # PyTorch's convention: d/db a**b is 0 where a == 0 and b >= 0 (log(0) is -inf there)
        safe_log = where(equal(a, 0), 0.0, log(where(equal(a, 0), 1.0, a)))
        return multiply(ans, safe_log)

    return [da, db]  # thunks: x**2 never builds the exponent's partial


power = _elementwise(
    "power",
    np.power,
    _power_partials,
    nargs=2,
    argnames=_AB,
    dtype="promote",
    infix="**",
    dunder="pow",
    precedence=40,
    sympy=lambda sp, a, b: a**b,
    emit="{0} ** {1}",
    numexpr="({0} ** {1})",
    numpy="np.power",
    label="pow",
    domain=[(0.5, 2.0), (-2.0, 2.0)],
    doc="``x1 ** x2``.",
    kink="d/dx2 is 0 where x1 == 0 and x2 >= 0 (PyTorch's), so ``0**y`` has a finite "
    "gradient in y; d/dx1 is 0 where x2 == 0 (``x**0`` is constant, also at 0) and "
    "otherwise follows ``x2 * x1**(x2-1)`` (inf at x1 == 0 for 0 < x2 < 1).",
    exact=True,
)

# -- math functions ----------------------------------------------------------------


def _fn(name, impl, partials, *, sympy_name=None, numexpr=True, **kw):
    """A unary math function, by default named as NumPy names it (``np.<name>``)."""
    kw.setdefault("numpy", f"np.{name}")
    return _elementwise(
        name,
        impl,
        partials,
        sympy_name=sympy_name,
        numexpr=f"{name}({{0}})" if numexpr is True else numexpr or None,
        **kw,
    )


def _inv_sqrt_1m(x):
    return divide(1.0, sqrt(subtract(1.0, square(x))))


sin = _fn("sin", np.sin, lambda ans, x: [cos(x)], sympy_name="sin", domain=[(-3, 3)],
          preserves_zero=True, exact=True)  # fmt: skip
cos = _fn(
    "cos", np.cos, lambda ans, x: [negative(sin(x))], sympy_name="cos", domain=[(-3, 3)], exact=True
)
tan = _fn("tan", np.tan, lambda ans, x: [add(1.0, square(ans))], sympy_name="tan",
          domain=[(-1.2, 1.2)], preserves_zero=True, monotone=1, exact=True)  # fmt: skip
arcsin = _fn("arcsin", np.arcsin, lambda ans, x: [_inv_sqrt_1m(x)], sympy_name="asin",
             domain=[(-0.9, 0.9)], preserves_zero=True, monotone=1, exact=True)  # fmt: skip
arccos = _fn("arccos", np.arccos, lambda ans, x: [negative(_inv_sqrt_1m(x))], sympy_name="acos",
             domain=[(-0.9, 0.9)], monotone=-1, exact=True)  # fmt: skip
arctan = _fn("arctan", np.arctan, lambda ans, x: [divide(1.0, add(1.0, square(x)))],
             sympy_name="atan", preserves_zero=True, monotone=1, exact=True)  # fmt: skip
sinh = _fn("sinh", np.sinh, lambda ans, x: [cosh(x)], sympy_name="sinh", preserves_zero=True,
           monotone=1, exact=True)  # fmt: skip
cosh = _fn(
    "cosh", np.cosh, lambda ans, x: [sinh(x)], sympy_name="cosh", nonnegative=True, exact=True
)
tanh = _fn("tanh", np.tanh, lambda ans, x: [subtract(1.0, square(ans))], sympy_name="tanh",
           activation=True, preserves_zero=True, monotone=1, exact=True)  # fmt: skip
exp = _fn(
    "exp", np.exp, lambda ans, x: [ans], sympy_name="exp", nonnegative=True, monotone=1, exact=True
)
expm1 = _fn("expm1", np.expm1, lambda ans, x: [add(ans, 1.0)],
            sympy=lambda sp, x: sp.exp(x) - 1, preserves_zero=True, monotone=1,
            exact=True)  # fmt: skip
log = _fn(
    "log",
    np.log,
    lambda ans, x: [divide(1.0, x)],
    sympy_name="log",
    domain=[(0.1, 4.0)],
    monotone=1,
    doc="Natural logarithm; ``log(0) = -inf``.",
    exact=True,
)
log1p = _fn("log1p", np.log1p, lambda ans, x: [divide(1.0, add(x, 1.0))],
            sympy=lambda sp, x: sp.log(1 + x), domain=[(-0.5, 3.0)], preserves_zero=True,
            monotone=1, exact=True)  # fmt: skip
log2 = _fn("log2", np.log2, lambda ans, x: [divide(1.0, multiply(x, math.log(2.0)))],
           sympy=lambda sp, x: sp.log(x, 2), domain=[(0.1, 4.0)], numexpr=None,
           monotone=1, exact=True)  # fmt: skip
log10 = _fn("log10", np.log10, lambda ans, x: [divide(1.0, multiply(x, math.log(10.0)))],
            sympy=lambda sp, x: sp.log(x, 10), domain=[(0.1, 4.0)], monotone=1,
            exact=True)  # fmt: skip
sqrt = _fn(
    "sqrt",
    np.sqrt,
    lambda ans, x: [divide(0.5, ans)],
    sympy_name="sqrt",
    domain=[(0.1, 4.0)],
    preserves_zero=True,
    monotone=1,
    doc="Square root.",
    kink="sqrt'(0) = inf.",
    exact=True,
)
square = _fn("square", np.square, lambda ans, x: [multiply(2.0, x)], dtype="promote",
             sympy=lambda sp, x: x**2, numexpr="({0} ** 2)", nonnegative=True,
             preserves_zero=True, exact=True)  # fmt: skip
abs = _fn(
    "abs",
    np.abs,
    lambda ans, x: [sign(x)],
    dtype="promote",
    sympy_name="Abs",
    dunder="abs",
    nonnegative=True,
    preserves_zero=True,
    doc="Absolute value.",
    kink="abs'(0) = 0 (as JAX and PyTorch).",
)
sign = _fn(
    "sign",
    np.sign,
    lambda ans, x: [None],
    dtype="promote",
    sympy_name="sign",
    numexpr=None,
    preserves_zero=True,
    monotone=1,
    doc="Sign.",
    kink="its derivative is 0 everywhere (including 0).",
)


def _hypot_partials(ans, a, b):
    safe = where(equal(ans, 0), 1.0, ans)  # at (0, 0) both partials are 0, not 0/0
    return [divide(a, safe), divide(b, safe)]


hypot = _elementwise(
    "hypot",
    np.hypot,
    _hypot_partials,
    nargs=2,
    argnames=_AB,
    sympy=lambda sp, a, b: sp.sqrt(a**2 + b**2),
    numpy="np.hypot",
    nonnegative=True,
    doc="``sqrt(x1**2 + x2**2)`` without overflow or underflow on the way.",
    kink="at (0, 0) both partial derivatives are 0 (as JAX).",
    exact=True,
)


def _extremum_partials(first_wins):
    # ties split the gradient 0.5/0.5, as JAX does
    def partials(ans, a, b):
        # the 0.5 is applied to a cast of the tie mask, not to the bool itself:
        # 0.5 * bool is float64, which would turn float32 gradients float64
        tie = multiply(apply("astype_like", equal(a, b), ans), 0.5)
        return [add(first_wins(a, b), tie), add(first_wins(b, a), tie)]

    return partials


maximum = _elementwise(
    "maximum",
    np.maximum,
    _extremum_partials(lambda a, b: greater(a, b)),
    nargs=2,
    argnames=_AB,
    dtype="promote",
    sympy_name="Max",
    numpy="np.maximum",
    doc="Elementwise maximum (NaN propagates).",
    kink="at ties each argument gets half the gradient.",
)
minimum = _elementwise(
    "minimum",
    np.minimum,
    _extremum_partials(lambda a, b: less(a, b)),
    nargs=2,
    argnames=_AB,
    dtype="promote",
    sympy_name="Min",
    numpy="np.minimum",
    doc="Elementwise minimum (NaN propagates).",
    kink="at ties each argument gets half the gradient.",
)


def _where_vjp(g, ans, c, a, b):
    return [None, sum_to(where(c, g, 0.0), a), sum_to(where(c, 0.0, g), b)]


def _where_jvp(tangents, ans, c, a, b):
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    return where(c, 0.0 if ta is None else ta, 0.0 if tb is None else tb)


register(
    Op(
        name="where",
        impl=np.where,
        nargs=3,
        vjp=_where_vjp,
        jvp=_where_jvp,
        shape=_bshape("where"),
        dtype="select",
        sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
        emit="np.where({0}, {1}, {2})",
        numexpr="where({0}, {1}, {2})",
        numpy="np.where",
        argnames=("condition", "x", "y"),
        domain=[(-1, 1), (-2, 2), (-2, 2)],
        elementwise=True,
        doc="``where(cond, a, b)``.  Beware ``where(x > 0, log(x), 0)``: the gradient of the "
        "unselected branch is still computed, and 0 * inf is NaN; use "
        "``log(where(x > 0, x, 1))`` inside instead.",
    )
)


@export
def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` holds, else ``y`` (``np.where``).

    The gradient flows to the selected branch only.  Beware the NaN trap of
    ``where(x > 0, log(x), 0)``: the unselected branch's gradient is computed
    too (0 times inf is NaN); write ``log(where(x > 0, x, 1))`` instead.
    """
    return apply("where", condition, x, y)


clip = _elementwise(
    "clip",
    np.clip,
    lambda ans, x, lo, hi: [
        multiply(greater_equal(x, lo), less_equal(x, hi)),
        less(x, lo),
        greater(x, hi),
    ],
    nargs=3,
    argnames=("x", "lo", "hi"),
    dtype="promote",
    domain=[(-2, 2), (-1.5, -0.5), (0.5, 1.5)],
    sympy=lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
    numpy="np.clip",
    doc="Clip ``x`` to ``[lo, hi]``.",
    kink="the gradient wrt x is 1 on the closed interval (PyTorch's clamp), and flows "
    "to the bound that is active outside it.",
)

_clip3 = clip


def clip(x, lo=None, hi=None, *, a_min=None, a_max=None):
    """``np.clip``: ``x`` limited to ``[lo, hi]`` (NumPy's names ``a_min``/``a_max`` work
    too; ``None`` for one bound leaves that side open).

    Raises
    ------
    GraphadError
        If a bound is given twice (``lo`` and ``a_min``, or ``hi`` and ``a_max``), or
        neither bound is given.
    """
    if a_min is not None:
        if lo is not None:
            raise GraphadError("clip: give the lower bound once (lo or a_min)")
        lo = a_min
    if a_max is not None:
        if hi is not None:
            raise GraphadError("clip: give the upper bound once (hi or a_max)")
        hi = a_max
    if lo is None and hi is None:
        raise GraphadError("clip: give at least one of the bounds lo (a_min) and hi (a_max)")
    if lo is None:
        return minimum(x, hi)
    if hi is None:
        return maximum(x, lo)
    return _clip3(x, lo, hi)


export(clip, "clip")

# -- issue 14's elementwise set ---------------------------------------------------------


def _like_numpy(ufunc):
    """dtype rule: the dtype NumPy's own function gives (ints stay ints for floor ...)."""

    def dtype(*dts, **_):
        if any(d is None for d in dts):
            return None
        return np.asarray(ufunc(*[np.ones((), d) for d in dts])).dtype

    return dtype


def _remainder_partials(rounding):
    # x1 - x2 * rounding(x1 / x2): d/dx1 = 1, d/dx2 = -rounding(x1 / x2) between the jumps
    return lambda ans, a, b: [1, lambda: negative(apply(rounding, divide(a, b)))]


remainder = _elementwise(
    "remainder",
    np.remainder,
    _remainder_partials("floor"),
    nargs=2,
    argnames=_AB,
    dtype=_like_numpy(np.remainder),
    infix="%",
    dunder="mod",
    precedence=20,
    emit="{0} % {1}",
    sympy_name="Mod",
    numpy="np.remainder",
    label="%",
    domain=[(-3.0, 3.0), (0.7, 1.9)],
    doc="``x1 % x2`` as Python and NumPy define it: the sign of the divisor (``np.mod``).",
    kink="between the jumps d/dx1 = 1 and d/dx2 = -floor(x1 / x2); at a jump, the "
    "value of the right-hand piece.",
    exact=True,
)
export(remainder, "remainder", "mod")
fmod = _elementwise(
    "fmod",
    np.fmod,
    _remainder_partials("trunc"),
    nargs=2,
    argnames=_AB,
    dtype=_like_numpy(np.fmod),
    numpy="np.fmod",
    domain=[(-3.0, 3.0), (0.7, 1.9)],
    doc="C's remainder ``x1 - x2 * trunc(x1 / x2)``: the sign of the dividend.",
    kink="between the jumps d/dx1 = 1 and d/dx2 = -trunc(x1 / x2).",
    exact=True,
)
arctan2 = _elementwise(
    "arctan2",
    np.arctan2,
    lambda ans, a, b: [
        divide(b, add(square(a), square(b))),
        negative(divide(a, add(square(a), square(b)))),
    ],
    nargs=2,
    argnames=_AB,
    sympy_name="atan2",
    numexpr="arctan2({0}, {1})",
    numpy="np.arctan2",
    domain=[(0.2, 2.0), (-2.0, 2.0)],
    doc="The angle of the point ``(x2, x1)``, in ``[-pi, pi]``.",
    kink="the partials are NaN at (0, 0), where the angle is undefined.",
    exact=True,
)
logaddexp = _elementwise(
    "logaddexp",
    np.logaddexp,
    lambda ans, a, b: [exp(subtract(a, ans)), exp(subtract(b, ans))],
    nargs=2,
    argnames=_AB,
    sympy=lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)),
    numpy="np.logaddexp",
    domain=[(-3.0, 3.0), (-3.0, 3.0)],
    doc="``log(exp(x1) + exp(x2))`` without overflow.",
    exact=True,
)
logaddexp2 = _elementwise(
    "logaddexp2",
    np.logaddexp2,
    lambda ans, a, b: [exp2(subtract(a, ans)), exp2(subtract(b, ans))],
    nargs=2,
    argnames=_AB,
    sympy=lambda sp, a, b: sp.log(2**a + 2**b, 2),
    numpy="np.logaddexp2",
    domain=[(-3.0, 3.0), (-3.0, 3.0)],
    doc="``log2(2**x1 + 2**x2)`` without overflow.",
    exact=True,
)
exp2 = _fn("exp2", np.exp2, lambda ans, x: [multiply(ans, math.log(2.0))],
           sympy=lambda sp, x: 2**x, numexpr=None, nonnegative=True, monotone=1,
           exact=True)  # fmt: skip
arcsinh = _fn("arcsinh", np.arcsinh, lambda ans, x: [divide(1.0, sqrt(add(square(x), 1.0)))],
              sympy_name="asinh", preserves_zero=True, monotone=1, exact=True)  # fmt: skip
arccosh = _fn(
    "arccosh",
    np.arccosh,
    lambda ans, x: [divide(1.0, sqrt(subtract(square(x), 1.0)))],
    sympy_name="acosh",
    domain=[(1.2, 4.0)],
    nonnegative=True,
    monotone=1,
    kink="arccosh'(1) = inf.",
    exact=True,
)
arctanh = _fn("arctanh", np.arctanh, lambda ans, x: [divide(1.0, subtract(1.0, square(x)))],
              sympy_name="atanh", domain=[(-0.9, 0.9)], preserves_zero=True,
              monotone=1, exact=True)  # fmt: skip
cbrt = _fn(
    "cbrt",
    np.cbrt,
    lambda ans, x: [divide(1.0, multiply(3.0, square(ans)))],
    # SymPy's cbrt is the principal (complex) root for x < 0; NumPy's is the real one
    sympy=lambda sp, x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3),
    numexpr=None,
    preserves_zero=True,
    monotone=1,
    doc="The real cube root (negative for negative ``x``).",
    kink="cbrt'(0) = inf.",
    exact=True,
)
reciprocal = _fn(
    "reciprocal",
    np.reciprocal,
    lambda ans, x: [negative(square(ans))],
    dtype=_like_numpy(np.reciprocal),
    sympy=lambda sp, x: 1 / x,
    numexpr=None,
    domain=[(0.5, 2.0)],
    doc="``1 / x``; for integers NumPy's integer reciprocal (``1 // x``).",
    exact=True,
)


# sinc'(x) = -pi^2/3 x + pi^4/30 x^3 - pi^6/840 x^5 + ... (Maclaurin): at x == 0 the
# derivative is this polynomial, whose derivatives there are sinc's up to the 6th
_SINC_D1 = (-(math.pi**2) / 3.0, math.pi**4 / 30.0, -(math.pi**6) / 840.0)


def _sinc_partials(ans, x):
    # (cos(pi x) - sinc(x)) / x away from 0; at 0 the series, which is 0 there (+ 0.0
    # keeps it +0.0) with the right higher derivatives
    zero = equal(x, 0)
    slope = divide(subtract(cos(multiply(math.pi, x)), ans), where(zero, 1.0, x))
    x2 = multiply(x, x)
    series = multiply(
        x, add(_SINC_D1[0], multiply(x2, add(_SINC_D1[1], multiply(x2, _SINC_D1[2]))))
    )
    return [where(zero, add(series, 0.0), slope)]


sinc = _fn(
    "sinc",
    np.sinc,
    _sinc_partials,
    sympy=lambda sp, x: sp.sinc(sp.pi * x),
    numexpr=None,
    domain=[(-3.0, 3.0)],
    doc="The normalized sinc ``sin(pi x) / (pi x)``, 1 at 0.",
    kink="sinc'(0) = 0 exactly; at 0 the derivative is built from sinc's Maclaurin series, "
    "so derivatives up to the 6th are exact there (the 2nd is -pi**2/3).",
    exact=True,
)
deg2rad = _fn("deg2rad", np.deg2rad, lambda ans, x: [math.pi / 180.0],
              sympy=lambda sp, x: x * sp.pi / 180, numexpr=None, domain=[(-360.0, 360.0)],
              preserves_zero=True, monotone=1, exact=True)  # fmt: skip
rad2deg = _fn("rad2deg", np.rad2deg, lambda ans, x: [180.0 / math.pi],
              sympy=lambda sp, x: x * 180 / sp.pi, numexpr=None, preserves_zero=True,
              monotone=1, exact=True)  # fmt: skip

isnan = _fn("isnan", np.isnan, lambda ans, x: [None], dtype="bool", numexpr=None,
            differentiable=False, doc="Elementwise NaN test (boolean).")  # fmt: skip
isfinite = _fn("isfinite", np.isfinite, lambda ans, x: [None], dtype="bool", numexpr=None,
               differentiable=False, doc="Elementwise finiteness test (boolean).")  # fmt: skip


def _nan_ignoring_partials(first_wins):
    # as maximum/minimum (ties split the gradient), except that where one argument is NaN
    # the result is the other one, and so is the gradient
    extremum = _extremum_partials(first_wins)

    def partials(ans, a, b):
        pa, pb = extremum(ans, a, b)
        return [where(isnan(b), 1.0, pa), where(isnan(a), 1.0, pb)]

    return partials


fmax = _elementwise(
    "fmax",
    np.fmax,
    _nan_ignoring_partials(lambda a, b: greater(a, b)),
    nargs=2,
    argnames=_AB,
    dtype="promote",
    sympy=lambda sp, a, b: sp.Max(a, b),
    numpy="np.fmax",
    doc="Elementwise maximum ignoring NaN (the other argument wins).",
    kink="at ties each argument gets half the gradient; where one argument is NaN the "
    "other gets all of it.",
)
fmin = _elementwise(
    "fmin",
    np.fmin,
    _nan_ignoring_partials(lambda a, b: less(a, b)),
    nargs=2,
    argnames=_AB,
    dtype="promote",
    sympy=lambda sp, a, b: sp.Min(a, b),
    numpy="np.fmin",
    doc="Elementwise minimum ignoring NaN (the other argument wins).",
    kink="at ties each argument gets half the gradient; where one argument is NaN the "
    "other gets all of it.",
)

_STEP = "zero gradient everywhere: the derivative between the jumps, and the convention at them."
floor = _fn("floor", np.floor, lambda ans, x: [None], dtype=_like_numpy(np.floor),
            sympy_name="floor", numexpr=None, preserves_zero=True, monotone=1,
            doc="Round down to an integer value.", kink=_STEP)  # fmt: skip
ceil = _fn("ceil", np.ceil, lambda ans, x: [None], dtype=_like_numpy(np.ceil),
           sympy_name="ceiling", numexpr=None, preserves_zero=True, monotone=1,
           doc="Round up to an integer value.", kink=_STEP)  # fmt: skip
trunc = _fn("trunc", np.trunc, lambda ans, x: [None], dtype=_like_numpy(np.trunc),
            numexpr=None, preserves_zero=True, monotone=1,
            doc="Round toward zero to an integer value.", kink=_STEP)  # fmt: skip
round = _fn("round", np.round, lambda ans, x: [None], dtype=_like_numpy(np.round),
            numexpr=None, preserves_zero=True, monotone=1,
            doc="Round to the nearest integer value, halves to even (``np.round``, "
            "0 decimals).", kink=_STEP)  # fmt: skip

ERF_SRC = """
def _ga_erf(x):
    from scipy.special import erf  # SciPy loads on first use, never on import graphad
    return erf(x)
"""
ERFC_SRC = ERF_SRC.replace("erf", "erfc")
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_partial(sign):
    return lambda ans, x: [multiply(sign * _TWO_OVER_SQRT_PI, exp(negative(square(x))))]


erf = _fn("erf", _exec_helper(ERF_SRC, "_ga_erf"), _erf_partial(1.0), sympy_name="erf",
          numexpr=None, emit="_ga_erf({0})", helper=ERF_SRC, preserves_zero=True, monotone=1,
          numpy="scipy.special.erf", doc="The error function.", exact=True)  # fmt: skip
erfc = _fn("erfc", _exec_helper(ERFC_SRC, "_ga_erfc"), _erf_partial(-1.0), sympy_name="erfc",
           numexpr=None, emit="_ga_erfc({0})", helper=ERFC_SRC, nonnegative=True, monotone=-1,
           numpy="scipy.special.erfc", doc="The complementary error function ``1 - erf(x)``, "
           "accurate where erf is near 1.", exact=True)  # fmt: skip
ERFINV_SRC = ERF_SRC.replace("erf", "erfinv")
I0E_SRC = """
def _ga_i0e(x):
    from scipy.special import i0e  # SciPy loads on first use
    return i0e(x)
"""
I1E_SRC = I0E_SRC.replace("i0e", "i1e")
erfinv = _fn("erfinv", _exec_helper(ERFINV_SRC, "_ga_erfinv"),
             lambda ans, x: [multiply(math.sqrt(math.pi) / 2.0, exp(square(ans)))],
             sympy_name="erfinv", numexpr=None, emit="_ga_erfinv({0})", helper=ERFINV_SRC,
             preserves_zero=True, monotone=1, domain=[(-0.9, 0.9)],
             numpy="scipy.special.erfinv", doc="The inverse error function (``erf(erfinv(y)) "
             "== y`` on (-1, 1); +-inf at +-1).", exact=True)  # fmt: skip
i0e = _fn("i0e", _exec_helper(I0E_SRC, "_ga_i0e"),
          lambda ans, x: [subtract(i1e(x), multiply(sign(x), ans))],
          numexpr=None, emit="_ga_i0e({0})", helper=I0E_SRC, nonnegative=True,
          domain=[(0.2, 3.0)], numpy="scipy.special.i0e",
          doc="The exponentially scaled modified Bessel function of order 0, "
          "``exp(-|x|) I0(x)`` (JAX's ``bessel_i0e``).",
          kink="at x = 0 the gradient is 0 (sign(0) = 0: the mean of the one-sided -1 and "
          "+1).", exact=True)  # fmt: skip


def _i1e_partials(ans, x):
    # i0e(x) - i1e(x) (sign(x) + 1 / x), with its limit 1/2 at x = 0
    zero = equal(x, 0)
    slope = subtract(i0e(x), multiply(ans, add(sign(x), divide(1.0, where(zero, 1.0, x)))))
    return [where(zero, 0.5, slope)]


i1e = _fn("i1e", _exec_helper(I1E_SRC, "_ga_i1e"), _i1e_partials, numexpr=None,
          emit="_ga_i1e({0})", helper=I1E_SRC, preserves_zero=True, domain=[(-3.0, 3.0)],
          numpy="scipy.special.i1e", doc="The exponentially scaled modified Bessel function "
          "of order 1, ``exp(-|x|) I1(x)`` (JAX's ``bessel_i1e``).", exact=True)  # fmt: skip
# -- NumPy's other names, and its complex-number functions on real arrays ---------------------
# (complex numbers themselves are refused where they enter: inputs and constants)
export(abs, "abs", "absolute")
export(divide, "divide", "true_divide")
export(rad2deg, "rad2deg", "degrees")
export(deg2rad, "deg2rad", "radians")
# the array API standard's names, which NumPy 2 has too (np.atan is np.arctan); also
# SymPy's, C's and Python's math names, so that their text parses
export(arcsin, "arcsin", "asin")
export(arccos, "arccos", "acos")
export(arctan, "arctan", "atan")
export(arcsinh, "arcsinh", "asinh")
export(arccosh, "arccosh", "acosh")
export(arctanh, "arctanh", "atanh")
export(arctan2, "arctan2", "atan2")
export(power, "power", "pow")
fabs = _fn("fabs", np.fabs, lambda ans, x: [sign(x)], dtype=_like_numpy(np.fabs),
           numexpr=None, nonnegative=True, sympy=lambda sp, x: sp.Abs(x),
           doc="Absolute value as a float (``np.fabs``: integers become floats).",
           kink="fabs'(0) = 0 (sign(0), as abs).", exact=True)  # fmt: skip
real = _fn("real", np.real, lambda ans, x: [1.0], dtype=_like_numpy(np.real), numexpr=None,
           preserves_zero=True, monotone=1, sympy=lambda sp, x: x,
           doc="The real part (``np.real``): a real array itself.")  # fmt: skip
imag = _fn("imag", np.imag, lambda ans, x: [None], dtype=_like_numpy(np.imag), numexpr=None,
           nonnegative=True, preserves_zero=True, sympy=lambda sp, x: sp.Integer(0) * x,
           doc="The imaginary part (``np.imag``): zeros for a real array.",
           kink="no gradient: it is 0 on real arrays.")  # fmt: skip
conj = _fn("conj", np.conj, lambda ans, x: [1.0], dtype=_like_numpy(np.conj), numexpr=None,
           preserves_zero=True, monotone=1, sympy=lambda sp, x: x,
           doc="The complex conjugate (``np.conj``): a real array itself.")  # fmt: skip
angle = _fn("angle", np.angle, lambda ans, x: [None], dtype=_like_numpy(np.angle),
            numexpr=None, nonnegative=True,
            doc="The argument (``np.angle``): 0 for x >= +0, pi for x < 0 and -0.0.",
            kink="no gradient: piecewise constant on real arrays.")  # fmt: skip
export(conj, "conj", "conjugate")
export(real, "real", "real_if_close")

_NAN_TO_NUM = (("nan", 0.0), ("posinf", None), ("neginf", None))
NAN_TO_NUM_SRC = """
def _ga_nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if isinstance(x, np.ndarray) or not hasattr(x, "__array_function__"):
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
    if x.dtype.kind != "f":  # another library's array (Dask): the same, lazily
        return x
    info = np.finfo(x.dtype)
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    return np.where(np.isnan(x), nan, np.where(x == np.inf, hi, np.where(x == -np.inf, lo, x)))
"""
nan_to_num = _fn(
    "nan_to_num",
    _exec_helper(NAN_TO_NUM_SRC, "_ga_nan_to_num"),
    lambda ans, x: [isfinite(x)],
    dtype="promote",
    numexpr=None,
    keywords=_NAN_TO_NUM,
    emit="_ga_nan_to_num({0}, nan={nan}, posinf={posinf}, neginf={neginf})",
    helper=NAN_TO_NUM_SRC,
    test_params=({}, {"nan": 1.0, "posinf": 5.0, "neginf": -5.0}),
    preserves_zero=True,
    monotone=1,
    doc="NaN and infinities replaced by finite numbers (``nan``, and by default the "
    "largest finite values for ``posinf`` / ``neginf``).",
    kink="the gradient is 1 where x is finite and 0 where it was replaced.",
)

# -- comparisons (boolean, not differentiable) -----------------------------------------

_CMP = [
    ("less", np.less, "<", "Lt", "lt", "StrictLessThan"),
    ("less_equal", np.less_equal, "<=", "Le", "le", "LessThan"),
    ("greater", np.greater, ">", "Gt", "gt", "StrictGreaterThan"),
    ("greater_equal", np.greater_equal, ">=", "Ge", "ge", "GreaterThan"),
    ("equal", np.equal, "==", "Eq", "eq", "Equality"),
    ("not_equal", np.not_equal, "!=", "Ne", "ne", "Unequality"),
]


def _cmp_sympy(rel):
    # as 0/1 numbers, so that a comparison can be multiplied like NumPy's booleans
    return lambda sp, a, b: sp.Piecewise((1, getattr(sp, rel)(a, b)), (0, True))


for _name, _impl, _sym, _rel, _dunder, _sp_class in _CMP:
    globals()[_name] = _elementwise(
        _name,
        _impl,
        lambda ans, a, b: [None, None],
        nargs=2,
        argnames=_AB,
        dtype="bool",
        sympy=_cmp_sympy(_rel),
        sympy_name=_sp_class,  # from_sympy: the relational class (to_sympy: 0/1 above)
        emit=f"{{0}} {_sym} {{1}}",
        numexpr=f"({{0}} {_sym} {{1}})",
        numpy=f"np.{_name}",
        infix=_sym,
        dunder=_dunder,
        precedence=5,
        label=_sym,
        differentiable=False,
        doc=f"Elementwise ``x1 {_sym} x2`` (boolean).",
    )

less = globals()["less"]
less_equal = globals()["less_equal"]
greater = globals()["greater"]
greater_equal = globals()["greater_equal"]
equal = globals()["equal"]
not_equal = globals()["not_equal"]


def _identity(x):
    return x


stop_gradient = _elementwise(
    "stop_gradient",
    _identity,
    lambda ans, x: [None],
    dtype="first",
    sympy=lambda sp, x: x,
    emit="{0}",
    label="stop_gradient",
    differentiable=False,
    doc="The value of ``x``, with a zero derivative (as ``jax.lax.stop_gradient``): "
    "gradients, JVPs and every higher derivative treat it as a constant.",
)
