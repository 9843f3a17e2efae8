"""Shape and layout ops: squeeze, expand_dims, ravel/flatten, astype, flip, roll, rot90,
repeat, tile, moveaxis, swapaxes, atleast_1d/2d/3d; and the helpers with which the
other layout modules declare theirs (:mod:`.split_join`, :mod:`.padding`,
:mod:`.diagonals`; NumPy's other names for these in :mod:`.numpy_aliases`).

Each is one primitive of the op table computed by NumPy's own function.  All are
linear, so their JVP is the op applied to the tangent; their VJPs are the adjoint
layout ops (``flip`` is its own, ``roll`` by ``-shift``, ``moveaxis`` back ...) or,
where the adjoint needs the input's shape (``repeat``, ``tile``, ``pad``,
``diagonal``, a ``split`` piece), an internal op whose own VJP is the forward op
again, so higher derivatives stay graph ops.  The reshape-like ops (``squeeze``,
``expand_dims``, ``ravel``, ``atleast_*``) and ``split`` pieces lower to ``reshape`` /
``getitem`` once the input's shape is static.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GraphadError, ShapeError
from .core import Op, apply, export, register
from .rules import _exec_helper, _linear_jvp, reshape_like
from .stats import static_axis, static_int

__all__ = [
    "squeeze",
    "expand_dims",
    "ravel",
    "flatten",
    "astype",
    "flip",
    "roll",
    "rot90",
    "repeat",
    "tile",
    "moveaxis",
    "swapaxes",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
]


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
