"""NumPy's other names for layout operations, built from the ops of the table.

These are functions, not ops: ``flipud``, ``fliplr``, ``dsplit``, ``rollaxis``, ``take``,
``array``, ``select``, ``append``, ``gradient`` and ``linspace`` each build the ops their
docstrings name, which carry the gradients; ``export`` lists each under the op it is
made of.  Also here: the ndarray-style methods these ops give ``Expr``
(``x.flatten()``, ``x.var(ddof=1)``), installed once every op they call is declared.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import as_expr, export, graph_of
from .diagonals import diagonal, trace
from .elementwise import equal, where
from .layout import astype, flatten, flip, moveaxis, ravel, repeat, squeeze, swapaxes
from .linalg import concatenate, stack
from .split_join import _pieces
from .stats import static_int

__all__ = [
    "flipud",
    "fliplr",
    "dsplit",
    "rollaxis",
    "take",
    "array",
    "select",
    "append",
    "gradient",
    "linspace",
]


def _install_methods() -> None:
    """NumPy's ndarray methods of these ops, on Expr (``x.flatten()``, ``x.var(ddof=1)``)."""
    from . import stats

    def method(fn, name):
        def m(self, *args, **kwargs):
            return fn(self, *args, **kwargs)

        m.__name__ = name
        m.__doc__ = f"``ga.{name}(self, ...)``, as the NumPy method."
        return m

    table = {
        "flatten": flatten, "ravel": ravel, "squeeze": squeeze, "astype": astype,
        "swapaxes": swapaxes, "repeat": repeat, "diagonal": diagonal, "trace": trace,
        "var": stats.var, "std": stats.std, "cumsum": stats.cumsum, "cumprod": stats.cumprod,
    }  # fmt: skip
    for name, fn in table.items():
        setattr(Expr, name, method(fn, name))


_install_methods()


# -- NumPy's other names for layout operations, built from the ops above ------------------------
# (functions, not ops: each builds the ops its docstring names, which carry the gradients)


def _along(axis, sl):
    """The index selecting ``sl`` along ``axis`` (negative axes count from the end)."""
    if axis < 0:
        return (Ellipsis, sl) + (slice(None),) * (-axis - 1)
    return (slice(None),) * axis + (sl,)


def _need_rank(x, name, least):
    if x.shape is not None and len(x.shape) < least:
        raise ShapeError(f"{name}: x must have at least {least} dimensions, got shape {x.shape}")


def flipud(x):
    """Reverse the rows: ``np.flipud``, i.e. ``np.flip(x, 0)``.

    Parameters
    ----------
    x : Expr or array_like
        An array of at least 1 dimension.

    Returns
    -------
    Expr
        ``x`` with its first axis reversed.

    Raises
    ------
    ShapeError
        If ``x`` has fewer than 1 dimension (when its shape is known).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.flipud(x).eval(x=np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[3.0, 4.0], [1.0, 2.0]]
    """
    x = as_expr(x)
    _need_rank(x, "flipud", 1)
    return flip(x, 0)


def fliplr(x):
    """Reverse the columns: ``np.fliplr``, i.e. ``np.flip(x, 1)``.

    Parameters
    ----------
    x : Expr or array_like
        An array of at least 2 dimensions.

    Returns
    -------
    Expr
        ``x`` with its second axis reversed.

    Raises
    ------
    ShapeError
        If ``x`` has fewer than 2 dimensions (when its shape is known).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.fliplr(x).eval(x=np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[2.0, 1.0], [4.0, 3.0]]
    """
    x = as_expr(x)
    _need_rank(x, "fliplr", 2)
    return flip(x, 1)


def dsplit(x, indices_or_sections, *, index=None):
    """:func:`split` along axis 2 (``np.dsplit``).

    Parameters
    ----------
    x : Expr or array_like
        An array of at least 3 dimensions.
    indices_or_sections : int or sequence of int
        As for :func:`split`.
    index : int, optional
        Build only that piece.

    Returns
    -------
    list of Expr or Expr
        The pieces (or piece ``index``).

    Raises
    ------
    ShapeError
        If ``x`` has fewer than 3 dimensions, or axis 2 cannot be split as asked.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> [p.eval(x=np.arange(8.0).reshape(1, 2, 4)).shape for p in ga.dsplit(x, 2)]
    [(1, 2, 2), (1, 2, 2)]
    """
    x = as_expr(x)
    _need_rank(x, "dsplit", 3)
    return _pieces("dsplit", x, indices_or_sections, 2, True, index)


