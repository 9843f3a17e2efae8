"""Elementwise ops: arithmetic, comparisons and the NumPy math functions.

Most ops declare ``partials`` (the local derivative of the output with
respect to each argument, as graph nodes); their VJP and JVP are derived from
it in :mod:`graphad.ops.rules`, with broadcasting undone in one place.
"""

from __future__ import annotations

import math

import numpy as np

from .core import Op, apply, broadcast_shape, const_value, register

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "square", "abs", "sign",
    "maximum", "minimum", "where", "clip",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "stop_gradient",
]  # fmt: skip


def _bshape(name):
    return lambda *shapes, **_: broadcast_shape(name, *shapes)


def _elementwise(
    name,
    impl,
    partials,
    *,
    nargs=1,
    dtype="float",
    sympy=None,
    emit=None,
    domain=None,
    label=None,
    infix=None,
    precedence=100,
    doc="",
    **kw,
):
    op = register(
        Op(
            name=name,
            impl=impl,
            nargs=nargs,
            partials=partials,
            shape=_bshape(name),
            dtype=dtype,
            sympy=sympy,
            emit=emit or f"np.{name}(" + ", ".join(f"{{{i}}}" for i in range(nargs)) + ")",
            domain=domain or [(-2.0, 2.0)] * nargs,
            label=label,
            infix=infix,
            precedence=precedence,
            elementwise=True,
            doc=doc,
            **kw,
        )
    )

    def fn(*args):
        return apply(name, *args)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise ``np.{name}``, differentiable."
    fn.op = op
    return fn


# -- arithmetic ------------------------------------------------------------------


add = _elementwise(
    "add",
    np.add,
    lambda ans, a, b: [1, 1],
    nargs=2,
    dtype="promote",
    infix="+",
    precedence=10,
    sympy=lambda sp, a, b: a + b,
    emit="{0} + {1}",
    label="+",
    doc="``a + b`` with broadcasting.",
)
subtract = _elementwise(
    "subtract",
    np.subtract,
    lambda ans, a, b: [1, -1],
    nargs=2,
    dtype="promote",
    infix="-",
    precedence=10,
    sympy=lambda sp, a, b: a - b,
    emit="{0} - {1}",
    label="−",
    doc="``a - b`` with broadcasting.",
)
multiply = _elementwise(
    "multiply",
    np.multiply,
    lambda ans, a, b: [b, a],
    nargs=2,
    dtype="promote",
    infix="*",
    precedence=20,
    sympy=lambda sp, a, b: a * b,
    emit="{0} * {1}",
    label="×",
    doc="``a * b`` with broadcasting.",
)
divide = _elementwise(
    "divide",
    np.true_divide,
    lambda ans, a, b: [divide(1.0, b), negative(divide(ans, b))],
    nargs=2,
    infix="/",
    precedence=20,
    sympy=lambda sp, a, b: a / b,
    emit="{0} / {1}",
    label="÷",
    domain=[(-2.0, 2.0), (0.5, 2.0)],
    doc="``a / b`` (true division).",
)
negative = _elementwise(
    "negative",
    np.negative,
    lambda ans, a: [-1],
    dtype="promote",
    sympy=lambda sp, a: -a,
    emit="-{0}",
    label="neg",
    precedence=30,
    doc="``-a``.",
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
    dtype="promote",
    infix="**",
    precedence=40,
    sympy=lambda sp, a, b: a**b,
    emit="{0} ** {1}",
    label="pow",
    domain=[(0.5, 2.0), (-2.0, 2.0)],
    doc="``a ** b``.  Conventions (PyTorch's): d/db is 0 where a == 0 and b >= 0, so "
    "``0**y`` has a finite gradient in y; d/da is 0 where b == 0 (``x**0`` is constant, "
    "also at 0) and otherwise follows ``b * a**(b-1)`` (inf at a == 0 for 0 < b < 1).",
)

# -- math functions ----------------------------------------------------------------


def _sp(name):
    return lambda sp, *a: getattr(sp, name)(*a)


