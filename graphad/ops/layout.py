"""Shape and layout ops: squeeze, expand_dims, ravel/flatten, astype, flip, roll, rot90,
repeat, tile, split (array_split, hsplit, vsplit), moveaxis, swapaxes, vstack, hstack,
column_stack, atleast_1d/2d/3d, pad, diag, diagonal, trace, tril, triu.

Each is one primitive of the op table computed by NumPy's own function.  All are
linear, so their JVP is the op applied to the tangent; their VJPs are the adjoint
layout ops (``flip`` is its own, ``roll`` by ``-shift``, ``moveaxis`` back ...) or,
where the adjoint needs the input's shape (``repeat``, ``tile``, ``pad``,
``diagonal``, a ``split`` piece), an internal op whose own VJP is the forward op
again, so higher derivatives stay graph ops.  The reshape-like ops (``squeeze``,
``expand_dims``, ``ravel``, ``atleast_*``) and ``split`` pieces lower to ``reshape`` /
``getitem`` once the input's shape is static.

Past 600 lines because it is a table: one declaration per op, each with its rules and
facets in one place, as the op table is meant to be read.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, as_expr, export, graph_of, register
from .elementwise import equal, where
from .linalg import _concat_shape, concatenate, stack
from .reduce import _accumulated_dtype
from .rules import _exec_helper, _linear_jvp, broadcast_like, ones_like, reshape_like, zeros_like
from .stats import static_axis, static_int

__all__ = [
    "squeeze", "expand_dims", "ravel", "flatten", "astype", "flip", "roll", "rot90", "repeat",
    "tile", "split", "array_split", "hsplit", "vsplit", "moveaxis", "swapaxes", "vstack",
    "hstack", "column_stack", "atleast_1d", "atleast_2d", "atleast_3d", "pad", "diag",
    "diagonal", "trace", "tril", "triu",
]  # fmt: skip


def _probe(s):
    """A zero-byte array of shape ``s``: NumPy's view functions applied to it tell
    their result's shape (and raise NumPy's errors) without allocating."""
    return np.broadcast_to(np.empty((), np.int8), s)


def _view_shape(fn):
    return lambda s, **p: fn(_probe(s), **p).shape


def _shape_error(name, exc):
    return ShapeError(f"{name}: {exc}")


def _reshape_lower(name):
    """Lower a reshape-like op to ``reshape`` once the input's shape is static."""

    def lower(x, **params):
        try:
            target = OP_SHAPES[name](x.shape, **params)
        except (ValueError, IndexError, TypeError) as exc:
            raise _shape_error(name, exc) from None
        return x if target == x.shape else apply("reshape", x, shape=target)

    return lower


OP_SHAPES: dict = {}


def _declare(name, impl, vjp, shape, emit, cases, *, lower=False, **kw):
    OP_SHAPES[name] = shape
    kw.setdefault("jvp", _linear_jvp(name))
    kw.setdefault("dtype", "first")
    kw.setdefault("numpy", f"np.{name}")
    kw.setdefault("test_params", (dict(cases[0][1]),))
    return register(
        Op(
            name=name,
            impl=impl,
            vjp=vjp,
            shape=shape,
            emit=emit,
            cases=cases,
            lower=_reshape_lower(name) if lower else None,
            **kw,
        )
    )


def _back(g, x):
    return [reshape_like(g, x)]


# -- reshape-like ------------------------------------------------------------------------------