def rollaxis(x, axis, start=0):
    """Roll ``axis`` back to position ``start`` (``np.rollaxis``), as ``np.moveaxis``.

    Parameters
    ----------
    x : Expr or array_like
        The array (negative ``axis`` or ``start`` need a declared shape).
    axis : int
        The axis to move.
    start : int
        It ends before the axis now at ``start``.

    Returns
    -------
    Expr
        ``x`` with the axis moved.

    Raises
    ------
    GraphadError
        If ``axis`` or ``start`` is not a static integer, or is negative on an
        undeclared shape.
    ShapeError
        If ``axis`` or ``start`` is out of range for ``x``'s shape.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.rollaxis(x, 2).eval(x=np.zeros((2, 3, 4))).shape
    (4, 2, 3)
    """
    x = as_expr(x)
    axis = static_int(axis, "rollaxis: axis")
    start = static_int(start, "rollaxis: start")
    if axis < 0 or start < 0:
        if x.shape is None:
            raise GraphadError("rollaxis: negative axes need a declared shape")
        n = len(x.shape)
        axis, start = (axis + n if axis < 0 else axis), (start + n if start < 0 else start)
    if x.shape is not None and not (0 <= axis < len(x.shape) and 0 <= start <= len(x.shape)):
        raise ShapeError(f"rollaxis: axis {axis} / start {start} out of range for {x.shape}")
    if axis < start:
        start -= 1
    return x if axis == start else moveaxis(x, axis, start)


def take(a, indices, axis=None):
    """``np.take``: the entries at ``indices`` along ``axis`` (of the flattened array when
    ``axis`` is None); an index-array ``x[index]``, with a scatter-add gradient.

    Parameters
    ----------
    a : Expr or array_like
        The array.
    indices : int or sequence of int
        Static indices.
    axis : int, optional
        The axis to take along; ``None``: the flattened array.

    Returns
    -------
    Expr
        The selected entries.

    Raises
    ------
    GraphadError
        If ``indices`` are not integers, or ``axis`` is not a static integer.
    ShapeError
        If an index is out of range for a known shape.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.take(x, [2, 0], axis=1).eval(x=np.arange(6.0).reshape(2, 3)).tolist()
    [[2.0, 0.0], [5.0, 3.0]]
    """
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise GraphadError(f"take: indices must be integers, got {indices!r}")
    a = as_expr(a)
    if axis is None:
        return ravel(a)[idx]
    return a[_along(static_int(axis, "take: axis"), idx)]


def array(obj):
    """``np.array`` of (nested) lists of Exprs and numbers: one Expr, built by ``np.stack``.

    Parameters
    ----------
    obj : Expr, number, array or (nested) list / tuple of them
        The entries; the nesting gives the leading axes.

    Returns
    -------
    Expr
        The array.

    Raises
    ------
    GraphadError
        If a list is empty.
    ShapeError
        If the entries of a list do not have one shape.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.array([[x, 2 * x], [x + 1, 0.5]]).eval(x=3.0).tolist()
    [[3.0, 6.0], [4.0, 0.5]]
    """
    if isinstance(obj, list | tuple):
        if not obj:
            raise GraphadError("array: an empty list has no graphad form (use a constant)")
        return stack([array(o) for o in obj])
    return as_expr(obj)


def select(condlist, choicelist, default=0):
    """``np.select``: from each choice where its condition holds, the first one winning;
    ``default`` elsewhere.  Nested ``np.where``, so gradients flow to the chosen entries.

    Parameters
    ----------
    condlist : sequence of Expr or array_like
        Boolean conditions.
    choicelist : sequence of Expr or array_like
        One choice per condition.
    default : number or Expr
        The value where no condition holds.

    Returns
    -------
    Expr
        The selection.

    Raises
    ------
    GraphadError
        If the two lists differ in length or are empty.
    ShapeError
        If conditions, choices and ``default`` do not broadcast.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.select([x < 0, x > 1], [-x, 2 * x], 0.5).eval(x=np.array([-1.0, 0.5, 3.0])).tolist()
    [1.0, 0.5, 6.0]
    """
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist) or not condlist:
        raise GraphadError(
            f"select: {len(condlist)} condition(s) and {len(choicelist)} choice(s); give one "
            f"choice per condition (at least one)"
        )
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        out = where(cond, choice, out)
    return out


