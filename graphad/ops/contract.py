"""Contractions of fixed form: tensordot, outer, inner, kron, cross, and their gradient
helper ``contract_grad``.

Every op here is multilinear, and so are their gradient helpers: with
``F(g, A_1..A_n) = <g, op(A_1..A_n)>`` the gradient for ``A_k`` is
``dF/dA_k``, and the VJP of that helper is the op again (for ``g``) or the
helper of another operand (for ``A_j``): second derivatives are built from
the same few ops.

``tensordot``, ``inner``, ``outer`` and ``kron`` have a rank-dependent
subscript form, unknown while shapes are undeclared: their gradients are
``contract_grad`` nodes, which write that form out when they run (as an
:mod:`.einsum_ops`).
"""

from __future__ import annotations

import math
import string

import numpy as np

from ..core.errors import GraphadError, ShapeError
from .core import Op, apply, as_expr, export, graph_of, register
from .einsum_ops import EINSUM_GRAD_SRC, _operand_grad
from .rules import _exec_helper, sum_to

__all__ = ["tensordot", "outer", "inner", "kron", "cross"]


# -- tensordot, inner, outer, kron: bilinear, rank-dependent forms -------------------------

CONTRACT_SRC = (
    EINSUM_GRAD_SRC
    + '''

_GA_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ga_bilinear_spec(kind, nda, ndb, axes):
    """The einsum subscripts of tensordot / inner on operands of these ranks."""
    if kind == "inner":
        ia = [nda - 1] if nda and ndb else []
        ib = [ndb - 1] if nda and ndb else []
    elif isinstance(axes, int):
        ia, ib = list(range(nda - axes, nda)), list(range(axes))
    else:
        ia = [i % nda for i in axes[0]]
        ib = [i % ndb for i in axes[1]]
    sa = list(_GA_LETTERS[:nda])
    sb = list(_GA_LETTERS[nda : nda + ndb])
    for i, j in zip(ia, ib):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in ia]
    out += [c for k, c in enumerate(sb) if k not in ib]
    return "".join(sa) + "," + "".join(sb) + "->" + "".join(out)


def _ga_contract_operands(kind, a, b):
    """The operands (reshaped for outer and kron) and the einsum they form."""
    a, b = np.asarray(a), np.asarray(b)
    if kind == "outer":
        return a.reshape(-1), b.reshape(-1), "i,j->ij"
    if kind == "kron":
        nd = max(a.ndim, b.ndim)
        a2 = a.reshape((1,) * (nd - a.ndim) + a.shape)
        b2 = b.reshape((1,) * (nd - b.ndim) + b.shape)
        sa, sb = _GA_LETTERS[:nd], _GA_LETTERS[nd : 2 * nd]
        return a2, b2, sa + "," + sb + "->" + "".join(p + q for p, q in zip(sa, sb))
    return a, b, None


def _ga_contract_grad(g, a, b, kind, which, axes):
    """d<g, kind(a, b)>/d(a if which == 0 else b)."""
    a2, b2, spec = _ga_contract_operands(kind, a, b)
    if spec is None:
        spec = _ga_bilinear_spec(kind, a2.ndim, b2.ndim, axes)
    g2 = np.asarray(g)
    if kind == "kron":  # g's axes split into (a's, b's) pairs
        g2 = g2.reshape([n for p, q in zip(a2.shape, b2.shape) for n in (p, q)])
    r = _ga_einsum_grad(g2, a2, b2, index=which, subscripts=spec)
    return r.reshape(np.shape(a if which == 0 else b))
'''
)

_contract_grad = _exec_helper(CONTRACT_SRC, "_ga_contract_grad")


def _contract_vjp(kind):
    def vjp(g, ans, a, b, **params):
        axes = params.get("axes")
        return [
            apply("contract_grad", g, a, b, kind=kind, which=0, axes=axes),
            apply("contract_grad", g, a, b, kind=kind, which=1, axes=axes),
        ]

    return vjp