_declare(
    "squeeze",
    np.squeeze,
    lambda g, ans, x, axis: _back(g, x),
    _view_shape(np.squeeze),
    "np.squeeze({0}, axis={axis})",
    (([(3, 1)], {"axis": None}), ([(1, 3, 1)], {"axis": 0}), ([(2, 1, 4)], {"axis": (1,)})),
    lower=True,
    view=True,
    doc="Remove axes of length one (``np.squeeze``); all of them when ``axis`` is None.",
)
_declare(
    "expand_dims",
    np.expand_dims,
    lambda g, ans, x, axis: _back(g, x),
    _view_shape(np.expand_dims),
    "np.expand_dims({0}, axis={axis})",
    (([(3,)], {"axis": 0}), ([(2, 3)], {"axis": -1}), ([(2, 3)], {"axis": (0, 2)})),
    lower=True,
    view=True,
    doc="Insert axes of length one at ``axis`` (``np.expand_dims``).",
)
_declare(
    "ravel",
    np.ravel,
    lambda g, ans, x: _back(g, x),
    lambda s: (math.prod(s),),
    "np.ravel({0})",
    (([(2, 3, 4)], {}), ([()], {})),
    lower=True,
    view=True,
    doc="The elements as a 1-D array in C order (``np.ravel``; ``flatten`` too).",
)


def _atleast_shape(nd):
    def shape(s):
        if len(s) >= nd:
            return tuple(s)
        if nd == 1:
            return (1,)
        if nd == 2:
            return (1, *s) if s else (1, 1)
        return {0: (1, 1, 1), 1: (1, *s, 1), 2: (*s, 1)}[len(s)]

    return shape


for _nd in (1, 2, 3):
    _declare(
        f"atleast_{_nd}d",
        getattr(np, f"atleast_{_nd}d"),
        lambda g, ans, x: _back(g, x),
        _atleast_shape(_nd),
        f"np.atleast_{_nd}d({{0}})",
        (([()], {}), ([(3,)], {}), ([(2, 3)], {}), ([(2, 3, 2)], {})),
        lower=True,
        view=True,
        doc=f"``x`` viewed with at least {_nd} dimension(s) (``np.atleast_{_nd}d``).",
    )


@export
def squeeze(x, axis=None):
    """Remove axes of length one (``np.squeeze``)."""
    return apply("squeeze", x, axis=static_axis(axis, "squeeze: axis"))


@export
def expand_dims(x, axis):
    """Insert axes of length one at ``axis`` (``np.expand_dims``)."""
    return apply("expand_dims", x, axis=static_axis(axis, "expand_dims: axis", allow_none=False))


@export
def ravel(x):
    """The elements as a 1-D array, in C order (``np.ravel``)."""
    return apply("ravel", x)


def flatten(x):
    """The elements as a 1-D array, in C order (``ndarray.flatten``; same as ``ravel``)."""
    return apply("ravel", x)


export(flatten, "ravel", "flatten")


def _atleast(nd):
    name = f"atleast_{nd}d"

    def fn(*arys):
        if not arys:
            raise GraphadError(f"{name} needs at least one array")
        out = [apply(name, a) for a in arys]
        return out[0] if len(out) == 1 else out

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"Each argument viewed with at least {nd} dimension(s) (``np.{name}``): "
        "one Expr for one argument, a list for several.\n\n"
        "Raises\n------\nGraphadError\n    If no array is given."
    )
    return export(fn, name)


atleast_1d, atleast_2d, atleast_3d = _atleast(1), _atleast(2), _atleast(3)


# -- astype ------------------------------------------------------------------------------------

ASTYPE_TO_SRC = """
def _ga_astype_to(x, dtype):
    if not hasattr(x, "__array_function__"):  # Dask arrays stay lazy
        x = np.asarray(x)
    return x.astype(dtype)
"""


def _astype_vjp(g, ans, x, dtype):
    if np.dtype(dtype).kind != "f":
        return [None]  # a cast to integers or booleans is piecewise constant
    return [apply("astype_like", g, x)]


_declare(
    "astype",
    _exec_helper(ASTYPE_TO_SRC, "_ga_astype_to"),
    _astype_vjp,
    lambda s, dtype: tuple(s),
    "_ga_astype_to({0}, {dtype})",
    (([(2, 3)], {"dtype": "float64"}), ([()], {"dtype": "float64"})),
    dtype=lambda dt, dtype: np.dtype(dtype),
    helper=ASTYPE_TO_SRC,
    numpy="np.asarray",  # np.astype takes dtype by position only; the sweep passes keywords
    parse=False,  # parsed text has no strings for the dtype
    label="astype",
    doc="``x`` converted to ``dtype`` (``np.astype``).  Casts to a float type pass the "
    "gradient back (cast to the input's dtype); casts to integers or booleans have none.",
)


