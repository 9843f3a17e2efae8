"""Diagonal ops of the op table: diag, diagonal, trace, tril, triu.

All are linear; their VJPs put the cotangent back on the diagonal (or the triangle) of
an array of the input's shape, through internal ops whose own VJPs are the forward ops
again, so higher derivatives stay graph ops.  Declared with the helpers of
:mod:`.layout`.
"""

from __future__ import annotations

import numpy as np

from .core import Op, apply, export, register
from .layout import _declare, _probe, _view_shape
from .reduce import _accumulated_dtype
from .rules import _linear_jvp, broadcast_like
from .stats import static_int

__all__ = [
    "diag",
    "diagonal",
    "trace",
    "tril",
    "triu",
]


# -- diag, diagonal, trace, tril, triu ----------------------------------------------------------

DIAG_GRAD_SRC = """
def _ga_diagonal_grad(g, x, offset, axis1, axis2):
    # the adjoint of np.diagonal: g written onto the diagonal of zeros shaped as x
    out = np.zeros(np.shape(x), np.result_type(g))
    v = np.moveaxis(out, (axis1, axis2), (-2, -1))
    n = np.shape(g)[-1]
    i = np.arange(n) + max(-offset, 0)
    v[..., i, i + offset] = g
    return out


def _ga_diagonal_grad_duck(g, x, offset, axis1, axis2):
    # for Dask arrays (no item assignment): g spread along the rows (offset >= 0) or
    # columns of the plane, kept on the diagonal by a mask; np.where, not a product,
    # so that inf/NaN off the diagonal do not leak (identical to the form above)
    shape = np.shape(x)
    n1, n2 = shape[axis1], shape[axis2]
    n = np.shape(g)[-1]
    width = [(0, 0)] * np.ndim(g)
    width[-1] = (0, (n1 if offset >= 0 else n2) - n)
    line = np.pad(g, width)
    spread = line[..., :, None] if offset >= 0 else line[..., None, :]
    mask = np.eye(n1, n2, k=offset, dtype=bool)
    out = np.where(mask, spread, np.zeros((), np.result_type(g)))
    return np.moveaxis(out, (-2, -1), (axis1, axis2))


def _ga_diag_grad_duck(g, x, k):
    if np.ndim(x) == 1:
        return np.diag(g, k)
    return _ga_diagonal_grad_duck(g, x, k, 0, 1)


def _ga_diag_grad(g, x, k):
    # the adjoint of np.diag: a diagonal's for a matrix, np.diag of g for a vector
    if np.ndim(x) == 1:
        return np.diag(g, k)
    return _ga_diagonal_grad(g, x, k, 0, 1)
"""
_diag_ns = {"np": np}
exec(compile(DIAG_GRAD_SRC, "<graphad helper diag>", "exec"), _diag_ns)  # our source only


def _diag_shape(s, k=0):
    if len(s) == 1:
        n = s[0] + abs(k)
        return (n, n)
    if len(s) == 2:
        return _probe(s).diagonal(k).shape
    raise ValueError(f"diag needs a 1-D or 2-D input, got shape {s}")


def _tri_shape(s, k=0):
    if len(s) < 2:
        raise ValueError(f"needs an input of at least 2 dimensions, got shape {s}")
    return tuple(s)


