"""Split and join ops of the op table: split (array_split, hsplit, vsplit), one Expr per
piece, and vstack, hstack, column_stack.

A piece of a split is its own node (the op with an ``index`` parameter), so each piece
has its own gradient; its VJP places the piece's cotangent back in an array of the
input's shape through an internal op whose own VJP is the piece again, so higher
derivatives stay graph ops.  The joins are one op each whose VJP returns, per input,
the part of the cotangent that came from it.  Declared with the helpers of
:mod:`.layout`.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, as_expr, export, register
from .layout import _declare, _probe, _shape_error
from .linalg import _concat_shape
from .rules import _linear_jvp, zeros_like
from .stats import static_int

__all__ = [
    "split",
    "array_split",
    "hsplit",
    "vsplit",
    "vstack",
    "hstack",
    "column_stack",
]


# -- split: multi-output, one Expr per piece -----------------------------------------------------

SPLIT_SRC = """
def _ga_split_bounds(n, indices_or_sections, index, equal):
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if equal and n % k:
            raise ValueError(
                f"an axis of length {n} does not divide into {k} equal pieces "
                "(array_split allows unequal ones)")
        q, r = divmod(n, k)
        start = index * q + min(index, r)
        return start, start + q + (1 if index < r else 0)
    bounds = [0, *indices_or_sections, n]
    return slice(bounds[index], bounds[index + 1]).indices(n)[:2]


def _ga_split(x, indices_or_sections, axis=0, index=0, equal=False):
    if not hasattr(x, "__array_function__"):
        x = np.asarray(x)
    start, stop = _ga_split_bounds(np.shape(x)[axis], indices_or_sections, index, equal)
    sl = [slice(None)] * np.ndim(x)
    sl[axis] = slice(start, max(start, stop))
    return x[tuple(sl)]


def _ga_unsplit(g, x, indices_or_sections, axis=0, index=0, equal=False):
    out = np.zeros(np.shape(x), np.result_type(g))
    start, stop = _ga_split_bounds(np.shape(x)[axis], indices_or_sections, index, equal)
    sl = [slice(None)] * np.ndim(x)
    sl[axis] = slice(start, max(start, stop))
    out[tuple(sl)] = g
    return out