@export
def astype(x, dtype):
    """``x`` converted to ``dtype`` (a bool, integer or float NumPy dtype).
    Raises
    ------
    GraphadError
        If ``dtype`` is not a NumPy dtype, or not a bool, integer or float one.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise GraphadError(f"astype: {dtype!r} is not a NumPy dtype") from None
    if dt.kind not in "biuf":
        raise GraphadError(
            f"astype: dtype {dt} is not supported (bool, integer and float dtypes only; "
            "complex numbers are out of scope)"
        )
    return apply("astype", x, dtype=dt.name)


# -- flip, roll, rot90, moveaxis, swapaxes -----------------------------------------------------

_declare(
    "flip",
    np.flip,
    lambda g, ans, x, axis: [apply("flip", g, axis=axis)],
    _view_shape(np.flip),
    "np.flip({0}, axis={axis})",
    (([(5,)], {"axis": None}), ([(2, 3, 4)], {"axis": 1}), ([(2, 3, 4)], {"axis": (0, 2)})),
    view=True,
    doc="Reverse the order of elements along ``axis`` (all axes when None) (``np.flip``).",
)


def _neg_shift(shift):
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


def _roll_shape(s, shift, axis=None):
    if axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        for a in axes:
            if not -len(s) <= a < len(s):
                raise ValueError(f"axis {a} is out of bounds for an array of shape {s}")
        if isinstance(shift, tuple) and len(shift) != len(axes) and len(shift) != 1:
            raise ValueError(f"shift {shift} and axis {axis} differ in length")
    return tuple(s)


_declare(
    "roll",
    np.roll,
    lambda g, ans, x, shift, axis: [apply("roll", g, shift=_neg_shift(shift), axis=axis)],
    _roll_shape,
    "np.roll({0}, {shift}, axis={axis})",
    (
        ([(5,)], {"shift": 2, "axis": None}),
        ([(3, 4)], {"shift": -1, "axis": 1}),
        ([(2, 3, 4)], {"shift": (1, 2), "axis": (0, 2)}),
        ([(3, 4)], {"shift": 5, "axis": None}),
    ),
    doc="Roll elements along ``axis`` by ``shift`` (of the flattened array when None).",
)
_declare(
    "rot90",
    np.rot90,
    lambda g, ans, x, k, axes: [apply("rot90", g, k=-k, axes=axes)],
    _view_shape(np.rot90),
    "np.rot90({0}, k={k}, axes={axes})",
    (
        ([(2, 3)], {"k": 1, "axes": (0, 1)}),
        ([(2, 3, 4)], {"k": 3, "axes": (2, 0)}),
        ([(2, 3)], {"k": 2, "axes": (1, 0)}),
    ),
    view=True,
    doc="Rotate by 90 degrees ``k`` times in the plane of ``axes`` (``np.rot90``).",
)
_declare(
    "moveaxis",
    np.moveaxis,
    lambda g, ans, x, source, destination: [
        apply("moveaxis", g, source=destination, destination=source)
    ],
    _view_shape(np.moveaxis),
    "np.moveaxis({0}, {source}, {destination})",
    (
        ([(2, 3, 4)], {"source": 0, "destination": -1}),
        ([(2, 3, 4)], {"source": (0, 1), "destination": (2, 0)}),
    ),
    view=True,
    doc="Move axes to new positions, the others keeping their order (``np.moveaxis``).",
)
_declare(
    "swapaxes",
    np.swapaxes,
    lambda g, ans, x, axis1, axis2: [apply("swapaxes", g, axis1=axis1, axis2=axis2)],
    _view_shape(np.swapaxes),
    "np.swapaxes({0}, {axis1}, {axis2})",
    (([(2, 3, 4)], {"axis1": 0, "axis2": 2}), ([(3, 2)], {"axis1": -1, "axis2": 0})),
    view=True,
    doc="Interchange two axes (``np.swapaxes``).",
)


@export
def flip(x, axis=None):
    """Reverse the order of elements along ``axis`` (``np.flip``)."""
    return apply("flip", x, axis=static_axis(axis, "flip: axis"))


@export
def roll(x, shift, axis=None):
    """Roll elements along ``axis`` by ``shift`` (``np.roll``)."""
    shift = static_axis(shift, "roll: shift", allow_none=False)
    return apply("roll", x, shift=shift, axis=static_axis(axis, "roll: axis"))


@export
def rot90(x, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times from the first axis towards the second.
    Raises
    ------
    GraphadError
        If ``axes`` is not a pair of int axes, or ``k`` is not an int.
    """
    axes = static_axis(axes, "rot90: axes", allow_none=False)
    if not isinstance(axes, tuple) or len(axes) != 2:
        raise GraphadError(f"rot90: axes must be a pair of axes, got {axes!r}")
    return apply("rot90", x, k=static_int(k, "rot90: k") % 4, axes=axes)


