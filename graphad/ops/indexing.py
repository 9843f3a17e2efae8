"""Indexing: basic (ints, slices, ``None``, ``...``) and advanced (integer arrays,
boolean masks), and the functional update ``x.at[idx].set(v)`` / ``.add(v)``.

``getitem`` is NumPy's ``x[index]``; its VJP is ``getitem_grad``, which scatters
the cotangent into zeros of the input's shape, accumulating where an integer
array repeats a position (``np.add.at`` semantics), and whose own VJP is
``getitem`` again, so second derivatives work.  The index is a static
parameter: a tuple whose entries are ints, ``("slice", start, stop, step)``,
``("newaxis",)``, ``("ellipsis",)``, ``("array", shape, values)`` (integers) or
``("mask", shape, values)`` (booleans as 0/1).  Index arrays are values, not
graph nodes: an index computed by the graph (an Expr) is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, export, register
from .rules import _linear_jvp, sum_to

__all__ = ["getitem", "index_update", "normalize_index", "index_source", "IndexUpdateHelper"]

#: largest index array held as a parameter (its values are written into generated code)
MAX_INDEX_ELEMENTS = 1_000_000


def _array_entry(it: Any) -> tuple:
    """An integer array or boolean mask (array-like) as a static index entry."""
    arr = np.asarray(it)
    if arr.dtype == object or arr.dtype.kind not in "biu":
        if arr.size == 0 and arr.dtype.kind == "f":  # x[[]]: an empty integer index, as NumPy
            arr = arr.astype(np.intp)
        else:
            raise GraphadError(
                f"index arrays must hold integers or booleans, got dtype {arr.dtype}"
            )
    if arr.size > MAX_INDEX_ELEMENTS:
        raise GraphadError(
            f"index array of {arr.size} elements exceeds the limit MAX_INDEX_ELEMENTS "
            f"({MAX_INDEX_ELEMENTS})"
        )
    shape = tuple(int(n) for n in arr.shape)
    if arr.dtype.kind == "b":
        return ("mask", shape, tuple(int(v) for v in arr.ravel()))
    return ("array", shape, tuple(int(v) for v in arr.ravel()))


_TAGS = ("slice", "newaxis", "ellipsis", "array", "mask")


def normalize_index(index: Any) -> tuple:
    """A user index as the static parameter (hashable, writable as source)."""
    items = index if isinstance(index, tuple) else (index,)
    out: list[Any] = []
    for it in items:
        if isinstance(it, tuple) and it and it[0] in _TAGS:
            if it[0] == "slice" and len(it) == 4:
                it = slice(*it[1:])
            elif it[0] in ("newaxis", "ellipsis") and len(it) == 1:
                out.append(it)
                continue
            elif it[0] in ("array", "mask") and len(it) == 3:
                shape, values = it[1], it[2]
                arr = np.asarray(values, dtype=bool if it[0] == "mask" else np.intp)
                it = arr.reshape(tuple(shape))
        if isinstance(it, Expr):
            raise GraphadError(
                "an index computed by the graph (an Expr) is not supported; index with ints, "
                "slices, None, ..., or concrete integer/boolean arrays "
                "(use ga.take_along_axis for an index that is an Expr)"
            )
        if isinstance(it, slice):
            parts = []
            for p in (it.start, it.stop, it.step):
                if p is not None and not isinstance(p, int | np.integer):
                    raise GraphadError(f"slice bounds must be ints or None, got {p!r}")
                parts.append(None if p is None else int(p))
            if parts[2] == 0:
                raise GraphadError("slice step cannot be zero")
            out.append(("slice", *parts))
        elif it is None:
            out.append(("newaxis",))
        elif it is Ellipsis:
            out.append(("ellipsis",))
        elif isinstance(it, bool | np.bool_):
            out.append(("mask", (), (int(it),)))
        elif isinstance(it, int | np.integer):
            out.append(int(it))
        elif isinstance(it, list | tuple | np.ndarray):
            out.append(_array_entry(it))
        else:
            raise GraphadError(
                f"graphad supports indexing with ints, slices, None, ..., integer arrays and "
                f"boolean masks, got {type(it).__name__}"
            )
    if sum(1 for it in out if it == ("ellipsis",)) > 1:
        raise GraphadError("an index can only have a single ellipsis ('...')")
    return tuple(out)


def _is_advanced(index: tuple) -> bool:
    return any(isinstance(it, tuple) and it[0] in ("array", "mask") for it in index)


def _as_numpy_index(index: tuple) -> tuple:
    out: list[Any] = []
    for it in index:
        if not isinstance(it, tuple):
            out.append(it)
        elif it[0] == "slice":
            out.append(slice(*it[1:]))
        elif it[0] == "newaxis":
            out.append(None)
        elif it[0] == "ellipsis":
            out.append(Ellipsis)
        else:
            dt = bool if it[0] == "mask" else np.intp
            out.append(np.asarray(it[2], dtype=dt).reshape(it[1]))
    return tuple(out)


def _array_source(it: tuple) -> str:
    dt = "bool" if it[0] == "mask" else "np.intp"
    values = ", ".join(repr(int(v)) for v in it[2])
    shape = ", ".join(repr(int(n)) for n in it[1])
    return f"np.array([{values}], dtype={dt}).reshape(({shape}{',' if len(it[1]) == 1 else ''}))"


def index_source(index: tuple) -> str:
    """The index as Python subscript source, e.g. ``1:`` or ``:, 0``."""
    parts = []
    for it in index:
        if not isinstance(it, tuple):
            parts.append(repr(int(it)))
        elif it[0] == "slice":
            start, stop, step = ("" if p is None else repr(int(p)) for p in it[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif it[0] == "newaxis":
            parts.append("None")
        elif it[0] == "ellipsis":
            parts.append("...")
        else:
            parts.append(_array_source(it))
    return ", ".join(parts) if parts else "()"


def _np_index_source(index: tuple) -> str:
    parts = []
    for it in index:
        if not isinstance(it, tuple):
            parts.append(repr(int(it)))
        elif it[0] == "slice":
            parts.append(f"slice({it[1]!r}, {it[2]!r}, {it[3]!r})")
        elif it[0] == "newaxis":
            parts.append("None")
        elif it[0] == "ellipsis":
            parts.append("Ellipsis")
        else:
            parts.append(_array_source(it))
    return "(" + ", ".join(parts) + ",)"


def _getitem_shape(s: tuple, index: tuple) -> tuple:
    # a zero-byte view of the shape tells NumPy's own answer (and its IndexErrors)
    view = np.broadcast_to(np.empty((), np.int8), s)
    try:
        return view[_as_numpy_index(index)].shape
    except IndexError as exc:
        raise ShapeError(f"getitem: index does not fit an array of shape {s}: {exc}") from None


SCATTER_SRC = """
def _ga_getitem_grad(g, x, index):
    out = np.zeros(np.shape(x), np.result_type(g))
    out[index] = g
    return out