_declare(
    "diag",
    np.diag,
    lambda g, ans, x, k: [apply("diag_grad", g, x, k=k)],
    _diag_shape,
    "np.diag({0}, k={k})",
    (([(3,)], {"k": 0}), ([(3,)], {"k": -1}), ([(3, 4)], {"k": 1}), ([(4, 3)], {"k": -2})),
    doc="The k-th diagonal of a matrix, or the matrix with a vector on its k-th diagonal.",
)
register(
    Op(
        name="diag_grad",
        internal=True,
        nargs=2,
        impl=_diag_ns["_ga_diag_grad"],
        vjp=lambda h, ans, g, x, k: [apply("diag", h, k=k), None],
        jvp=_linear_jvp("diag_grad"),
        shape=lambda g, x, k: tuple(x),
        dtype="first",
        emit="_ga_diag_grad({0}, {1}, {k})",
        duck_emit="_ga_diag_grad_duck({0}, {1}, {k})",
        helper=DIAG_GRAD_SRC,
        label="undiag",
        cases=(([(4, 4), (3,)], {"k": 1}), ([(3,), (3, 4)], {"k": 1})),
    )
)
_declare(
    "diagonal",
    np.diagonal,
    lambda g, ans, x, offset, axis1, axis2: [
        apply("diagonal_grad", g, x, offset=offset, axis1=axis1, axis2=axis2)
    ],
    _view_shape(np.diagonal),
    "np.diagonal({0}, offset={offset}, axis1={axis1}, axis2={axis2})",
    (
        ([(3, 4)], {"offset": 0, "axis1": 0, "axis2": 1}),
        ([(2, 3, 4)], {"offset": 1, "axis1": 2, "axis2": 0}),
        ([(3, 3)], {"offset": -1, "axis1": 0, "axis2": 1}),
    ),
    view=True,
    doc="The diagonal over ``axis1`` and ``axis2``, appended as the last axis (``np.diagonal``).",
)
register(
    Op(
        name="diagonal_grad",
        internal=True,
        nargs=2,
        impl=_diag_ns["_ga_diagonal_grad"],
        vjp=lambda h, ans, g, x, offset, axis1, axis2: [
            apply("diagonal", h, offset=offset, axis1=axis1, axis2=axis2),
            None,
        ],
        jvp=_linear_jvp("diagonal_grad"),
        shape=lambda g, x, **p: tuple(x),
        dtype="first",
        emit="_ga_diagonal_grad({0}, {1}, {offset}, {axis1}, {axis2})",
        duck_emit="_ga_diagonal_grad_duck({0}, {1}, {offset}, {axis1}, {axis2})",
        helper=DIAG_GRAD_SRC,
        label="undiagonal",
        cases=(
            ([(3,), (3, 4)], {"offset": 0, "axis1": 0, "axis2": 1}),
            ([(3, 1), (2, 3, 4)], {"offset": 1, "axis1": 2, "axis2": 0}),
        ),
    )
)


def _trace_vjp(g, ans, x, offset, axis1, axis2):
    d = apply("diagonal", x, offset=offset, axis1=axis1, axis2=axis2)
    spread = broadcast_like(apply("expand_dims", g, axis=-1), d)
    return [apply("diagonal_grad", spread, x, offset=offset, axis1=axis1, axis2=axis2)]


_declare(
    "trace",
    np.trace,
    _trace_vjp,
    lambda s, offset, axis1, axis2: _probe(s).diagonal(offset, axis1, axis2).shape[:-1],
    "np.trace({0}, offset={offset}, axis1={axis1}, axis2={axis2})",
    (
        ([(3, 3)], {"offset": 0, "axis1": 0, "axis2": 1}),
        ([(3, 4)], {"offset": 1, "axis1": 0, "axis2": 1}),
        ([(2, 3, 4)], {"offset": -1, "axis1": 1, "axis2": 2}),
    ),
    dtype=_accumulated_dtype,
    reads_only=True,
    doc="Sum of the diagonal over ``axis1`` and ``axis2`` (``np.trace``).",
)
for _tri in ("tril", "triu"):
    _declare(
        _tri,
        getattr(np, _tri),
        (lambda t: lambda g, ans, x, k: [apply(t, g, k=k)])(_tri),  # a mask: self-adjoint
        _tri_shape,
        f"np.{_tri}({{0}}, k={{k}})",
        (([(3, 3)], {"k": 0}), ([(3, 4)], {"k": 1}), ([(2, 3, 4)], {"k": -1})),
        doc=f"{'Lower' if _tri == 'tril' else 'Upper'} triangle: elements "
        f"{'above' if _tri == 'tril' else 'below'} the k-th diagonal zeroed (``np.{_tri}``).",
    )


@export
def diag(v, k=0):
    """The ``k``-th diagonal of a 2-D ``v``, or a 2-D array with the 1-D ``v`` on it."""
    return apply("diag", v, k=static_int(k, "diag: k"))


def _diag_axes(name, offset, axis1, axis2):
    return {
        "offset": static_int(offset, f"{name}: offset"),
        "axis1": static_int(axis1, f"{name}: axis1"),
        "axis2": static_int(axis2, f"{name}: axis2"),
    }


@export
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal of ``a`` over ``axis1`` and ``axis2`` (``np.diagonal``)."""
    return apply("diagonal", a, **_diag_axes("diagonal", offset, axis1, axis2))


@export
def trace(a, offset=0, axis1=0, axis2=1):
    """The sum along a diagonal of ``a`` (``np.trace``)."""
    return apply("trace", a, **_diag_axes("trace", offset, axis1, axis2))


@export
def tril(m, k=0):
    """Zero the elements above the ``k``-th diagonal (``np.tril``)."""
    return apply("tril", m, k=static_int(k, "tril: k"))


@export
def triu(m, k=0):
    """Zero the elements below the ``k``-th diagonal (``np.triu``)."""
    return apply("triu", m, k=static_int(k, "triu: k"))