@export
def moveaxis(x, source, destination):
    """Move axes ``source`` to positions ``destination`` (``np.moveaxis``)."""
    return apply(
        "moveaxis",
        x,
        source=static_axis(source, "moveaxis: source", allow_none=False),
        destination=static_axis(destination, "moveaxis: destination", allow_none=False),
    )


@export
def swapaxes(x, axis1, axis2):
    """Interchange ``axis1`` and ``axis2`` (``np.swapaxes``)."""
    return apply(
        "swapaxes",
        x,
        axis1=static_int(axis1, "swapaxes: axis1"),
        axis2=static_int(axis2, "swapaxes: axis2"),
    )


# -- repeat, tile ------------------------------------------------------------------------------

UNREPEAT_SRC = """
def _ga_unrepeat(g, x, repeats, axis):
    # the adjoint of np.repeat: sum each group of repeated copies
    shape = np.shape(x)
    if repeats == 0:
        return np.zeros(shape, np.result_type(g))
    if axis is None:
        return np.reshape(np.sum(np.reshape(g, (-1, repeats)), axis=1), shape)
    a = axis % len(shape)
    return np.sum(np.reshape(g, shape[:a] + (shape[a], repeats) + shape[a + 1:]), axis=a + 1)
"""
UNTILE_SRC = """
def _ga_untile(g, x, reps):
    # the adjoint of np.tile: each axis of the tiling is (copy, element); sum the copies
    shape = tuple(np.shape(x))
    d = max(len(shape), len(reps))
    s = (1,) * (d - len(shape)) + shape
    r = (1,) * (d - len(reps)) + tuple(reps)
    inter = tuple(n for pair in zip(r, s) for n in pair)
    out = np.sum(np.reshape(g, inter), axis=tuple(range(0, 2 * d, 2)))
    return np.reshape(out, shape)
"""


def _repeat_shape(s, repeats, axis=None):
    if axis is None:
        return (math.prod(s) * repeats,)
    if not -len(s) <= axis < len(s):
        raise ValueError(f"axis {axis} is out of bounds for an array of shape {s}")
    out = list(s)
    out[axis] *= repeats
    return tuple(out)


def _tile_shape(s, reps):
    d = max(len(s), len(reps))
    s = (1,) * (d - len(s)) + tuple(s)
    r = (1,) * (d - len(reps)) + tuple(reps)
    return tuple(a * b for a, b in zip(s, r, strict=True))


