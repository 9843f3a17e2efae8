"""Statistics: var, std (with ``ddof``), cumsum, cumprod, diff.

Each is one primitive of the op table computed by NumPy's own function (so values
are NumPy's to the bit, float32 stays float32), with a VJP built from graph ops.
``var``/``std`` are primitives rather than ``mean(square(x - mean(x)))``: NumPy's
two-pass ``np.var`` is what users compare against, and a composition would add three
full-size temporaries per call.  Their gradients use the centred form ``x - mean(x)``
(the numerically stable one: no ``E[x^2] - E[x]^2`` cancellation).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr
from .core import Op, apply, as_expr, const_value, export, register
from .reduce import REDUCTION_CASES, _accumulated_dtype, _norm_axis, reduced_shape
from .rules import _exec_helper, _linear_jvp, reshape_like, unreduce

__all__ = ["var", "std", "cumsum", "cumprod", "diff", "static_int"]


def static_int(value, what: str) -> int:
    """A static integer parameter: a Python/NumPy int, or a constant Expr holding one
    (parsed text turns ``roll(x, 2)``'s ``2`` into a constant)."""
    if isinstance(value, Expr):
        c = const_value(value)
        if c is None or np.ndim(c) != 0:
            raise GraphadError(f"{what} must be a static integer, not a computed value")
        value = c.item() if isinstance(c, np.ndarray) else c
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GraphadError(f"{what} must be an integer, got {value!r}")
    return int(value)


def static_axis(value, what: str = "axis", *, allow_none: bool = True, allow_tuple: bool = True):
    """``None``, an int or (``allow_tuple``) a tuple of ints."""
    if value is None:
        if not allow_none:
            raise GraphadError(f"{what} must be an integer, not None")
        return None
    if isinstance(value, list | tuple):
        if not allow_tuple:
            raise GraphadError(f"{what} must be a single integer, got {value!r}")
        return tuple(static_int(v, what) for v in value)
    return static_int(value, what)


DOF_SRC = """
def _ga_dof(x, axis, ddof):
    shape = np.shape(x)
    if axis is None:
        n = float(np.prod(shape))
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        n = float(np.prod([shape[a] for a in axes]))
    return n - ddof
"""


def _lower_dof(x, axis, ddof):
    shape = x.shape
    axes = range(len(shape)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    n = float(np.prod([shape[a] for a in axes]))
    return Expr(x.graph, x.graph.constant(n - ddof))  # a weak Python float: float32 stays


register(
    Op(
        name="dof",
        internal=True,
        impl=_exec_helper(DOF_SRC, "_ga_dof"),
        vjp=lambda g, ans, x, axis, ddof: [None],
        shape=lambda x, **p: (),
        dtype=lambda x, **p: None,
        differentiable=False,
        emit="_ga_dof({0}, axis={axis}, ddof={ddof})",
        helper=DOF_SRC,
        label="dof",
        cases=(([(2, 3)], {"axis": None, "ddof": 0}), ([(2, 3)], {"axis": 1, "ddof": 1})),
        lower=_lower_dof,
        doc="The number of reduced elements minus ddof (a Python float).",
    )
)

STATS_CASES = (
    *REDUCTION_CASES,
    ([(4, 3)], {"axis": 0, "ddof": 1}),
    ([(2, 3, 4)], {"axis": (0, 2), "ddof": 2, "keepdims": True}),
)


def _centred(x, axis):
    return apply("subtract", x, apply("mean", x, axis=axis, keepdims=True))


def _var_vjp(g, ans, x, axis, ddof, keepdims):
    # d var / d x_i = 2 (x_i - mean) / (N - ddof); the mean's own derivative cancels
    # (the centred values sum to zero)
    scaled = apply(
        "divide", apply("multiply", _centred(x, axis), 2.0), apply("dof", x, axis=axis, ddof=ddof)
    )
    return [apply("multiply", unreduce(g, x, axis, keepdims), scaled)]


def _std_vjp(g, ans, x, axis, ddof, keepdims):
    # d std = d var / (2 std).  Where std is 0 (a constant slice) std is not
    # differentiable; the convention there is gradient 0 (the centred values are 0 too)
    s = unreduce(ans, x, axis, keepdims)
    safe = apply("where", apply("equal", s, 0), 1.0, s)
    denom = apply("multiply", apply("dof", x, axis=axis, ddof=ddof), safe)
    return [
        apply("multiply", unreduce(g, x, axis, keepdims), apply("divide", _centred(x, axis), denom))
    ]


def _moment(name, impl, vjp, doc, kink=""):
    op = register(
        Op(
            name=name,
            impl=impl,
            vjp=vjp,
            dtype="float",
            shape=lambda s, axis=None, ddof=0, keepdims=False: reduced_shape(
                name, s, axis, keepdims
            ),
            emit=f"np.{name}({{0}}, axis={{axis}}, ddof={{ddof}}, keepdims={{keepdims}})",
            domain=[(-2.0, 2.0)],
            test_params=({}, {"axis": -1, "ddof": 1}),
            cases=STATS_CASES,
            reduction=True,
            reads_only=True,
            numpy=f"np.{name}",
            kink=kink,
            doc=doc,
        )
    )

    def fn(x, axis=None, ddof=0, keepdims=False):
        d = (
            ddof
            if isinstance(ddof, float) and not isinstance(ddof, bool)
            else static_int(ddof, f"{name}: ddof")
        )
        if d < 0:
            raise GraphadError(f"{name}: ddof must be >= 0, got {ddof!r}")
        return apply(
            name,
            x,
            axis=_norm_axis(static_axis(axis, f"{name}: axis")),
            ddof=d,
            keepdims=bool(keepdims),
        )

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        doc + "\n\nRaises\n------\nGraphadError\n"
        "    If ``ddof`` is negative or not a number, or ``axis`` is not an int, a tuple "
        "of ints or None."
    )
    return export(fn, op.name)


var = _moment(
    "var",
    np.var,
    _var_vjp,
    "Variance over ``axis`` (all axes by default), divided by ``N - ddof`` (``np.var``).",
)
std = _moment(
    "std",
    np.std,
    _std_vjp,
    "Standard deviation over ``axis``, ``sqrt(var(x, axis, ddof))`` (``np.std``).  "
    "Where the result is 0 its gradient is 0.",
    kink="std' is 0 where the standard deviation is 0 (JAX gives NaN there).",
)


# -- cumulative sums and products ------------------------------------------------------------


def _cum_shape(s, axis=None):
    if axis is None:
        return (int(np.prod(s)),)
    if not -len(s) <= axis < len(s):
        raise ValueError(f"axis {axis} is out of bounds for an array of shape {s}")
    return tuple(s)


def _reverse_cumsum(g, axis):
    """sum_{j >= i} g_j along ``axis``: the adjoint of cumsum."""
    return apply("flip", apply("cumsum", apply("flip", g, axis=axis), axis=axis), axis=axis)


def _cumsum_vjp(g, ans, x, axis):
    if axis is None:  # cumsum of the flattened x
        return [reshape_like(_reverse_cumsum(g, 0), x)]
    return [_reverse_cumsum(g, axis)]


def _cumprod_vjp(g, ans, x, axis):
    # d ans_j / d x_i = ans_j / x_i for j >= i: the adjoint is reverse_cumsum(g * ans) / x
    flat = x if axis is not None else apply("ravel", x)
    ax = 0 if axis is None else axis
    out = apply("divide", _reverse_cumsum(apply("multiply", g, ans), ax), flat)
    return [out if axis is not None else reshape_like(out, x)]


CUM_CASES = (
    ([(5,)], {"axis": None}),
    ([(2, 3, 4)], {"axis": 1}),
    ([(3, 4)], {"axis": None}),
    ([(3, 4)], {"axis": -1}),
)

register(
    Op(
        name="cumsum",
        impl=np.cumsum,
        vjp=_cumsum_vjp,
        jvp=_linear_jvp("cumsum"),
        shape=_cum_shape,
        dtype=_accumulated_dtype,
        emit="np.cumsum({0}, axis={axis})",
        cases=CUM_CASES,
        reads_only=True,
        numpy="np.cumsum",
        doc="Cumulative sum along ``axis`` (of the flattened array when ``axis`` is None).",
    )
)
register(
    Op(
        name="cumprod",
        impl=np.cumprod,
        vjp=_cumprod_vjp,
        shape=_cum_shape,
        dtype=_accumulated_dtype,
        emit="np.cumprod({0}, axis={axis})",
        cases=CUM_CASES,
        domain=[(0.5, 2.0)],
        reads_only=True,
        numpy="np.cumprod",
        kink="the gradient divides by x: it is not finite where x holds an exact zero.",
        doc="Cumulative product along ``axis`` (of the flattened array when ``axis`` is None).",
    )
)


def _cum_fn(name):
    def fn(x, axis=None):
        return apply(name, x, axis=static_axis(axis, f"{name}: axis", allow_tuple=False))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = OPS_DOC[name]
    return export(fn, name)


OPS_DOC = {
    "cumsum": "Cumulative sum along ``axis`` (``np.cumsum``; the flattened array for None).",
    "cumprod": "Cumulative product along ``axis`` (``np.cumprod``; the flattened array for "
    "None).  Its gradient divides by ``x``: not finite at exact zeros.",
}
cumsum = _cum_fn("cumsum")
cumprod = _cum_fn("cumprod")


# -- diff --------------------------------------------------------------------------------------

DIFF_GRAD_SRC = """
def _ga_diff_grad(g, n, axis):
    # the adjoint of np.diff, n times: x_j receives g_(j-1) - g_j
    if not hasattr(g, "__array_function__"):
        g = np.asarray(g)
    for _ in range(n):
        lo = [(0, 0)] * np.ndim(g)
        hi = [(0, 0)] * np.ndim(g)
        lo[axis] = (1, 0)
        hi[axis] = (0, 1)
        g = np.pad(g, lo) - np.pad(g, hi)
    return g
"""


def _diff_shape(s, n=1, axis=-1):
    if not s:
        raise ValueError("diff requires at least a 1-D input")
    if not -len(s) <= axis < len(s):
        raise ValueError(f"axis {axis} is out of bounds for an array of shape {s}")
    out = list(s)
    out[axis] = max(s[axis] - n, 0)
    return tuple(out)


def _diff_grad_shape(s, n=1, axis=-1):
    out = list(s)
    out[axis] += n
    return tuple(out)


register(
    Op(
        name="diff",
        impl=np.diff,
        vjp=lambda g, ans, x, n, axis: [apply("diff_grad", g, n=n, axis=axis)],
        jvp=_linear_jvp("diff"),
        shape=_diff_shape,
        dtype="first",
        emit="np.diff({0}, n={n}, axis={axis})",
        cases=(
            ([(5,)], {"n": 1, "axis": -1}),
            ([(3, 4)], {"n": 2, "axis": 0}),
            ([(2, 3, 4)], {"n": 1, "axis": 1}),
        ),
        reads_only=True,
        numpy="np.diff",
        doc="n-th discrete difference along ``axis`` (``np.diff``; no prepend/append).",
    )
)
register(
    Op(
        name="diff_grad",
        internal=True,
        impl=_exec_helper(DIFF_GRAD_SRC, "_ga_diff_grad"),
        vjp=lambda h, ans, g, n, axis: [apply("diff", h, n=n, axis=axis)],
        jvp=_linear_jvp("diff_grad"),
        shape=_diff_grad_shape,
        dtype="first",
        emit="_ga_diff_grad({0}, {n}, {axis})",
        helper=DIFF_GRAD_SRC,
        label="undiff",
        cases=(([(4,)], {"n": 1, "axis": -1}), ([(1, 4)], {"n": 2, "axis": 0})),
    )
)


@export
def diff(x, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis`` (``np.diff``).
    Raises
    ------
    GraphadError
        If ``n`` is not an int >= 0, or ``axis`` is not an int.
    """
    n = static_int(n, "diff: n")
    if n < 0:
        raise GraphadError(f"diff: n must be >= 0, got {n}")
    if n == 0:
        return as_expr(x)
    return apply("diff", x, n=n, axis=static_int(axis, "diff: axis"))