def _ga_getitem_grad_at(g, x, index):
    # advanced indices may repeat a position: contributions accumulate (np.add.at)
    out = np.zeros(np.shape(x), np.result_type(g))
    np.add.at(out, index, g)
    return out


def _ga_getitem_grad_duck(g, x, index):
    # for Dask arrays: zeros of x's kind, and slices only (Dask assigns lazily into
    # slices; an int becomes a length-1 slice of an expanded g; ... becomes slices,
    # and the axes None added are squeezed out of g)
    real = sum(1 for it in index if it is not None and it is not Ellipsis)
    expanded = []
    for it in index:
        if it is Ellipsis:
            expanded.extend([slice(None)] * (np.ndim(x) - real))
        else:
            expanded.append(it)
    drop, k = [], 0
    for it in expanded:
        if it is None:
            drop.append(k)
        if not isinstance(it, int):
            k += 1
    if drop:
        g = np.squeeze(g, axis=tuple(drop))
    index = tuple(it for it in expanded if it is not None)
    sl, axes = [], []
    for k, it in enumerate(index):
        if isinstance(it, int):
            i = it % np.shape(x)[k]
            sl.append(slice(i, i + 1))
            axes.append(k)
        else:
            sl.append(it)
    if axes:
        g = np.expand_dims(g, tuple(axes))
    out = np.zeros_like(x, dtype=np.result_type(g))
    out[tuple(sl)] = g
    return out