_declare(
    "repeat",
    np.repeat,
    lambda g, ans, x, repeats, axis: [apply("unrepeat", g, x, repeats=repeats, axis=axis)],
    _repeat_shape,
    "np.repeat({0}, {repeats}, axis={axis})",
    (
        ([(3,)], {"repeats": 2, "axis": None}),
        ([(2, 3)], {"repeats": 3, "axis": 1}),
        ([(2, 3)], {"repeats": 2, "axis": None}),
        ([()], {"repeats": 3, "axis": None}),
    ),
    # Dask repeats along one given axis only: axis=None is a repeat of the flattened array
    duck_emit=lambda a, p: (
        f"np.repeat(np.reshape({a[0]}, (-1,)), {p['repeats']!r}, axis=0)"
        if p["axis"] is None
        else f"np.repeat({a[0]}, {p['repeats']!r}, axis={p['axis']!r})"
    ),
    doc="Repeat each element ``repeats`` times along ``axis`` (``np.repeat``; an int repeats).",
)
register(
    Op(
        name="unrepeat",
        internal=True,
        nargs=2,
        impl=_exec_helper(UNREPEAT_SRC, "_ga_unrepeat"),
        vjp=lambda h, ans, g, x, repeats, axis: [
            apply("repeat", h, repeats=repeats, axis=axis),
            None,
        ],
        jvp=_linear_jvp("unrepeat"),
        shape=lambda g, x, repeats, axis: tuple(x),
        dtype="first",
        emit="_ga_unrepeat({0}, {1}, {repeats}, {axis})",
        helper=UNREPEAT_SRC,
        label="sum repeats",
        cases=(
            ([(6,), (3,)], {"repeats": 2, "axis": None}),
            ([(2, 6), (2, 3)], {"repeats": 2, "axis": 1}),
        ),
    )
)
_declare(
    "tile",
    np.tile,
    lambda g, ans, x, reps: [apply("untile", g, x, reps=reps)],
    _tile_shape,
    "np.tile({0}, {reps})",
    (
        ([(3,)], {"reps": (2,)}),
        ([(2, 3)], {"reps": (2, 1)}),
        ([(3,)], {"reps": (2, 2)}),
        ([(2, 1, 2)], {"reps": (3,)}),
    ),
    doc="Repeat the whole array ``reps`` times along each axis (``np.tile``).",
)
register(
    Op(
        name="untile",
        internal=True,
        nargs=2,
        impl=_exec_helper(UNTILE_SRC, "_ga_untile"),
        vjp=lambda h, ans, g, x, reps: [apply("tile", h, reps=reps), None],
        jvp=_linear_jvp("untile"),
        shape=lambda g, x, reps: tuple(x),
        dtype="first",
        emit="_ga_untile({0}, {1}, {reps})",
        helper=UNTILE_SRC,
        label="sum tiles",
        cases=(([(2, 6), (3,)], {"reps": (2, 2)}), ([(4, 3), (2, 3)], {"reps": (2, 1)})),
    )
)


@export
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int) along ``axis`` (``np.repeat``).
    Raises
    ------
    GraphadError
        If ``repeats`` is not an int >= 0 (per-element counts are not supported), or
        ``axis`` is neither an int nor None.
    """
    r = static_int(repeats, "repeat: repeats (per-element repeat counts are not supported)")
    if r < 0:
        raise GraphadError(f"repeat: repeats must be >= 0, got {r}")
    return apply("repeat", x, repeats=r, axis=static_axis(axis, "repeat: axis", allow_tuple=False))


@export
def tile(x, reps):
    """Repeat ``x`` ``reps`` times along each axis (``np.tile``).
    Raises
    ------
    GraphadError
        If ``reps`` is not an int or a tuple of ints >= 0.
    """
    reps = static_axis(reps, "tile: reps", allow_none=False)
    reps = reps if isinstance(reps, tuple) else (reps,)
    if any(r < 0 for r in reps):
        raise GraphadError(f"tile: reps must be >= 0, got {reps}")
    return apply("tile", x, reps=reps)


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


# -- pad ------------------------------------------------------------------------------------------

UNPAD_SRC = """
def _ga_unpad(g, pad_width):
    w = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (np.ndim(g), 2))
    return g[tuple(slice(int(b), np.shape(g)[i] - int(a)) for i, (b, a) in enumerate(w))]
