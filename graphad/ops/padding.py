"""``pad`` in the op table: the constant mode, and the modes that copy entries of the input
(edge, reflect, symmetric, wrap).

The constant mode's VJP cuts the padding off the cotangent; for the copying modes every
padded entry is a copy of an entry of ``x``, per axis independently, so the value is a
gather and the gradient adds each padded entry's cotangent back onto the entry it copies.
Declared with the helpers of :mod:`.layout`.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, as_expr, export, register
from .elementwise import equal, where
from .layout import _declare
from .rules import _exec_helper, _linear_jvp, ones_like
from .stats import static_int

__all__ = [
    "pad",
]


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
