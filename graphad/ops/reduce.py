"""Reductions: sum, mean, prod, max, min, logsumexp (``axis=None`` by default, as JAX)."""

from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from .core import Op, apply, export, register
from .elementwise import divide, equal, multiply, where
from .rules import _exec_helper, _linear_jvp, astype_like, numel, unreduce

__all__ = ["sum", "mean", "prod", "max", "min", "logsumexp"]


def _norm_axis(axis):
    if isinstance(axis, bool):  # an int to Python, but NumPy raises at run time
        raise TypeError(f"axis must be None, an int or a tuple of ints, not {axis!r}")
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(int(a) for a in axis)


def reduced_shape(name, shape, axis, keepdims):
    nd = len(shape)
    axes = range(nd) if axis is None else (axis,) if isinstance(axis, int) else axis
    norm = set()
    for a in axes:
        if not -nd <= a < nd:
            raise ShapeError(f"{name}: axis {a} is out of bounds for an array of shape {shape}")
        norm.add(a % nd)
    if keepdims:
        return tuple(1 if i in norm else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in norm)


REDUCTION_CASES = (
    ([()], {}),
    ([(5,)], {}),
    ([(3, 1)], {"axis": -1}),
    ([(2, 3, 4)], {"axis": -1}),
    ([(2, 3, 4)], {"axis": 0, "keepdims": True}),
    ([(2, 3, 4)], {"axis": (0, 2)}),
)


def _reduction(
    name,
    impl,
    vjp,
    *,
    jvp=None,
    dtype="promote",
    sympy=None,
    emit=None,
    helper=None,
    domain=None,
    doc="",
):
    op = register(
        Op(
            name=name,
            impl=impl,
            nargs=1,
            vjp=vjp,
            jvp=jvp,
            dtype=dtype,
            sympy=sympy,
            shape=lambda s, axis=None, keepdims=False: reduced_shape(name, s, axis, keepdims),
            emit=emit or f"np.{name}({{0}}, axis={{axis}}, keepdims={{keepdims}})",
            helper=helper,
            domain=domain or [(-2.0, 2.0)],
            test_params=({}, {"axis": -1}, {"axis": 0, "keepdims": True}),
            cases=REDUCTION_CASES,
            reduction=True,
            reads_only=True,
            numpy=f"np.{name}" if name != "logsumexp" else "scipy.special.logsumexp",
            doc=doc,
        )
    )

    def fn(x, axis=None, keepdims=False):
        return apply(name, x, axis=_norm_axis(axis), keepdims=bool(keepdims))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return export(fn, op.name)


def _accumulated_dtype(dt, **params):
    """NumPy's dtype of a sum or product: booleans and small integers accumulate in the
    platform integer (``np.sum`` of a bool array is int64, not bool)."""
    if dt is None:
        return None
    return _ACCUMULATED.get(dt) or _ACCUMULATED.setdefault(dt, np.sum(np.zeros(1, dt)).dtype)


_ACCUMULATED: dict = {}


def _sum_sympy(sp, x, axis=None, keepdims=False):
    return x  # SymPy's scalars: a reduction of a scalar is the scalar itself


sum = _reduction(
    "sum",
    np.sum,
    lambda g, ans, x, axis, keepdims: [unreduce(g, x, axis, keepdims)],
    jvp=_linear_jvp("sum"),
    dtype=_accumulated_dtype,
    sympy=_sum_sympy,
    doc="Sum over ``axis`` (all axes by default).",
)
mean = _reduction(
    "mean",
    np.mean,
    lambda g, ans, x, axis, keepdims: [divide(unreduce(g, x, axis, keepdims), numel(x, axis))],
    jvp=_linear_jvp("mean"),
    dtype="float",
    sympy=_sum_sympy,
    doc="Arithmetic mean over ``axis`` (all axes by default).",
)


def _prod_vjp(g, ans, x, axis, keepdims):
    # d prod / d x_i is the product of the other elements. Away from zeros that is
    # ans / x_i; at a zero it is the product of the non-zero elements when the
    # slice holds exactly one zero, and 0 when it holds more.
    zero = equal(x, 0)
    safe = where(zero, 1.0, x)
    others_at_zero = multiply(
        apply("prod", safe, axis=axis, keepdims=True),
        equal(apply("sum", zero, axis=axis, keepdims=True), 1),
    )
    local = where(zero, others_at_zero, divide(unreduce(ans, x, axis, keepdims), safe))
    return [multiply(unreduce(g, x, axis, keepdims), local)]


prod = _reduction(
    "prod",
    np.prod,
    _prod_vjp,
    dtype=_accumulated_dtype,
    sympy=_sum_sympy,
    domain=[(0.5, 2.0)],
    doc="Product over ``axis``.  Its gradient is exact at zeros too (the product of the "
    "other elements).  Second derivatives are exact except in a slice holding two or more "
    "zeros, where they come out 0.",
)


def _extremum_vjp(g, ans, x, axis, keepdims):
    # ties share the gradient equally, as JAX does
    mask = equal(x, unreduce(ans, x, axis, keepdims))
    count = astype_like(apply("sum", mask, axis=axis, keepdims=True), x)
    return [divide(multiply(unreduce(g, x, axis, keepdims), mask), count)]


max = _reduction(
    "max",
    np.max,
    _extremum_vjp,
    sympy=_sum_sympy,
    doc="Maximum over ``axis``.  Convention: tied maxima share the gradient equally.",
)
min = _reduction(
    "min",
    np.min,
    _extremum_vjp,
    sympy=_sum_sympy,
    doc="Minimum over ``axis``.  Convention: tied minima share the gradient equally.",
)

LOGSUMEXP_SRC = """
def _ga_logsumexp(x, axis=None, keepdims=False):
    if not hasattr(x, "__array_function__"):  # Dask arrays stay lazy
        x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) slices: shift by 0
    with np.errstate(divide="ignore"):
        r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)
"""
SOFTMAX_SRC = """
def _ga_softmax(x, axis=-1):
    if not hasattr(x, "__array_function__"):  # Dask arrays stay lazy
        x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0))
    s = np.sum(e, axis=axis, keepdims=True)
    return e / np.where(s == 0, 1, s)  # an all -inf slice gets weights 0, not NaN
"""


def _logsumexp_vjp(g, ans, x, axis, keepdims):
    # the softmax op (declared in ops/nn.py, which builds on this module)
    return [multiply(unreduce(g, x, axis, keepdims), apply("softmax", x, axis=axis))]


def _logsumexp_sympy(sp, x, axis=None, keepdims=False):
    return x  # logsumexp of one scalar is the scalar


logsumexp = _reduction(
    "logsumexp",
    _exec_helper(LOGSUMEXP_SRC, "_ga_logsumexp"),
    _logsumexp_vjp,
    dtype="float",
    emit="_ga_logsumexp({0}, axis={axis}, keepdims={keepdims})",
    helper=LOGSUMEXP_SRC,
    sympy=_logsumexp_sympy,
    doc="``log(sum(exp(x)))`` over ``axis``, computed stably (shifted by the maximum).  "
    "An all ``-inf`` slice gives ``-inf`` with gradient 0.",
)
