"""Basic indexing: ``x[1:]``, ``x[:-1]``, ``x[2]``, ``m[:, 0]`` (ints and slices).

``getitem`` is a NumPy view; its VJP is ``getitem_grad``, which scatters the
cotangent into zeros of the input's shape (and whose own VJP is ``getitem``
again, so second derivatives work).  The index is a static parameter: a tuple
whose entries are ints or ``("slice", start, stop, step)``.  Advanced
indexing (arrays, booleans), ``None`` and ``...`` are not supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import GraphadError, ShapeError
from .core import Op, apply, export, register
from .rules import _linear_jvp

__all__ = ["getitem", "normalize_index", "index_source"]


def normalize_index(index: Any) -> tuple:
    """A user index as the static parameter (hashable, writable as source)."""
    items = index if isinstance(index, tuple) else (index,)
    out: list[Any] = []
    for it in items:
        if isinstance(it, tuple) and len(it) == 4 and it[0] == "slice":  # already normalized
            it = slice(*it[1:])
        if isinstance(it, slice):
            parts = []
            for p in (it.start, it.stop, it.step):
                if p is not None and not isinstance(p, int | np.integer):
                    raise GraphadError(f"slice bounds must be ints or None, got {p!r}")
                parts.append(None if p is None else int(p))
            if parts[2] == 0:
                raise GraphadError("slice step cannot be zero")
            out.append(("slice", *parts))
        elif isinstance(it, int | np.integer) and not isinstance(it, bool):
            out.append(int(it))
        else:
            raise GraphadError(
                f"graphad supports indexing with ints and slices only, got {type(it).__name__}; "
                f"use reshape/transpose/concatenate for other selections"
            )
    return tuple(out)


def _as_numpy_index(index: tuple) -> tuple:
    return tuple(slice(*it[1:]) if isinstance(it, tuple) else it for it in index)


def index_source(index: tuple) -> str:
    """The index as Python subscript source, e.g. ``1:`` or ``:, 0``."""
    parts = []
    for it in index:
        if isinstance(it, tuple):
            start, stop, step = ("" if p is None else repr(p) for p in it[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        else:
            parts.append(repr(it))
    return ", ".join(parts)


def _getitem_shape(s: tuple, index: tuple) -> tuple:
    if len(index) > len(s):
        raise ShapeError(f"getitem: {len(index)} indices for an array of shape {s}")
    for it, n in zip(index, s, strict=False):
        if not isinstance(it, tuple) and not -n <= it < n:
            raise ShapeError(f"getitem: index {it} is out of bounds for an axis of size {n}")
    # a zero-byte view of the shape tells NumPy's own answer
    view = np.broadcast_to(np.empty((), np.int8), s)
    return view[_as_numpy_index(index)].shape


SCATTER_SRC = """
def _ga_getitem_grad(g, x, index):
    out = np.zeros(np.shape(x), np.result_type(g))
    out[index] = g
    return out


def _ga_getitem_grad_duck(g, x, index):
    # for Dask arrays: zeros of x's kind, and slices only (Dask assigns lazily into
    # slices; an int becomes a length-1 slice of an expanded g)
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
"""


def _impl_getitem(x: Any, index: tuple) -> Any:
    return np.asarray(x)[_as_numpy_index(index)]


def _impl_scatter(g: Any, x: Any, index: tuple) -> Any:
    out = np.zeros(np.shape(x), np.result_type(g))
    out[_as_numpy_index(index)] = g
    return out


def _np_index_source(index: tuple) -> str:
    parts = [
        f"slice({it[1]!r}, {it[2]!r}, {it[3]!r})" if isinstance(it, tuple) else repr(it)
        for it in index
    ]
    return "(" + ", ".join(parts) + ",)"


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
        test_params=({"index": (("slice", 1, None, None),)},),
        parse=False,  # parsed text has no subscripts
        numpy="x[index]",
        cases=(
            ([(5,)], {"index": (("slice", 1, None, None),)}),
            ([(3, 4)], {"index": (("slice", None, None, None), 2)}),
            ([(3, 4)], {"index": (1, ("slice", None, None, -2))}),
            ([(2, 3, 4)], {"index": (("slice", None, None, -1), 0)}),
        ),
        doc="Basic indexing with ints and slices (a view, as in NumPy).",
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
        emit=lambda a, p: f"_ga_getitem_grad({a[0]}, {a[1]}, {_np_index_source(p['index'])})",
        duck_emit=lambda a, p: (
            f"_ga_getitem_grad_duck({a[0]}, {a[1]}, {_np_index_source(p['index'])})"
        ),
        helper=SCATTER_SRC,
        label="scatter",
        cases=(
            ([(2, 4), (3, 4)], {"index": (("slice", 1, None, None),)}),
            ([(4,), (3, 4)], {"index": (-1,)}),
        ),
    )
)


@export
def getitem(x, index):
    """``x[index]`` for ints and slices (``Expr.__getitem__``).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x", shape=(4,))
    >>> x[1:].eval(x=np.arange(4.0))
    array([1., 2., 3.])
    >>> float(ga.grad(ga.sum(x[1:] * x[:-1]), x).eval(x=np.ones(4))[0])
    1.0
    """
    return apply("getitem", x, index=normalize_index(index))
