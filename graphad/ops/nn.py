"""The deep-learning set: relu, sigmoid, softplus, softmax, log_softmax.

Each is a primitive with a fused rule rather than a decomposition, because the
fused forms are the numerically stable ones (no overflow at |x| = 1000).
"""

from __future__ import annotations

import numpy as np

from .core import Op, apply, export, register
from .elementwise import _elementwise, exp, greater, multiply, subtract
from .reduce import SOFTMAX_SRC
from .rules import _exec_helper

relu = _elementwise(
    "relu",
    lambda x: np.maximum(x, 0),
    lambda ans, x: [greater(x, 0)],
    dtype="promote",
    emit="np.maximum({0}, 0)",
    ufunc="maximum",
    ufunc_args=(0,),
    sympy=lambda sp, x: sp.Max(x, 0),
    numpy="np.maximum(x, 0)",
    activation=True,
    preserves_zero=True,
    monotone=1,
    doc="Rectified linear unit ``max(x, 0)``.",
    kink="relu'(0) = 0 (as JAX and PyTorch).",
)
sigmoid = _elementwise(
    "sigmoid",
    lambda x: np.exp(-np.logaddexp(0, -x)),
    lambda ans, x: [multiply(ans, subtract(1.0, ans))],
    emit="np.exp(-np.logaddexp(0, -{0}))",
    sympy=lambda sp, x: 1 / (1 + sp.exp(-x)),
    domain=[(-4.0, 4.0)],
    numpy="scipy.special.expit",
    activation=True,
    nonnegative=True,
    monotone=1,
    doc="Logistic sigmoid ``1 / (1 + exp(-x))``, computed as ``exp(-logaddexp(0, -x))`` so "
    "that it neither overflows nor loses the tails.",
    exact=True,
)
softplus = _elementwise(
    "softplus",
    lambda x: np.logaddexp(0, x),
    lambda ans, x: [sigmoid(x)],
    emit="np.logaddexp(0, {0})",
    sympy=lambda sp, x: sp.log(1 + sp.exp(x)),
    numpy="np.logaddexp(0, x)",
    activation=True,
    nonnegative=True,
    monotone=1,
    doc="``log(1 + exp(x))``, computed as ``logaddexp(0, x)`` (finite at x = ±1000).",
    exact=True,
)


def _softmax_vjp(g, ans, x, axis):
    inner = apply("sum", multiply(g, ans), axis=axis, keepdims=True)
    return [multiply(ans, subtract(g, inner))]


def _log_softmax_vjp(g, ans, x, axis):
    total = apply("sum", g, axis=axis, keepdims=True)
    return [subtract(g, multiply(exp(ans), total))]


def _softmax_jvp(tangents, ans, x, axis):
    (t,) = tangents
    inner = apply("sum", multiply(t, ans), axis=axis, keepdims=True)
    return multiply(ans, subtract(t, inner))


def _log_softmax_jvp(tangents, ans, x, axis):
    (t,) = tangents
    return subtract(t, apply("sum", multiply(exp(ans), t), axis=axis, keepdims=True))


LOG_SOFTMAX_SRC = """
def _ga_log_softmax(x, axis=-1):
    if not hasattr(x, "__array_function__"):  # Dask arrays stay lazy
        x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    s = x - np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
"""


def _check_axis(name):
    from .reduce import reduced_shape

    def shape(s, axis=-1):
        reduced_shape(name, s, axis, True)  # validates the axis
        return s

    return shape


def _softmax_family(name, src, fn_name, vjp, jvp, doc):
    op = register(
        Op(
            name=name,
            impl=_exec_helper(src, fn_name),
            nargs=1,
            vjp=vjp,
            jvp=jvp,
            shape=_check_axis(name),
            dtype="float",
            emit=f"{fn_name}({{0}}, axis={{axis}})",
            helper=src,
            domain=[(-3.0, 3.0)],
            test_params=({"axis": -1}, {"axis": 0}),
            activation=name == "softmax",
            reads_only=True,
            nonnegative=name == "softmax",
            cases=(
                ([(5,)], {"axis": -1}),
                ([(2, 3, 4)], {"axis": 0}),
                ([(2, 3, 4)], {"axis": 1}),
                ([(2, 3)], {"axis": -1}),
            ),
            doc=doc,
            sympy=(lambda sp, x, axis=-1: sp.Integer(1))
            if name == "softmax"
            else (lambda sp, x, axis=-1: sp.Integer(0)),
        )
    )

    def fn(x, axis=-1):
        return apply(name, x, axis=axis if axis is None or isinstance(axis, int) else tuple(axis))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return export(fn, op.name)


softmax = _softmax_family(
    "softmax",
    SOFTMAX_SRC,
    "_ga_softmax",
    _softmax_vjp,
    _softmax_jvp,
    "``exp(x) / sum(exp(x))`` along ``axis`` (default -1), shifted by the maximum for "
    "stability.  An all ``-inf`` slice gives zeros.",
)
log_softmax = _softmax_family(
    "log_softmax",
    LOG_SOFTMAX_SRC,
    "_ga_log_softmax",
    _log_softmax_vjp,
    _log_softmax_jvp,
    "``x - logsumexp(x)`` along ``axis`` (default -1), computed stably.",
)