def _contract_grad_vjp(h, ans, g, a, b, kind, which, axes):
    params = {"axes": axes} if kind == "tensordot" else {}
    if which == 0:
        return [
            apply(kind, h, b, **params),
            None,
            apply("contract_grad", g, h, b, kind=kind, which=1, axes=axes),
        ]
    return [
        apply(kind, a, h, **params),
        apply("contract_grad", g, a, h, kind=kind, which=0, axes=axes),
        None,
    ]


_bilinear_spec = _exec_helper(CONTRACT_SRC, "_ga_bilinear_spec")

DUCK_SRC = """
def _ga_is_numpy(*xs):
    return all(isinstance(x, np.ndarray | np.generic | float | int) for x in xs)


def _ga_inner(a, b):
    # np.inner; on another library's arrays (Dask's) its tensordot form, which they run lazily
    if _ga_is_numpy(a, b):
        return np.inner(a, b)
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return np.tensordot(a, b, axes=(-1, -1))


def _ga_kron(a, b):
    # np.kron; on other arrays an einsum of the operands, axes merged pairwise
    if _ga_is_numpy(a, b):
        return np.kron(a, b)
    nd = max(np.ndim(a), np.ndim(b))
    a = np.reshape(a, (1,) * (nd - np.ndim(a)) + tuple(np.shape(a)))
    b = np.reshape(b, (1,) * (nd - np.ndim(b)) + tuple(np.shape(b)))
    la, lb = "abcdefghijklm"[:nd], "nopqrstuvwxyz"[:nd]
    r = np.einsum(la + "," + lb + "->" + "".join(p + q for p, q in zip(la, lb)), a, b)
    return np.reshape(r, tuple(p * q for p, q in zip(np.shape(a), np.shape(b))))


def _ga_cross(a, b):
    # np.cross; on other arrays its components, written out
    if _ga_is_numpy(a, b):
        return np.cross(a, b)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
"""


def _lower_contract_grad(g, a, b, kind, which, axes):
    """Once shapes are static: the einsum (with reshapes for outer and kron) itself."""
    from .linalg import reshape

    x = a if which == 0 else b
    if kind in ("tensordot", "inner"):
        spec = _bilinear_spec(kind, len(a.shape), len(b.shape), axes)
        return _operand_grad(g, [a, b], which, spec)
    if kind == "outer":
        ops = [reshape(a, (-1,)), reshape(b, (-1,))]
        r = _operand_grad(g, ops, which, "i,j->ij")
    else:  # kron: g's axes split into (a's, b's) pairs
        nd = max(len(a.shape), len(b.shape))
        sa = (1,) * (nd - len(a.shape)) + tuple(a.shape)
        sb = (1,) * (nd - len(b.shape)) + tuple(b.shape)
        ops = [reshape(a, sa), reshape(b, sb)]
        g2 = reshape(g, tuple(n for p, q in zip(sa, sb, strict=True) for n in (p, q)))
        la, lb = string.ascii_letters[:nd], string.ascii_letters[nd : 2 * nd]
        spec = f"{la},{lb}->" + "".join(p + q for p, q in zip(la, lb, strict=True))
        r = _operand_grad(g2, ops, which, spec)
    return r if r.shape == x.shape else reshape(r, x.shape)


register(
    Op(
        name="contract_grad",
        lower=_lower_contract_grad,
        internal=True,
        cases=(
            ([(3, 5), (3, 4), (4, 5)], {"kind": "tensordot", "which": 0, "axes": 1}),
            ([(3, 5), (3, 4), (4, 5)], {"kind": "tensordot", "which": 1, "axes": 1}),
            ([(6, 4), (2, 3), (4,)], {"kind": "outer", "which": 0, "axes": None}),
            ([(6, 6), (2, 3), (3, 2)], {"kind": "kron", "which": 1, "axes": None}),
            ([(2, 3), (2, 4), (3, 4)], {"kind": "inner", "which": 0, "axes": None}),
        ),
        impl=_contract_grad,
        nargs=3,
        vjp=_contract_grad_vjp,
        shape=lambda g, a, b, kind, which, axes: a if which == 0 else b,
        dtype="promote",
        emit=lambda a, p: (
            f"_ga_contract_grad({', '.join(a)}, kind={p['kind']!r}, which={p['which']!r}, "
            f"axes={p['axes']!r})"
        ),
        helper=CONTRACT_SRC,
        label="contraction adjoint",
    )
)