"""
_split_ns = {"np": np}
exec(compile(SPLIT_SRC, "<graphad helper split>", "exec"), _split_ns)  # our source only


def _split_index(s, indices_or_sections, axis, index, equal):
    """The piece as a basic index (ints and slices) of an array of static shape ``s``."""
    if not s:
        raise ShapeError("split: cannot split a 0-d array")
    ax = axis % len(s)
    start, stop = _split_ns["_ga_split_bounds"](s[ax], indices_or_sections, index, equal)
    return (("slice", None, None, None),) * ax + (("slice", start, max(start, stop), None),)


def _split_shape(s, indices_or_sections, axis=0, index=0, equal=False):
    return _probe(s)[
        tuple(slice(*it[1:]) for it in _split_index(s, indices_or_sections, axis, index, equal))
    ].shape


def _lower_split(x, **p):
    try:
        index = _split_index(x.shape, **p)
    except (ValueError, IndexError) as exc:
        raise _shape_error("split", exc) from None
    return apply("getitem", x, index=index)


def _lower_unsplit(g, x, **p):
    return apply("getitem_grad", g, x, index=_split_index(x.shape, **p))


def _split_emit(fn):
    return lambda a, p: (
        f"{fn}({', '.join(a)}, {p['indices_or_sections']!r}, axis={p['axis']!r}, "
        f"index={p['index']!r}, equal={p['equal']!r})"
    )


register(
    Op(
        name="split",
        impl=_split_ns["_ga_split"],
        vjp=lambda g, ans, x, **p: [apply("unsplit", g, x, **p)],
        jvp=_linear_jvp("split"),
        shape=_split_shape,
        dtype="first",
        emit=_split_emit("_ga_split"),
        helper=SPLIT_SRC,
        lower=_lower_split,
        view=True,
        parse=False,  # returns a list: parsed text is one expression
        test_params=({"indices_or_sections": 2, "index": 1},),
        cases=(
            ([(6,)], {"indices_or_sections": 3, "index": 1}),
            ([(2, 6)], {"indices_or_sections": 3, "axis": 1, "index": 0}),
            ([(5, 2)], {"indices_or_sections": (1, 3), "axis": 0, "index": 2}),
        ),
        doc="Split into pieces along ``axis`` (``np.split``/``np.array_split``): a list of "
        "Exprs, one per piece, each a slice of ``x`` (``index=i``: piece ``i`` only).",
    )
)
register(
    Op(
        name="unsplit",
        internal=True,
        nargs=2,
        impl=_split_ns["_ga_unsplit"],
        vjp=lambda h, ans, g, x, **p: [apply("split", h, **p), None],
        jvp=_linear_jvp("unsplit"),
        shape=lambda g, x, **p: tuple(x),
        dtype="first",
        emit=_split_emit("_ga_unsplit"),
        helper=SPLIT_SRC,
        lower=_lower_unsplit,
        label="place piece",
        cases=(([(2,), (6,)], {"indices_or_sections": 3, "axis": 0, "index": 1, "equal": True}),),
    )
)


def _pieces(name, x, indices_or_sections, axis, equal, index):
    x = as_expr(x)
    axis = static_int(axis, f"{name}: axis")
    if isinstance(indices_or_sections, list | tuple):
        ios = tuple(static_int(i, f"{name}: indices") for i in indices_or_sections)
        count = len(ios) + 1
    else:
        ios = static_int(indices_or_sections, f"{name}: sections")
        if ios <= 0:
            raise GraphadError(f"{name}: the number of sections must be > 0, got {ios}")
        count = ios
    if x.shape is not None:  # static: check the whole split before building any piece
        if not -len(x.shape) <= axis < len(x.shape):
            raise ShapeError(f"{name}: axis {axis} is out of bounds for shape {x.shape}")
        n = x.shape[axis]
        if equal and isinstance(ios, int) and n % ios:
            raise ShapeError(
                f"{name}: an axis of length {n} does not divide into {ios} equal pieces "
                "(array_split allows unequal ones)"
            )
    params = {"indices_or_sections": ios, "axis": axis, "equal": bool(equal)}
    if index is not None:
        i = static_int(index, f"{name}: index")
        if not 0 <= i < count:
            raise GraphadError(f"{name}: index {i} is not a piece (0 .. {count - 1})")
        return apply("split", x, index=i, **params)
    return [apply("split", x, index=i, **params) for i in range(count)]


def split(x, indices_or_sections, axis=0, *, index=None):
    """Split ``x`` into equal pieces (an int) or at indices (a sequence) along ``axis``
    (``np.split``): a list of Exprs, each a slice of ``x``.  ``index=i`` builds piece
    ``i`` only."""
    return _pieces("split", x, indices_or_sections, axis, True, index)


def array_split(x, indices_or_sections, axis=0, *, index=None):
    """As :func:`split`, allowing pieces of unequal length (``np.array_split``)."""
    return _pieces("array_split", x, indices_or_sections, axis, False, index)


def hsplit(x, indices_or_sections, *, index=None):
    """:func:`split` along axis 1 (axis 0 of a 1-D ``x``, as ``np.hsplit``).

    Parameters
    ----------
    x : Expr or array_like
        The array; its shape must be declared (the axis depends on its rank).
    indices_or_sections : int or sequence of int
        As for :func:`split`.
    index : int, optional
        Build only that piece.

    Returns
    -------
    list of Expr, or Expr
        The pieces (one piece with ``index``).

    Raises
    ------
    GraphadError
        When ``x``'s shape is not declared.
    ShapeError
        When the axis does not divide into ``indices_or_sections`` equal pieces
        (an int), or an index does not fit ``x``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x", shape=(2, 4))
    >>> left, right = ga.hsplit(x, 2)
    >>> right.eval(x=np.arange(8.0).reshape(2, 4)).tolist()
    [[2.0, 3.0], [6.0, 7.0]]
    """
    x = as_expr(x)
    if x.shape is None:
        raise GraphadError(
            "hsplit: the axis depends on x's number of dimensions; declare x's shape or "
            "use split(x, ..., axis=1)"
        )
    return _pieces("hsplit", x, indices_or_sections, 0 if len(x.shape) == 1 else 1, True, index)


def vsplit(x, indices_or_sections, *, index=None):
    """:func:`split` along axis 0 of an array of at least 2 dimensions (``np.vsplit``)."""
    x = as_expr(x)
    if x.shape is not None and len(x.shape) < 2:
        raise ShapeError(f"vsplit: x must have at least 2 dimensions, got shape {x.shape}")
    return _pieces("vsplit", x, indices_or_sections, 0, True, index)


for _fn in (split, array_split, hsplit, vsplit):
    export(_fn, "split")


# -- vstack, hstack, column_stack ----------------------------------------------------------------

JOIN_PART_SRC = """
def _ga_join_shape(shape, how):
    nd = len(shape)
    if how == "vstack":
        return tuple(shape) if nd >= 2 else (1,) * (2 - nd) + tuple(shape)
    if how == "hstack":
        return tuple(shape) if nd >= 1 else (1,)
    return tuple(shape) if nd >= 2 else (tuple(shape) + (1,) if nd == 1 else (1, 1))


def _ga_join_axis(shapes, how):
    if how == "hstack":
        return 0 if len(shapes[0]) == 1 else 1
    return 0 if how == "vstack" else 1


def _ga_join_duck(*xs, how):
    # for Dask arrays: reshape to the promoted shapes, then one concatenate
    shapes = [_ga_join_shape(np.shape(x), how) for x in xs]
    parts = [np.reshape(x, s) for x, s in zip(xs, shapes)]
    return np.concatenate(parts, axis=_ga_join_axis(shapes, how))