def _ga_index_update(x, v, index, mode):
    out = np.array(x, copy=True)
    v = np.asarray(v).astype(out.dtype, copy=False)
    if mode == "set":
        out[index] = v
    else:
        np.add.at(out, index, v)
    return out


def _ga_index_winners(x, index):
    # 1 where an element of x[index] is the write that x.at[index].set keeps (the last
    # one to a position, as NumPy's assignment), 0 where a later one overwrites it
    pos = np.arange(np.size(x)).reshape(np.shape(x))[index]
    flat = pos.ravel()
    dt = np.result_type(x)
    mask = np.zeros(flat.shape, dt if dt.kind == "f" else np.float64)
    _, first = np.unique(flat[::-1], return_index=True)
    mask[flat.size - 1 - first] = 1
    return mask.reshape(pos.shape)
"""

_ns: dict[str, Any] = {"np": np}
exec(compile(SCATTER_SRC, "<graphad indexing helpers>", "exec"), _ns)  # the module's own source


def _impl_getitem(x: Any, index: tuple) -> Any:
    return np.asarray(x)[_as_numpy_index(index)]


def _impl_scatter(g: Any, x: Any, index: tuple) -> Any:
    fn = _ns["_ga_getitem_grad_at" if _is_advanced(index) else "_ga_getitem_grad"]
    return fn(g, x, _as_numpy_index(index))


def _scatter_source(a: list, p: dict) -> str:
    fn = "_ga_getitem_grad_at" if _is_advanced(p["index"]) else "_ga_getitem_grad"
    return f"{fn}({a[0]}, {a[1]}, {_np_index_source(p['index'])})"


def _scatter_duck_source(a: list, p: dict) -> str:
    if _is_advanced(p["index"]):
        return _scatter_source(a, p)
    return f"_ga_getitem_grad_duck({a[0]}, {a[1]}, {_np_index_source(p['index'])})"


_SL = ("slice", None, None, None)
_A = ("array", (4,), (0, 2, 2, -1))  # a repeated position: gradients accumulate
_M = ("mask", (3,), (1, 0, 1))

register(
    Op(
        name="getitem",
        view=True,
        impl=_impl_getitem,
        vjp=lambda g, ans, x, index: [apply("getitem_grad", g, x, index=index)],
        jvp=_linear_jvp("getitem"),
        shape=_getitem_shape,
        dtype="first",
        emit=lambda a, p: f"{a[0]}[{index_source(p['index'])}]",
        sympy=lambda sp, x, index: x,
        label="[]",
        lazy=lambda p: not _is_advanced(p["index"]),
        test_params=({"index": (("slice", 1, None, None),)},),
        parse=False,  # parsed text has no subscripts
        numpy="x[index]",
        cases=(
            ([(5,)], {"index": (("slice", 1, None, None),)}),
            ([(3, 4)], {"index": (("slice", None, None, None), 2)}),
            ([(3, 4)], {"index": (1, ("slice", None, None, -2))}),
            ([(2, 3, 4)], {"index": (("slice", None, None, -1), 0)}),
            ([(5,)], {"index": (_A,)}),
            ([(3, 4)], {"index": (_SL, _A)}),
            ([(3, 4)], {"index": (_M,)}),
            ([(3, 4)], {"index": (("array", (2, 1), (0, 2)), ("array", (3,), (1, 1, 3)))}),
            ([(2, 3, 4)], {"index": (("ellipsis",), ("newaxis",), 1)}),
            ([(3, 4)], {"index": (("mask", (3, 4), (1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1)),)}),
        ),
        doc=(
            "``x[index]``: ints, slices, ``None``, ``...``, integer arrays and boolean "
            "masks, as in NumPy; the gradient scatter-adds (repeated positions accumulate)."
        ),
    )
)
register(
    Op(
        name="getitem_grad",
        internal=True,
        impl=_impl_scatter,
        nargs=2,
        vjp=lambda h, ans, g, x, index: [apply("getitem", h, index=index), None],
        jvp=_linear_jvp("getitem_grad"),
        shape=lambda g, x, index: x,
        dtype="first",
        emit=_scatter_source,
        duck_emit=_scatter_duck_source,
        helper=SCATTER_SRC,
        label="scatter",
        cases=(
            ([(2, 4), (3, 4)], {"index": (("slice", 1, None, None),)}),
            ([(4,), (3, 4)], {"index": (-1,)}),
            ([(4,), (5,)], {"index": (_A,)}),
            ([(2, 4), (3, 4)], {"index": (_M,)}),
        ),
    )
)


def _update_vjp(g, ans, x, v, index, mode):
    picked = apply("getitem", g, index=index)
    if mode == "add":
        return [g, sum_to(picked, v)]
    gx = apply("index_update", g, 0.0, index=index, mode="set")
    kept = picked * apply("index_winners", g, index=index)
    return [gx, sum_to(kept, v)]


def _update_jvp(tangents, ans, x, v, index, mode):
    tx, tv = tangents
    if tx is None and tv is None:
        return None
    if tx is None:
        tx = apply("zeros_like", x)
    if tv is None:
        tv = 0.0
    return apply("index_update", tx, tv, index=index, mode=mode)


def _update_shape(x, v, index, mode):
    target = _getitem_shape(x, index)
    try:
        fits = np.broadcast_shapes(v, target) == tuple(target)
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"index_update: values of shape {v} do not broadcast to the indexed shape {target}"
        )
    return x


def _impl_update(x: Any, v: Any, index: tuple, mode: str) -> Any:
    return _ns["_ga_index_update"](x, v, _as_numpy_index(index), mode)


register(
    Op(
        name="index_update",
        impl=_impl_update,
        nargs=2,
        argnames=("x", "values"),
        vjp=_update_vjp,
        jvp=_update_jvp,
        shape=_update_shape,
        dtype="first",
        emit=lambda a, p: (
            f"_ga_index_update({a[0]}, {a[1]}, {_np_index_source(p['index'])}, {p['mode']!r})"
        ),
        helper=SCATTER_SRC,
        label="at[]",
        lazy=False,  # np.add.at and item assignment have no lazy Dask form
        test_params=({"index": (_A,), "mode": "add"}, {"index": (_SL, 1), "mode": "set"}),
        parse=False,
        cases=(
            ([(5,), ()], {"index": (_A,), "mode": "add"}),
            ([(5,), (4,)], {"index": (_A,), "mode": "add"}),
            ([(5,), (4,)], {"index": (_A,), "mode": "set"}),
            ([(3, 4), (4,)], {"index": (_M,), "mode": "set"}),
            ([(3, 4), (3, 1)], {"index": (_SL, ("slice", 1, 3, None)), "mode": "set"}),
            ([(3, 4), ()], {"index": (1, 2), "mode": "add"}),
        ),
        doc=(
            "The functional update ``x.at[index].set(values)`` (``mode='set'``) or "
            "``.add(values)`` (``mode='add'``, repeated positions accumulate): a new array, "
            "``x`` unchanged, of ``x``'s dtype."
        ),
    )
)


def _winners_dtype(dt: Any, **params: Any) -> Any:
    if dt is None:
        return None
    return np.dtype(dt) if np.dtype(dt).kind == "f" else np.dtype(np.float64)


def _impl_winners(x: Any, index: tuple) -> Any:
    return _ns["_ga_index_winners"](x, _as_numpy_index(index))


register(
    Op(
        name="index_winners",
        internal=True,
        impl=_impl_winners,
        vjp=lambda g, ans, x, index: [None],
        jvp=lambda ts, ans, x, index: None,
        differentiable=False,
        shape=_getitem_shape,
        dtype=_winners_dtype,
        emit=lambda a, p: f"_ga_index_winners({a[0]}, {_np_index_source(p['index'])})",
        helper=SCATTER_SRC,
        label="winners",
        parse=False,
        cases=(([(5,)], {"index": (_A,)}), ([(3, 4)], {"index": (_SL, _A)})),
    )
)


@export
def getitem(x, index):
    """``x[index]``: ints, slices, ``None``, ``...``, integer arrays, boolean masks
    (``Expr.__getitem__``).

    NumPy equivalent: ``x[index]``, basic and advanced indexing alike.  Differentiable
    in ``x``: the gradient scatter-adds into the indexed positions (repeated
    positions accumulate).

    Parameters
    ----------
    x : Expr or array_like
        The array indexed.
    index : int, slice, None, Ellipsis, array_like of int or bool, or a tuple of these
        As for NumPy arrays; integer and boolean arrays must be concrete values.

    Returns
    -------
    Expr
        The selected elements, in the graph of ``x``.

    Raises
    ------
    GraphadError
        If ``index`` holds something other than the kinds above (a string, a
        float, a zero slice step, two ellipses...).
    ShapeError
        If ``x``'s shape is known when the expression is built and ``index``
        does not fit it (too many indices, an index out of bounds).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x", shape=(4,))
    >>> x[1:].eval(x=np.arange(4.0))
    array([1., 2., 3.])
    >>> float(ga.grad(ga.sum(x[1:] * x[:-1]), x).eval(x=np.ones(4))[0])
    1.0
    >>> ga.grad(ga.sum(x[[0, 2, 2]]), x).eval(x=np.ones(4))
    array([1., 0., 2., 0.])
    """
    return apply("getitem", x, index=normalize_index(index))


@export
def index_update(x, values, index, mode="set"):
    """``x.at[index].set(values)`` (``mode="set"``) or ``.add(values)`` (``mode="add"``).

    A new array (``x`` is unchanged) of ``x``'s dtype; ``add`` accumulates at
    repeated positions (``np.add.at``), ``set`` keeps the last write, as NumPy's
    assignment.  Differentiable in ``x`` and ``values``.

    Parameters
    ----------
    x : Expr or array_like
        The array updated (it stays as it was: the result is a new array).
    values : Expr or array_like
        What is written or added; broadcast to the indexed shape.
    index : int, slice, None, Ellipsis, array_like of int or bool, or a tuple of these
        The positions, as in :func:`getitem`.
    mode : {"set", "add"}
        Write ``values`` (the last write wins at a repeated position) or add them
        (repeated positions accumulate).

    Returns
    -------
    Expr
        The updated array, of ``x``'s shape and dtype.

    Raises
    ------
    GraphadError
        If ``mode`` is neither ``"set"`` nor ``"add"``, or ``index`` holds
        something that is not an index.
    ShapeError
        If the shapes are known when the expression is built and ``index`` does
        not fit ``x`` or ``values`` do not broadcast to the indexed shape.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> x.at[[0, 0, 2]].add(1.0).eval(x=np.zeros(3))
    array([2., 0., 1.])
    """
    if mode not in ("set", "add"):
        raise GraphadError(f"index_update: mode must be 'set' or 'add', got {mode!r}")
    return apply("index_update", x, values, index=normalize_index(index), mode=mode)


class IndexUpdateRef:
    """``x.at[index]``: ``.set(v)``, ``.add(v)``, ``.get()``."""

    __slots__ = ("_x", "_index")

    def __init__(self, x: Any, index: Any) -> None:
        self._x = x
        self._index = normalize_index(index)

    def set(self, values: Any) -> Any:
        return apply("index_update", self._x, values, index=self._index, mode="set")

    def add(self, values: Any) -> Any:
        return apply("index_update", self._x, values, index=self._index, mode="add")

    def get(self) -> Any:
        return apply("getitem", self._x, index=self._index)


class IndexUpdateHelper:
    """``x.at``: index it (``x.at[1:]``) for a functional update, as in JAX."""

    __slots__ = ("_x",)

    def __init__(self, x: Any) -> None:
        self._x = x

    def __getitem__(self, index: Any) -> IndexUpdateRef:
        return IndexUpdateRef(self._x, index)