"""


def _pad_pairs(nd, pad_width):
    return np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2))


def _pad_shape(s, pad_width, constant_values=0):
    w = _pad_pairs(len(s), pad_width)
    return tuple(int(n + b + a) for n, (b, a) in zip(s, w, strict=True))


_declare(
    "pad",
    np.pad,
    lambda g, ans, x, pad_width, constant_values: [apply("unpad", g, pad_width=pad_width)],
    _pad_shape,
    "np.pad({0}, {pad_width}, constant_values={constant_values})",
    (
        ([(3,)], {"pad_width": (1, 2), "constant_values": 0}),
        ([(2, 3)], {"pad_width": ((0, 1), (2, 0)), "constant_values": 1.5}),
        ([(2, 3)], {"pad_width": 1, "constant_values": 0}),
    ),
    jvp=lambda ts, ans, x, pad_width, constant_values: (
        None if ts[0] is None else apply("pad", ts[0], pad_width=pad_width, constant_values=0)
    ),
    doc="Pad with a constant (``np.pad`` in ``mode='constant'``).  The padding is not "
    "differentiated (``constant_values`` is a static number).",
)
register(
    Op(
        name="unpad",
        internal=True,
        impl=_exec_helper(UNPAD_SRC, "_ga_unpad"),
        vjp=lambda h, ans, g, pad_width: [apply("pad", h, pad_width=pad_width, constant_values=0)],
        jvp=_linear_jvp("unpad"),
        shape=lambda s, pad_width: tuple(
            int(n - b - a) for n, (b, a) in zip(s, _pad_pairs(len(s), pad_width), strict=True)
        ),
        dtype="first",
        emit="_ga_unpad({0}, {pad_width})",
        helper=UNPAD_SRC,
        label="crop",
        cases=(([(6,)], {"pad_width": (1, 2)}), ([(3, 5)], {"pad_width": ((0, 1), (2, 0))})),
    )
)


def _norm_pad_width(pad_width):
    if isinstance(pad_width, list | tuple):
        out = tuple(
            tuple(static_int(w, "pad: pad_width") for w in p)
            if isinstance(p, list | tuple)
            else static_int(p, "pad: pad_width")
            for p in pad_width
        )
        flat = [w for p in out for w in (p if isinstance(p, tuple) else (p,))]
    else:
        out = static_int(pad_width, "pad: pad_width")
        flat = [out]
    if any(w < 0 for w in flat):
        raise GraphadError(f"pad: pad_width must be >= 0, got {pad_width!r}")
    try:
        arr = np.asarray(out, dtype=np.int64)
    except ValueError:
        raise GraphadError(f"pad: pad_width {pad_width!r} is not an int, a pair or pairs") from None
    if arr.ndim > 2 or (arr.ndim >= 1 and arr.shape[-1] not in (1, 2)):
        raise GraphadError(f"pad: pad_width {pad_width!r} is not an int, a pair or pairs")
    return out


# -- pad's other modes: every padded entry is a copy of an entry of x (edge, reflect,
# symmetric, wrap), per axis independently, so the value is a gather and the gradient
# adds each padded entry's cotangent back onto the entry it copies

PAD_MODES = ("edge", "reflect", "symmetric", "wrap")

PAD_MODE_SRC = """
def _ga_pad_mode_grad(g, pad_width, mode):
    # the adjoint of np.pad(x, pad_width, mode): per axis, the cotangent of every padded
    # position is added to the source position (np.pad of an arange is that map)
    g = np.asarray(g)
    w = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (g.ndim, 2))
    out = g
    for k, (b, a) in enumerate(w):
        n = out.shape[k] - int(b) - int(a)
        idx = np.pad(np.arange(n), (int(b), int(a)), mode=mode)
        moved = np.moveaxis(out, k, 0)
        acc = np.zeros((n,) + moved.shape[1:], dtype=out.dtype)
        np.add.at(acc, idx, moved)
        out = np.moveaxis(acc, 0, k)
    return out