def _ga_join_part(g, *xs, index, how):
    shapes = [_ga_join_shape(np.shape(x), how) for x in xs]
    axis = _ga_join_axis(shapes, how)
    start = sum(s[axis] for s in shapes[:index])
    sl = [slice(None)] * np.ndim(g)
    sl[axis] = slice(start, start + shapes[index][axis])
    return np.reshape(g[tuple(sl)], np.shape(xs[index]))
"""
_join_ns = {"np": np}
exec(compile(JOIN_PART_SRC, "<graphad helper join>", "exec"), _join_ns)  # our source only


def _join_shape(how):
    def shape(*shapes):
        promoted = [_join_ns["_ga_join_shape"](s, how) for s in shapes]
        try:
            return _concat_shape(*promoted, axis=_join_ns["_ga_join_axis"](promoted, how))
        except ShapeError:
            raise ShapeError(f"{how}: cannot join shapes {list(shapes)}") from None

    return shape


def _join_jvp(how):
    def jvp(tangents, ans, *xs):
        return apply(
            how, [zeros_like(x) if t is None else t for t, x in zip(tangents, xs, strict=True)]
        )

    return jvp


JOIN_CASES = {
    "vstack": (([(3,), (3,)], {}), ([(2, 3), (1, 3), (2, 3)], {}), ([(), ()], {})),
    "hstack": (([(3,), (2,)], {}), ([(3, 2), (3, 1)], {}), ([(), ()], {})),
    "column_stack": (([(3,), (3,)], {}), ([(2,), (2, 2)], {}), ([(3, 2), (3,)], {})),
}
for _how, _doc in (
    ("vstack", "Stack arrays vertically: 1-D ones as rows (``np.vstack``)."),
    ("hstack", "Stack arrays horizontally: along axis 1, or 0 for 1-D ones (``np.hstack``)."),
    ("column_stack", "Stack 1-D arrays as the columns of a 2-D one (``np.column_stack``)."),
):
    _declare(
        _how,
        (lambda fn: lambda *xs: fn(xs))(getattr(np, _how)),
        (
            lambda how: (
                lambda g, ans, *xs: [
                    apply("join_part", [g, *xs], index=i, how=how) for i in range(len(xs))
                ]
            )
        )(_how),
        _join_shape(_how),
        (lambda how: lambda a, p: f"np.{how}(({', '.join(a)},))")(_how),
        JOIN_CASES[_how],
        nargs=None,
        jvp=_join_jvp(_how),
        duck_emit=(lambda how: lambda a, p: f"_ga_join_duck({', '.join(a)}, how={how!r})")(_how),
        helper=JOIN_PART_SRC,
        dtype="promote",
        doc=_doc,
    )
register(
    Op(
        name="join_part",
        internal=True,
        nargs=None,
        impl=_join_ns["_ga_join_part"],
        vjp=lambda h, ans, g, *xs, index, how: (
            [apply(how, [h if i == index else zeros_like(x) for i, x in enumerate(xs)])]
            + [None] * len(xs)
        ),
        jvp=lambda ts, ans, g, *xs, index, how: (
            None if ts[0] is None else apply("join_part", [ts[0], *xs], index=index, how=how)
        ),
        shape=lambda g, *xs, index, how: tuple(xs[index]),
        dtype="first",
        emit=lambda a, p: f"_ga_join_part({', '.join(a)}, index={p['index']!r}, how={p['how']!r})",
        helper=JOIN_PART_SRC,
        label="part",
        cases=(
            ([(2, 3), (3,), (3,)], {"index": 1, "how": "vstack"}),
            ([(5,), (2,), (3,)], {"index": 0, "how": "hstack"}),
        ),
    )
)


def _joiner(how):
    def fn(tup):
        if isinstance(tup, Expr | np.ndarray):  # NumPy iterates an array's first axis
            e = as_expr(tup)
            if e.shape is None or not e.shape:
                raise GraphadError(
                    f"{how}: an array argument is split along its first axis, which needs "
                    f"a declared shape of at least 1 dimension (got {e.shape}); pass a "
                    f"list of arrays"
                )
            tup = [e[i] for i in range(e.shape[0])]
        if not isinstance(tup, list | tuple) or not tup:
            raise GraphadError(f"{how} expects a non-empty sequence of arrays")
        return apply(how, list(tup))

    fn.__name__ = fn.__qualname__ = how
    fn.__doc__ = (
        OPS_DOCS[how] + "\n\nRaises\n------\nGraphadError\n"
        "    If ``tup`` is not a non-empty list or tuple of arrays."
    )
    return export(fn, how)


OPS_DOCS = {
    "vstack": "Stack a sequence of arrays vertically (``np.vstack``).",
    "hstack": "Stack a sequence of arrays horizontally (``np.hstack``).",
    "column_stack": "Stack 1-D arrays as columns of a 2-D array (``np.column_stack``).",
}
vstack, hstack, column_stack = _joiner("vstack"), _joiner("hstack"), _joiner("column_stack")