def _tensordot_shape(a, b, axes):
    if isinstance(axes, int):
        if axes < 0 or axes > min(len(a), len(b)):
            raise ShapeError(f"tensordot: axes={axes} for shapes {a} and {b}")
        ia, ib = list(range(len(a) - axes, len(a))), list(range(axes))
    else:
        ia = [i % len(a) for i in axes[0]] if a else list(axes[0])
        ib = [i % len(b) for i in axes[1]] if b else list(axes[1])
    for i, j in zip(ia, ib, strict=True):
        if a[i] != b[j]:
            raise ShapeError(
                f"tensordot: shapes {a} and {b} do not align: axis {i} of the first has "
                f"{a[i]}, axis {j} of the second {b[j]}"
            )
    return tuple(n for k, n in enumerate(a) if k not in ia) + tuple(
        n for k, n in enumerate(b) if k not in ib
    )


register(
    Op(
        name="tensordot",
        numpy="np.tensordot",
        reads_only=True,
        cases=(
            ([(3, 4), (4, 5)], {"axes": 1}),
            ([(2, 3, 4), (3, 4, 5)], {"axes": 2}),
            ([(2, 3, 4), (4, 2)], {"axes": ((0, 2), (1, 0))}),
            ([(2, 3), (4,)], {"axes": 0}),
        ),
        impl=np.tensordot,
        nargs=2,
        vjp=_contract_vjp("tensordot"),
        shape=_tensordot_shape,
        dtype="promote",
        emit="np.tensordot({0}, {1}, axes={axes})",
        label="tensordot",
        parse=False,
        domain=[(-2, 2), (-2, 2)],
        doc="``np.tensordot``: sum over ``axes`` (an int: the last ``axes`` of ``a`` with "
        "the first of ``b``; or two sequences of axes).",
    )
)


@export
def tensordot(a, b, axes=2):
    """``np.tensordot(a, b, axes)``.
    Raises
    ------
    GraphadError
        If ``axes`` is neither an int nor a pair of axis sequences of one length.
    """
    if isinstance(axes, int | np.integer):
        axes = int(axes)
    else:
        try:
            ia, ib = axes
            ia = (int(ia),) if isinstance(ia, int | np.integer) else tuple(int(i) for i in ia)
            ib = (int(ib),) if isinstance(ib, int | np.integer) else tuple(int(i) for i in ib)
        except (TypeError, ValueError):
            raise GraphadError(
                f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}"
            ) from None
        if len(ia) != len(ib):
            raise GraphadError(f"tensordot: axes {axes!r} name different numbers of axes")
        axes = (ia, ib)
    return apply("tensordot", a, b, axes=axes)


def _outer_shape(a, b):
    return (math.prod(a), math.prod(b))


register(
    Op(
        name="outer",
        numpy="np.outer",
        reads_only=True,
        cases=(([(3,), (4,)], {}), ([(2, 3), (2,)], {}), ([(), (3,)], {})),
        impl=np.outer,
        nargs=2,
        vjp=_contract_vjp("outer"),
        shape=_outer_shape,
        dtype="promote",
        emit="np.outer({0}, {1})",
        label="outer",
        domain=[(-2, 2), (-2, 2)],
        doc="Outer product of the flattened operands (``np.outer``).",
    )
)


def _inner_shape(a, b):
    if not a or not b:
        return tuple(a or b)
    if a[-1] != b[-1]:
        raise ShapeError(f"inner: last axes of shapes {a} and {b} differ ({a[-1]} != {b[-1]})")
    return tuple(a[:-1]) + tuple(b[:-1])