"""


def _pad_mode_shape(s, pad_width, mode):
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        w = _pad_pairs(len(s), pad_width)
        for n, (b, a) in zip(s, w, strict=True):
            if n == 0 and (b or a):
                raise ShapeError(f"pad: mode {mode!r} cannot pad an empty axis")
    return _pad_shape(s, pad_width)


register(
    Op(
        name="pad_mode",
        impl=lambda x, pad_width, mode: np.pad(x, pad_width, mode=mode),
        vjp=lambda g, ans, x, pad_width, mode: [
            apply("pad_mode_grad", g, pad_width=pad_width, mode=mode)
        ],
        jvp=_linear_jvp("pad_mode"),
        shape=_pad_mode_shape,
        dtype="first",
        emit="np.pad({0}, {pad_width}, mode={mode})",
        label="pad",
        numpy="np.pad",
        argnames=("array",),
        parse=False,
        internal=True,
        cases=(
            ([(4,)], {"pad_width": (2, 3), "mode": "edge"}),
            ([(3, 4)], {"pad_width": ((1, 2), (2, 1)), "mode": "reflect"}),
            ([(3, 4)], {"pad_width": ((2, 0), (1, 3)), "mode": "symmetric"}),
            ([(2, 3)], {"pad_width": ((3, 1), (4, 2)), "mode": "wrap"}),
            ([(2, 3)], {"pad_width": 5, "mode": "reflect"}),
        ),
        doc="``np.pad`` in mode edge, reflect, symmetric or wrap (built by ``ga.pad``).",
    )
)
register(
    Op(
        name="pad_mode_grad",
        internal=True,
        impl=_exec_helper(PAD_MODE_SRC, "_ga_pad_mode_grad"),
        vjp=lambda h, ans, g, pad_width, mode: [
            apply("pad_mode", h, pad_width=pad_width, mode=mode)
        ],
        jvp=_linear_jvp("pad_mode_grad"),
        shape=lambda s, pad_width, mode: tuple(
            int(n - b - a) for n, (b, a) in zip(s, _pad_pairs(len(s), pad_width), strict=True)
        ),
        dtype="first",
        emit="_ga_pad_mode_grad({0}, {pad_width}, {mode})",
        helper=PAD_MODE_SRC,
        label="unpad",
        lazy=False,
        cases=(
            ([(9,)], {"pad_width": (2, 3), "mode": "edge"}),
            ([(6, 7)], {"pad_width": ((1, 2), (2, 1)), "mode": "reflect"}),
            ([(7, 7)], {"pad_width": ((3, 1), (4, 2)), "mode": "wrap"}),
        ),
    )
)


@export
def pad(array, pad_width, mode="constant", constant_values=0):
    """Pad an array (``np.pad``) in mode ``constant``, ``edge``, ``reflect``,
    ``symmetric`` or ``wrap``.

    ``constant_values`` is a number or a scalar Expr (then differentiated: its gradient
    is the sum of the padding's cotangents).  In the other modes every padded entry
    copies an entry of ``array``, whose gradient collects it.

    Raises
    ------
    GraphadError
        If ``mode`` is not one of those five, ``constant_values`` is neither a number
        nor a scalar Expr, or ``pad_width`` is not an int, a pair or pairs of ints.
    ShapeError
        If a mode other than ``constant`` is asked to pad an empty axis.
    """
    if not isinstance(mode, str) or mode not in ("constant", *PAD_MODES):
        raise GraphadError(
            f"pad: mode {mode!r} is not supported (use 'constant', 'edge', 'reflect', "
            f"'symmetric' or 'wrap')"
        )
    pw = _norm_pad_width(pad_width)
    if mode != "constant":
        return apply("pad_mode", array, pad_width=pw, mode=mode)
    if isinstance(constant_values, Expr):
        if constant_values.shape not in (None, ()):
            raise GraphadError(
                f"pad: an Expr constant_values must be a scalar, got shape {constant_values.shape}"
            )
        x = as_expr(array, constant_values.graph)
        inside = apply("pad", ones_like(x), pad_width=pw, constant_values=0)
        return where(
            equal(inside, 0), constant_values, apply("pad", x, pad_width=pw, constant_values=0)
        )
    if isinstance(constant_values, bool) or not isinstance(
        constant_values, int | float | np.number
    ):
        raise GraphadError(f"pad: constant_values must be a number, got {constant_values!r}")
    cv = constant_values.item() if isinstance(constant_values, np.number) else constant_values
    return apply("pad", array, pad_width=pw, constant_values=cv)


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
