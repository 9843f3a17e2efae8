"""Ordering: ``sort``, ``take_along_axis``, ``argmax`` / ``argmin``.

``sort``'s gradient follows the sorting permutation (a stable ``argsort`` of the
input, recomputed where the gradient runs): the cotangent goes back to the
position each sorted element came from (``sort_grad``), and the tangent is
gathered by the permutation (``sort_take``); each is the other's transpose.
``argmax`` / ``argmin`` are integer index nodes with no gradient.
``take_along_axis`` gathers along an axis; its gradient scatter-adds
(repeated indices accumulate, as ``np.add.at``).  Its indices are either a
concrete integer array (a static parameter) or an integer Expr (computed by
the graph, e.g. ``ga.argmax(x, axis=1, keepdims=True)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, export, register
from .reduce import reduced_shape
from .rules import _linear_jvp

__all__ = ["sort", "argmax", "argmin", "take_along_axis"]

HELPERS = """
def _ga_sort_take(t, x, axis):
    # t gathered by the stable sorting permutation of x (sort's tangent; sort(x) itself)
    p = np.argsort(x, axis=axis, kind="stable")
    if axis is None:
        return np.ravel(t)[p]
    return np.take_along_axis(np.broadcast_to(t, np.shape(x)), p, axis)


def _ga_sort_grad(g, x, axis):
    # g sent back to the positions the sorted elements came from (sort's VJP)
    p = np.argsort(x, axis=axis, kind="stable")
    out = np.zeros(np.shape(x), np.result_type(g))
    if axis is None:
        out.reshape(-1)[p] = g
    else:
        np.put_along_axis(out, p, g, axis)
    return out


def _ga_take_along_grad(g, x, idx, axis):
    # scatter-add of g into zeros of x's shape by take_along_axis's indices
    g = np.asarray(g)
    out = np.zeros(np.shape(x), np.result_type(g))
    if axis is None:
        np.add.at(out.reshape(-1), np.asarray(idx), g)
        return out
    nd = out.ndim
    axis = axis % nd
    where = []
    for d in range(nd):
        if d == axis:
            where.append(np.broadcast_to(idx, g.shape))
        else:
            n = 1 if out.shape[d] == 1 else g.shape[d]
            shape = [1] * nd
            shape[d] = n
            where.append(np.arange(n).reshape(shape) if n > 1 else np.zeros(shape, np.intp))
    np.add.at(out, tuple(where), g)
    return out