sin = _elementwise("sin", np.sin, lambda ans, x: [cos(x)], sympy=_sp("sin"), domain=[(-3, 3)])
cos = _elementwise(
    "cos", np.cos, lambda ans, x: [negative(sin(x))], sympy=_sp("cos"), domain=[(-3, 3)]
)
tan = _elementwise(
    "tan", np.tan, lambda ans, x: [add(1.0, square(ans))], sympy=_sp("tan"), domain=[(-1.2, 1.2)]
)
arcsin = _elementwise(
    "arcsin",
    np.arcsin,
    lambda ans, x: [divide(1.0, sqrt(subtract(1.0, square(x))))],
    sympy=_sp("asin"),
    domain=[(-0.9, 0.9)],
)
arccos = _elementwise(
    "arccos",
    np.arccos,
    lambda ans, x: [negative(divide(1.0, sqrt(subtract(1.0, square(x)))))],
    sympy=_sp("acos"),
    domain=[(-0.9, 0.9)],
)
arctan = _elementwise(
    "arctan", np.arctan, lambda ans, x: [divide(1.0, add(1.0, square(x)))], sympy=_sp("atan")
)
sinh = _elementwise("sinh", np.sinh, lambda ans, x: [cosh(x)], sympy=_sp("sinh"))
cosh = _elementwise("cosh", np.cosh, lambda ans, x: [sinh(x)], sympy=_sp("cosh"))
tanh = _elementwise("tanh", np.tanh, lambda ans, x: [subtract(1.0, square(ans))], sympy=_sp("tanh"))
exp = _elementwise("exp", np.exp, lambda ans, x: [ans], sympy=_sp("exp"))
expm1 = _elementwise(
    "expm1", np.expm1, lambda ans, x: [add(ans, 1.0)], sympy=lambda sp, x: sp.exp(x) - 1
)
log = _elementwise(
    "log",
    np.log,
    lambda ans, x: [divide(1.0, x)],
    sympy=_sp("log"),
    domain=[(0.1, 4.0)],
    doc="Natural logarithm; ``log(0) = -inf``.",
)
log1p = _elementwise(
    "log1p",
    np.log1p,
    lambda ans, x: [divide(1.0, add(x, 1.0))],
    sympy=lambda sp, x: sp.log(1 + x),
    domain=[(-0.5, 3.0)],
)
log2 = _elementwise(
    "log2",
    np.log2,
    lambda ans, x: [divide(1.0, multiply(x, math.log(2.0)))],
    sympy=lambda sp, x: sp.log(x, 2),
    domain=[(0.1, 4.0)],
)
log10 = _elementwise(
    "log10",
    np.log10,
    lambda ans, x: [divide(1.0, multiply(x, math.log(10.0)))],
    sympy=lambda sp, x: sp.log(x, 10),
    domain=[(0.1, 4.0)],
)
sqrt = _elementwise(
    "sqrt",
    np.sqrt,
    lambda ans, x: [divide(0.5, ans)],
    sympy=_sp("sqrt"),
    domain=[(0.1, 4.0)],
    doc="Square root.  Convention: sqrt'(0) = inf.",
)
square = _elementwise(
    "square",
    np.square,
    lambda ans, x: [multiply(2.0, x)],
    dtype="promote",
    sympy=lambda sp, x: x**2,
)
abs = _elementwise(
    "abs",
    np.abs,
    lambda ans, x: [sign(x)],
    dtype="promote",
    sympy=_sp("Abs"),
    doc="Absolute value.  Convention: abs'(0) = 0 (as JAX and PyTorch).",
)
sign = _elementwise(
    "sign",
    np.sign,
    lambda ans, x: [None],
    dtype="promote",
    sympy=_sp("sign"),
    doc="Sign; its derivative is 0 everywhere (including 0).",
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
    dtype="promote",
    sympy=_sp("Max"),
    doc="Elementwise maximum.  Convention: at ties each argument gets half the gradient.",
)
minimum = _elementwise(
    "minimum",
    np.minimum,
    _extremum_partials(lambda a, b: less(a, b)),
    nargs=2,
    dtype="promote",
    sympy=_sp("Min"),
    doc="Elementwise minimum.  Convention: at ties each argument gets half the gradient.",
)


def _where_vjp(g, ans, c, a, b):
    from .rules import sum_to

    return [None, sum_to(where(c, g, 0.0), a), sum_to(where(c, 0.0, g), b)]


def _where_jvp(tangents, ans, c, a, b):
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    return where(c, 0.0 if ta is None else ta, 0.0 if tb is None else tb)


_where_op = register(
    Op(
        name="where",
        impl=np.where,
        nargs=3,
        vjp=_where_vjp,
        jvp=_where_jvp,
        shape=_bshape("where"),
        dtype=lambda c, a, b: None if a is None or b is None else np.result_type(a, b),
        sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
        emit="np.where({0}, {1}, {2})",
        domain=[(-1, 1), (-2, 2), (-2, 2)],
        elementwise=True,
        doc="``where(cond, a, b)``.  Beware ``where(x > 0, log(x), 0)``: the gradient of the "
        "unselected branch is still computed, and 0 * inf is NaN; use "
        "``log(where(x > 0, x, 1))`` inside instead.",
    )
)


def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` holds, else ``y`` (``np.where``).

    The gradient flows to the selected branch only.  Beware the NaN trap of
    ``where(x > 0, log(x), 0)``: the unselected branch's gradient is computed
    too (0 times inf is NaN); write ``log(where(x > 0, x, 1))`` instead.
    """
    return apply("where", condition, x, y)


where.op = _where_op

clip = _elementwise(
    "clip",
    np.clip,
    lambda ans, x, lo, hi: [
        multiply(greater_equal(x, lo), less_equal(x, hi)),
        less(x, lo),
        greater(x, hi),
    ],
    nargs=3,
    dtype="promote",
    domain=[(-2, 2), (-1.5, -0.5), (0.5, 1.5)],
    sympy=lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
    doc="Clip to ``[lo, hi]``.  Convention: the gradient wrt x is 1 on the closed "
    "interval (PyTorch's clamp), and flows to the bound that is active outside it.",
)

# -- comparisons (boolean, not differentiable) -----------------------------------------

_CMP = [
    ("less", np.less, "<", "Lt"),
    ("less_equal", np.less_equal, "<=", "Le"),
    ("greater", np.greater, ">", "Gt"),
    ("greater_equal", np.greater_equal, ">=", "Ge"),
    ("equal", np.equal, "==", "Eq"),
    ("not_equal", np.not_equal, "!=", "Ne"),
]


def _cmp_sympy(rel):
    # as 0/1 numbers, so that a comparison can be multiplied like NumPy's booleans
    return lambda sp, a, b: sp.Piecewise((1, getattr(sp, rel)(a, b)), (0, True))


for _name, _impl, _sym, _rel in _CMP:
    globals()[_name] = _elementwise(
        _name,
        _impl,
        lambda ans, a, b: [None, None],
        nargs=2,
        dtype="bool",
        sympy=_cmp_sympy(_rel),
        emit=f"{{0}} {_sym} {{1}}",
        infix=_sym,
        precedence=5,
        label=_sym,
        differentiable=False,
        doc=f"Elementwise ``a {_sym} b`` (boolean).",
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