register(
    Op(
        name="inner",
        numpy="np.inner",
        reads_only=True,
        cases=(([(4,), (4,)], {}), ([(2, 3), (4, 3)], {}), ([(), (2, 3)], {})),
        impl=np.inner,
        nargs=2,
        vjp=_contract_vjp("inner"),
        shape=_inner_shape,
        dtype="promote",
        emit="np.inner({0}, {1})",
        duck_emit="_ga_inner({0}, {1})",
        helper=DUCK_SRC,
        label="inner",
        domain=[(-2, 2), (-2, 2)],
        doc="Sum over the last axes of both operands (``np.inner``); a product if one is 0-D.",
    )
)


def _kron_shape(a, b):
    nd = max(len(a), len(b))
    a2 = (1,) * (nd - len(a)) + tuple(a)
    b2 = (1,) * (nd - len(b)) + tuple(b)
    return tuple(p * q for p, q in zip(a2, b2, strict=True))


register(
    Op(
        name="kron",
        numpy="np.kron",
        reads_only=True,
        cases=(([(2, 3), (3, 2)], {}), ([(3,), (2,)], {}), ([(2,), (2, 3)], {})),
        impl=np.kron,
        nargs=2,
        vjp=_contract_vjp("kron"),
        shape=_kron_shape,
        dtype="promote",
        emit="np.kron({0}, {1})",
        duck_emit="_ga_kron({0}, {1})",
        helper=DUCK_SRC,
        label="kron",
        domain=[(-2, 2), (-2, 2)],
        doc="Kronecker product (``np.kron``): blocks ``a[i, j] * b``.",
    )
)


def _cross_shape(a, b):
    if not a or not b or a[-1] != 3 or b[-1] != 3:
        raise ShapeError(
            f"cross: both operands need a last axis of length 3, got shapes {a} and {b}"
        )
    try:
        return (*np.broadcast_shapes(a[:-1], b[:-1]), 3)
    except ValueError:
        raise ShapeError(f"cross: shapes {a} and {b} do not broadcast") from None


register(
    Op(
        name="cross",
        numpy="np.cross",
        reads_only=True,
        cases=(([(3,), (3,)], {}), ([(4, 3), (3,)], {}), ([(2, 1, 3), (4, 3)], {})),
        impl=np.cross,
        nargs=2,
        # a x b is bilinear: <g, a x b> = <b x g, a> = <g x a, b>
        vjp=lambda g, ans, a, b: [sum_to(cross(b, g), a), sum_to(cross(g, a), b)],
        jvp=None,
        shape=_cross_shape,
        dtype="promote",
        emit="np.cross({0}, {1})",
        duck_emit="_ga_cross({0}, {1})",
        helper=DUCK_SRC,
        label="cross",
        domain=[(-2, 2), (-2, 2)],
        doc="Cross product of 3-vectors along the last axis (``np.cross``), broadcasting "
        "the leading axes.",
    )
)


@export
def outer(a, b):
    """``np.outer(a, b)``: the outer product of the flattened operands."""
    return apply("outer", a, b)


@export
def inner(a, b):
    """``np.inner(a, b)``: the sum over the last axes (a product if one is 0-D)."""
    return apply("inner", a, b)


@export
def kron(a, b):
    """``np.kron(a, b)``: the Kronecker product."""
    return apply("kron", a, b)


@export
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross(a, b)`` of 3-vectors: along the last axes, or ``axisa`` of ``a`` and
    ``axisb`` of ``b`` with the result's vectors along ``axisc`` (``axis`` sets all three).

    Raises
    ------
    GraphadError
        If ``axisa``, ``axisb`` or ``axisc`` is not an int.
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    for name, v in (("axisa", axisa), ("axisb", axisb), ("axisc", axisc)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise GraphadError(f"cross: {name} must be an int, got {v!r}")
    g = graph_of(a, b)
    a, b = as_expr(a, g), as_expr(b, g)
    if axisa not in (-1,):
        a = apply("moveaxis", a, source=int(axisa), destination=-1)
    if axisb not in (-1,):
        b = apply("moveaxis", b, source=int(axisb), destination=-1)
    out = apply("cross", a, b)
    if axisc != -1:
        out = apply("moveaxis", out, source=-1, destination=int(axisc))
    return out