def append(arr, values, axis=None):
    """``np.append``: ``values`` after ``arr`` (both flattened when ``axis`` is None),
    by ``np.concatenate``.

    Parameters
    ----------
    arr : Expr, array_like or list
        The array.
    values : Expr, array_like or list
        What to append.
    axis : int, optional
        The axis to join along; ``None``: flatten both first.

    Returns
    -------
    Expr
        The joined array.

    Raises
    ------
    GraphadError
        If ``axis`` is not a static integer, or a list is empty.
    ShapeError
        If ``arr`` and ``values`` cannot be joined along ``axis``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.append(x, 4.0).eval(x=np.array([1.0, 2.0])).tolist()
    [1.0, 2.0, 4.0]
    """
    a, v = array(arr), array(values)
    if axis is None:
        return concatenate([ravel(a), ravel(v)])
    return concatenate([a, v], axis=static_int(axis, "append: axis"))


def gradient(f, axis=None):
    """``np.gradient`` with unit spacing: central differences ``(f[2:] - f[:-2]) / 2``
    inside, one-sided differences at the ends (``np.subtract`` of neighbours).

    Parameters
    ----------
    f : Expr or array_like
        The samples; each axis used needs at least 2 of them.  ``axis=None`` needs a
        declared shape (one result per axis).
    axis : int or tuple of int, optional
        The axis or axes to differentiate along; ``None``: all.

    Returns
    -------
    Expr or tuple of Expr
        One array per axis (a single array for one axis, as NumPy).

    Raises
    ------
    GraphadError
        If ``axis`` is None on an undeclared shape, or is not a static integer.
    ShapeError
        If an axis is out of range or has fewer than 2 samples.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x")
    >>> ga.gradient(x, axis=0).eval(x=np.array([1.0, 2.0, 4.0, 7.0])).tolist()
    [1.0, 1.5, 2.5, 3.0]
    """
    f = as_expr(f)
    if axis is None:
        if f.shape is None:
            raise GraphadError("gradient: axis=None needs a declared shape (or give the axis)")
        axes = tuple(range(len(f.shape)))
    elif isinstance(axis, list | tuple):
        axes = tuple(static_int(a, "gradient: axis") for a in axis)
    else:
        axes = (static_int(axis, "gradient: axis"),)
    outs = []
    for k in axes:
        if f.shape is not None:
            if not -len(f.shape) <= k < len(f.shape):
                raise ShapeError(f"gradient: axis {k} is out of range for shape {f.shape}")
            if f.shape[k] < 2:
                raise ShapeError(f"gradient: axis {k} needs at least 2 samples, got {f.shape}")
        first = f[_along(k, slice(1, 2))] - f[_along(k, slice(0, 1))]
        inner = (f[_along(k, slice(2, None))] - f[_along(k, slice(None, -2))]) / 2.0
        last = f[_along(k, slice(-1, None))] - f[_along(k, slice(-2, -1))]
        outs.append(concatenate([first, inner, last], axis=k))
    return outs[0] if len(outs) == 1 else tuple(outs)


def linspace(start, stop, num=50):
    """``np.linspace(start, stop, num)`` of scalar ``start`` and ``stop`` (Exprs or numbers),
    computed as NumPy does (``arange(num) * step + start``, the last sample ``stop``
    itself, joined by ``np.concatenate``), so the samples are NumPy's bits and both ends
    are differentiated.

    Parameters
    ----------
    start, stop : Expr or float
        The first and last samples (scalars).
    num : int
        The number of samples (static, >= 0).

    Returns
    -------
    Expr
        ``num`` evenly spaced samples.

    Raises
    ------
    GraphadError
        If ``num`` is not a static integer >= 0, or ``start``/``stop`` is not
        a scalar.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> a, b = ga.symbols("a b")
    >>> ga.linspace(a, b, 5).eval(a=1.0, b=3.0).tolist()
    [1.0, 1.5, 2.0, 2.5, 3.0]
    """
    num = static_int(num, "linspace: num")
    if num < 0:
        raise GraphadError(f"linspace: num must be >= 0, got {num}")
    g = graph_of(start, stop)
    start, stop = as_expr(start, g), as_expr(stop, g)
    for name, e in (("start", start), ("stop", stop)):
        if e.shape not in (None, ()):
            raise GraphadError(f"linspace: {name} must be a scalar, got shape {e.shape}")
    ramp = as_expr(np.arange(num, dtype=np.float64), g)
    delta = stop - start
    div = num - 1
    if div > 0:
        step = delta / div
        # NumPy: a zero step (start == stop, or an underflow) scales the ramp after the
        # division instead
        y = where(equal(step, 0), (ramp / div) * delta, ramp * step) + start
        return concatenate([y[:-1], stack([stop])])
    return ramp * delta + start


export(flipud, "flip")
export(fliplr, "flip")
export(dsplit, "split")
export(rollaxis, "moveaxis")
export(take, "getitem")
export(array, "stack")
export(select, "where")
export(append, "concatenate")
export(gradient, "subtract")
export(linspace, "concatenate")