"""

_ns: dict[str, Any] = {"np": np}
exec(compile(HELPERS, "<graphad ordering helpers>", "exec"), _ns)  # the module's own source


def _axis_param(name: str, axis: Any, allow_none: bool = True) -> int | None:
    if axis is None and allow_none:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise GraphadError(
            f"{name}: axis must be an int{' or None' if allow_none else ''}, got {axis!r}"
        )
    return int(axis)


def _sort_shape(x: tuple, axis: int | None) -> tuple:
    if axis is None:
        return (int(np.prod(x, dtype=np.int64)),)
    if not -len(x) <= axis < len(x):
        raise ShapeError(f"sort: axis {axis} is out of bounds for an array of shape {x}")
    return x


def _pair_shape(name: str):
    def shape(t: tuple, x: tuple, axis: int | None) -> tuple:
        _sort_shape(x, axis)
        if name == "sort_grad":
            return x
        return _sort_shape(x, axis)

    return shape


def _src(fn: str):
    return lambda a, p: f"{fn}({a[0]}, {a[1]}, {p['axis']!r})"


register(
    Op(
        name="sort",
        impl=lambda x, axis=-1: np.sort(x, axis=axis, kind="stable"),
        vjp=lambda g, ans, x, axis: [apply("sort_grad", g, x, axis=axis)],
        jvp=lambda ts, ans, x, axis: (
            None if ts[0] is None else apply("sort_take", ts[0], x, axis=axis)
        ),
        shape=_sort_shape,
        dtype="first",
        emit=lambda a, p: f"np.sort({a[0]}, axis={p['axis']!r}, kind='stable')",
        numpy="np.sort",
        parse=False,
        cases=(
            ([(5,)], {"axis": -1}),
            ([(3, 4)], {"axis": 0}),
            ([(2, 3, 4)], {"axis": 1}),
            ([(3, 4)], {"axis": None}),
        ),
        lazy=False,  # Dask has no sort
        kink="where elements tie, the gradient follows the stable sort's order.",
        doc="``np.sort`` (stable); the gradient follows the sorting permutation.",
    )
)
register(
    Op(
        name="sort_take",
        internal=True,
        nargs=2,
        impl=lambda t, x, axis: _ns["_ga_sort_take"](t, x, axis),
        vjp=lambda h, ans, t, x, axis: [apply("sort_grad", h, x, axis=axis), None],
        jvp=_linear_jvp("sort_take"),
        shape=_pair_shape("sort_take"),
        dtype="first",
        emit=_src("_ga_sort_take"),
        helper=HELPERS,
        label="permute",
        parse=False,
        cases=(([(5,), (5,)], {"axis": 0}), ([(3, 4), (3, 4)], {"axis": None})),
    )
)
register(
    Op(
        name="sort_grad",
        internal=True,
        nargs=2,
        impl=lambda g, x, axis: _ns["_ga_sort_grad"](g, x, axis),
        vjp=lambda h, ans, g, x, axis: [apply("sort_take", h, x, axis=axis), None],
        jvp=_linear_jvp("sort_grad"),
        shape=_pair_shape("sort_grad"),
        dtype="first",
        emit=_src("_ga_sort_grad"),
        helper=HELPERS,
        label="unsort",
        parse=False,
        cases=(([(3, 4), (3, 4)], {"axis": 1}), ([(12,), (3, 4)], {"axis": None})),
    )
)


def _arg_op(name: str) -> Op:
    return register(
        Op(
            name=name,
            impl=getattr(np, name),
            vjp=lambda g, ans, x, axis, keepdims: [None],
            jvp=lambda ts, ans, x, axis, keepdims: None,
            differentiable=False,
            shape=lambda x, axis, keepdims: reduced_shape(name, x, axis, keepdims),
            dtype=lambda dt, **p: np.dtype(np.intp),
            emit=lambda a, p: f"np.{name}({a[0]}, axis={p['axis']!r}, keepdims={p['keepdims']!r})",
            numpy=f"np.{name}",
            test_params=({"axis": None, "keepdims": False},),
            parse=False,
            foldable=False,
            reads_only=True,
            cases=(
                ([(5,)], {"axis": None, "keepdims": False}),
                ([(3, 4)], {"axis": 1, "keepdims": False}),
                ([(2, 3, 4)], {"axis": 0, "keepdims": True}),
                ([(3, 4)], {"axis": None, "keepdims": True}),
            ),
            doc=f"``np.{name}``: an integer index node (not differentiable).",
        )
    )


_arg_op("argmax")
_arg_op("argmin")


def _static_indices(indices: Any) -> tuple:
    if isinstance(indices, tuple) and len(indices) == 3 and indices[0] == "array":
        indices = np.asarray(indices[2], dtype=np.intp).reshape(indices[1])  # normalized
    arr = np.asarray(indices)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        raise GraphadError(
            f"take_along_axis: indices must be integers (an int array or an integer Expr), "
            f"got dtype {arr.dtype}"
        )
    return ("array", tuple(int(n) for n in arr.shape), tuple(int(v) for v in arr.ravel()))


def _as_indices(p: tuple) -> np.ndarray:
    return np.asarray(p[2], dtype=np.intp).reshape(p[1])


def _indices_source(p: tuple) -> str:
    values = ", ".join(repr(int(v)) for v in p[2])
    shape = ", ".join(repr(int(n)) for n in p[1])
    return f"np.array([{values}], dtype=np.intp).reshape(({shape}{',' if len(p[1]) == 1 else ''}))"


def _take_shape(x: tuple, idx: tuple, axis: int | None) -> tuple:
    view = np.broadcast_to(np.empty((), np.int8), x)
    ind = np.broadcast_to(np.zeros((), np.intp), idx)
    try:
        return np.take_along_axis(view, ind, axis).shape
    except (ValueError, IndexError) as exc:
        raise ShapeError(
            f"take_along_axis: indices of shape {idx} do not fit an array of shape {x} "
            f"along axis {axis}: {exc}"
        ) from None


def _take_impl(x, indices, axis):
    return np.take_along_axis(np.asarray(x), _as_indices(indices), axis)


register(
    Op(
        name="take_along_axis",
        impl=_take_impl,
        argnames=("arr",),
        vjp=lambda g, ans, x, indices, axis: [
            apply("take_along_axis_grad", g, x, indices=indices, axis=axis)
        ],
        jvp=_linear_jvp("take_along_axis"),
        shape=lambda x, indices, axis: _take_shape(x, indices[1], axis),
        dtype="first",
        emit=lambda a, p: (
            f"np.take_along_axis({a[0]}, {_indices_source(p['indices'])}, {p['axis']!r})"
        ),
        parse=False,
        cases=(
            ([(5,)], {"indices": ("array", (4,), (0, 3, 3, -1)), "axis": 0}),
            ([(3, 4)], {"indices": ("array", (3, 2), (0, 1, 3, 3, 2, 0)), "axis": 1}),
            ([(3, 4)], {"indices": ("array", (1, 4), (2, 0, 1, 2)), "axis": 0}),
            ([(3, 4)], {"indices": ("array", (5,), (0, 11, 11, 4, 5)), "axis": None}),
        ),
        lazy=False,  # its gradient needs np.add.at
        test_params=({"indices": ("array", (2,), (1, 1)), "axis": 0},),
        doc=(
            "``np.take_along_axis(arr, indices, axis)``; the gradient scatter-adds "
            "(repeated indices accumulate).  ``indices`` is an int array or an integer Expr."
        ),
    )
)
register(
    Op(
        name="take_along_axis_grad",
        internal=True,
        nargs=2,
        impl=lambda g, x, indices, axis: _ns["_ga_take_along_grad"](
            g, x, _as_indices(indices), axis
        ),
        vjp=lambda h, ans, g, x, indices, axis: [
            apply("take_along_axis", h, indices=indices, axis=axis),
            None,
        ],
        jvp=_linear_jvp("take_along_axis_grad"),
        shape=lambda g, x, indices, axis: x,
        dtype="first",
        emit=lambda a, p: (
            f"_ga_take_along_grad({a[0]}, {a[1]}, {_indices_source(p['indices'])}, {p['axis']!r})"
        ),
        helper=HELPERS,
        label="scatter add",
        parse=False,
        cases=(
            ([(4,), (5,)], {"indices": ("array", (4,), (0, 3, 3, -1)), "axis": 0}),
            ([(3, 2), (3, 4)], {"indices": ("array", (3, 2), (0, 1, 3, 3, 2, 0)), "axis": 1}),
        ),
    )
)
# the same two with indices computed by the graph (an integer Expr: a second argument)
register(
    Op(
        name="take_along_axis_by",
        internal=True,
        nargs=2,
        impl=lambda x, idx, axis: np.take_along_axis(np.asarray(x), np.asarray(idx), axis),
        vjp=lambda g, ans, x, idx, axis: [
            apply("take_along_axis_by_grad", g, x, idx, axis=axis),
            None,
        ],
        jvp=_linear_jvp("take_along_axis_by"),
        shape=_take_shape,
        dtype="first",
        emit=lambda a, p: f"np.take_along_axis({a[0]}, {a[1]}, {p['axis']!r})",
        label="take along",
        parse=False,
        # an index argument cannot be sampled as floats: tests/ops/test_indexing_arraylike.py
        cases=(),
    )
)
register(
    Op(
        name="take_along_axis_by_grad",
        internal=True,
        nargs=3,
        impl=lambda g, x, idx, axis: _ns["_ga_take_along_grad"](g, x, idx, axis),
        vjp=lambda h, ans, g, x, idx, axis: [
            apply("take_along_axis_by", h, idx, axis=axis),
            None,
            None,
        ],
        jvp=_linear_jvp("take_along_axis_by_grad"),
        shape=lambda g, x, idx, axis: x,
        dtype="first",
        emit=lambda a, p: f"_ga_take_along_grad({a[0]}, {a[1]}, {a[2]}, {p['axis']!r})",
        helper=HELPERS,
        label="scatter add",
        parse=False,
        cases=(),
    )
)


@export
def sort(x, axis=-1, kind=None, order=None, *, stable=None):
    """``np.sort(x, axis)`` (stable); differentiable, the gradient follows the permutation.

    NumPy equivalent: ``np.sort`` (with ``kind="stable"``).  Differentiable in ``x``:
    each element's gradient goes back to the position it came from; equal elements
    keep their order, so ties are resolved as NumPy's stable sort does.

    Parameters
    ----------
    x : Expr or array_like
        The array sorted.
    axis : int or None
        The axis sorted along (default the last); ``None`` sorts the flattened array.

    Returns
    -------
    Expr
        The sorted values, of ``x``'s dtype.

    Raises
    ------
    GraphadError
        If ``axis`` is neither an int nor None.
    ShapeError
        If ``x``'s shape is known when the expression is built and ``axis`` is
        out of its range.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.sort(x).eval(x=np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    if order is not None:
        raise GraphadError("sort: order= (structured arrays) is not supported")
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise GraphadError(f"sort: kind {kind!r} is not one of NumPy's sort kinds")
    # kind and stable only choose NumPy's algorithm: the sorted values are the same, and
    # graphad sorts stably (ties keep their order, so the gradient is well defined)
    return apply("sort", x, axis=_axis_param("sort", axis))


@export
def argmax(x, axis=None, keepdims=False):
    """``np.argmax``: an integer index node (no gradient)."""
    return apply("argmax", x, axis=_axis_param("argmax", axis), keepdims=bool(keepdims))


@export
def argmin(x, axis=None, keepdims=False):
    """``np.argmin``: an integer index node (no gradient)."""
    return apply("argmin", x, axis=_axis_param("argmin", axis), keepdims=bool(keepdims))


@export
def take_along_axis(arr, indices, axis):
    """``np.take_along_axis(arr, indices, axis)``: gathers along ``axis``; the gradient
    scatter-adds.  ``indices``: a concrete integer array, or an integer Expr.

    NumPy equivalent: ``np.take_along_axis``.  Differentiable in ``arr`` (not in
    ``indices``).

    Parameters
    ----------
    arr : Expr or array_like
        The array gathered from.
    indices : array_like of int or Expr of an integer dtype
        Positions along ``axis``, with as many dimensions as ``arr`` (broadcast
        against it along the other axes), as ``np.argsort`` gives them.
    axis : int or None
        The axis gathered along; ``None`` works on the flattened ``arr`` (and
        1-D ``indices``).

    Returns
    -------
    Expr
        The gathered values, of ``arr``'s dtype and ``indices``' shape along ``axis``.

    Raises
    ------
    GraphadError
        If ``indices`` are not integers, or ``axis`` is neither an int nor None.
    ShapeError
        If the shapes are known when the expression is built and ``indices``
        does not fit ``arr`` along ``axis``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.take_along_axis(x, np.array([2, 0]), 0).eval(x=np.array([1.0, 2.0, 3.0]))
    array([3., 1.])
    >>> i = ga.symbol("i", dtype=np.int64)  # indices given when evaluated
    >>> v = np.array([[3.0, 1.0, 2.0]])
    >>> ga.take_along_axis(x, i, 1).eval(x=v, i=np.argsort(v, axis=1))
    array([[1., 2., 3.]])
    """
    axis = _axis_param("take_along_axis", axis)
    if isinstance(indices, Expr):
        if indices.dtype is not None and indices.dtype.kind not in "iu":
            raise GraphadError(
                f"take_along_axis: indices must be integers, got an Expr of dtype {indices.dtype}"
            )
        if axis is None:
            arr = apply("reshape", arr, shape=(-1,))
            axis = 0
        return apply("take_along_axis_by", arr, indices, axis=axis)
    return apply("take_along_axis", arr, indices=_static_indices(indices), axis=axis)
