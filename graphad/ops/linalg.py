"""Matrix products and shape manipulation: matmul, dot, transpose, reshape,
broadcast_to, concatenate, stack.

The matmul VJPs are ops of their own (``matmul_grad_a``, ``matmul_grad_b``)
because which formula applies depends on whether an operand is 1-D, which is
unknown until evaluation when shapes are not static; once they are, each lowers
to ``g @ b.T`` / ``a.T @ g`` (summed over broadcast batch axes).  Each is linear in its
operands, so their own VJPs are again matmuls: second derivatives work.

Past 600 lines because it is a table: one declaration per op, each with its rules and
facets in one place, as the op table is meant to be read.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import ShapeError
from .core import Op, apply, as_expr, export, graph_of, register
from .elementwise import add
from .rules import _exec_helper, _linear_jvp, sum_to, zeros_like

__all__ = ["matmul", "dot", "transpose", "reshape", "broadcast_to", "concatenate", "stack"]

MATMUL_GRAD_SRC = """
def _ga_nd(v):
    # NumPy for Python and NumPy scalars; another library's array (Dask's) stays lazy
    return v if hasattr(v, "__array_function__") else np.asarray(v)


def _ga_as_2d(g, a, b):
    a1 = a[None, :] if np.ndim(a) == 1 else a
    b1 = b[:, None] if np.ndim(b) == 1 else b
    g1 = _ga_nd(g)
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        g1 = g1.reshape(1, 1)
    elif np.ndim(a) == 1:
        g1 = np.expand_dims(g1, -2)
    elif np.ndim(b) == 1:
        g1 = np.expand_dims(g1, -1)
    return g1, a1, b1


def _ga_reduce_to(r, x):
    shape = np.shape(x)
    lead = r.ndim - len(shape)
    if lead > 0:
        r = r.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and r.shape[i] != 1)
    if axes:
        r = r.sum(axis=axes, keepdims=True)
    return r


def _ga_matmul_grad_a(g, a, b):
    g1, a1, b1 = _ga_as_2d(g, _ga_nd(a), _ga_nd(b))
    r = np.matmul(g1, np.swapaxes(b1, -1, -2))
    return _ga_reduce_to(r, a1).reshape(np.shape(a))


def _ga_matmul_grad_b(g, a, b):
    g1, a1, b1 = _ga_as_2d(g, _ga_nd(a), _ga_nd(b))
    r = np.matmul(np.swapaxes(a1, -1, -2), g1)
    return _ga_reduce_to(r, b1).reshape(np.shape(b))
"""


def _matmul_shape(a, b):
    if not a or not b:
        raise ShapeError(f"matmul: operands must be at least 1-D, got shapes {a} and {b}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: shapes {a} and {b} are not aligned: {a2[-1]} (last axis of the first) "
            f"!= {b2[-2]} (second-to-last axis of the second)"
        )
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of {a} and {b} do not broadcast") from None
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return tuple(out)


def _swap_last(x):
    nd = len(x.shape)
    return transpose(x) if nd == 2 else transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _as_matrices(g, a, b):
    """Operands and cotangent with 1-D operands made 2-D, as matmul treats them."""
    a2 = reshape(a, (1, a.shape[0])) if len(a.shape) == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if len(b.shape) == 1 else b
    gs = g.shape
    if len(a.shape) == 1 and len(b.shape) == 1:
        g2 = reshape(g, (1, 1))
    elif len(a.shape) == 1:
        g2 = reshape(g, (*gs[:-1], 1, gs[-1]))
    elif len(b.shape) == 1:
        g2 = reshape(g, (*gs, 1))
    else:
        g2 = g
    return g2, a2, b2


def _lower_matmul_grad(which):
    """``g @ b^T`` (or ``a^T @ g``) summed to the operand's shape, once shapes are static."""

    def lower(g, a, b):
        g2, a2, b2 = _as_matrices(g, a, b)
        if which == "a":
            r, target, x = matmul(g2, _swap_last(b2)), a2, a
        else:
            r, target, x = matmul(_swap_last(a2), g2), b2, b
        r = sum_to(r, target)
        return r if r.shape == x.shape else reshape(r, x.shape)

    return lower


def _matmul_vjp(g, ans, a, b):
    return [apply("matmul_grad_a", g, a, b), apply("matmul_grad_b", g, a, b)]


def _matmul_jvp(tangents, ans, a, b):
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(matmul(ta, b))
    if tb is not None:
        terms.append(matmul(a, tb))
    return terms[0] if len(terms) == 1 else add(*terms)


register(
    Op(
        name="matmul",
        dunder="matmul",
        reads_only=True,
        numpy="np.matmul",
        cases=(
            ([(3, 4), (4, 2)], {}),
            ([(4,), (4, 2)], {}),
            ([(3, 4), (4,)], {}),
            ([(4,), (4,)], {}),
            ([(2, 3, 4), (4, 5)], {}),
            ([(2, 1, 3, 4), (5, 4, 2)], {}),
        ),
        impl=np.matmul,
        nargs=2,
        vjp=_matmul_vjp,
        jvp=_matmul_jvp,
        shape=_matmul_shape,
        dtype="promote",
        emit="{0} @ {1}",
        infix="@",
        precedence=20,
        sympy=lambda sp, a, b: a * b,
        label="@",
        domain=[(-2, 2), (-2, 2)],
        doc="Matrix product with NumPy's ``matmul`` semantics (1-D operands and batches).",
    )
)
_grad_impls = {
    n: _exec_helper(MATMUL_GRAD_SRC, f"_ga_{n}") for n in ("matmul_grad_a", "matmul_grad_b")
}
# d/dg, d/da (a is only a shape there), d/db of the linear maps above
register(
    Op(
        name="matmul_grad_a",
        cases=(([(3, 2), (3, 4), (4, 2)], {}), ([(2,), (4,), (4, 2)], {})),
        internal=True,
        impl=_grad_impls["matmul_grad_a"],
        nargs=3,
        vjp=lambda h, ans, g, a, b: [
            sum_to(matmul(h, b), g),
            None,
            apply("matmul_grad_b", g, h, b),
        ],
        shape=lambda g, a, b: a,
        dtype="promote",
        emit="_ga_matmul_grad_a({0}, {1}, {2})",
        helper=MATMUL_GRAD_SRC,
        label="matmul_grad_a",
        lower=_lower_matmul_grad("a"),
    )
)
register(
    Op(
        name="matmul_grad_b",
        cases=(([(3, 2), (3, 4), (4, 2)], {}),),
        internal=True,
        impl=_grad_impls["matmul_grad_b"],
        nargs=3,
        vjp=lambda h, ans, g, a, b: [
            sum_to(matmul(a, h), g),
            apply("matmul_grad_a", g, a, h),
            None,
        ],
        shape=lambda g, a, b: b,
        dtype="promote",
        emit="_ga_matmul_grad_b({0}, {1}, {2})",
        helper=MATMUL_GRAD_SRC,
        label="matmul_grad_b",
        lower=_lower_matmul_grad("b"),
    )
)


@export
def matmul(a, b):
    """Matrix product ``a @ b`` with NumPy's ``matmul`` semantics."""
    return apply("matmul", a, b)


DOT_GRAD_SRC = """
def _ga_dot_nd(v):
    # NumPy for Python and NumPy scalars; another library's array (Dask's) stays lazy
    return v if hasattr(v, "__array_function__") else np.asarray(v)


def _ga_dot_grad_a(g, a, b):
    # the adjoint of a -> np.dot(a, b), applied to g
    g, a, b = _ga_dot_nd(g), _ga_dot_nd(a), _ga_dot_nd(b)
    if a.ndim == 0 or b.ndim == 0:
        r = g * b
        return r.sum() if a.ndim == 0 else r
    free = [i for i in range(b.ndim) if i != (0 if b.ndim == 1 else b.ndim - 2)]
    return np.tensordot(g, b, axes=(list(range(g.ndim - len(free), g.ndim)), free))


def _ga_dot_grad_b(g, a, b):
    # the adjoint of b -> np.dot(a, b), applied to g
    g, a, b = _ga_dot_nd(g), _ga_dot_nd(a), _ga_dot_nd(b)
    if a.ndim == 0 or b.ndim == 0:
        r = g * a
        return r.sum() if b.ndim == 0 else r
    lead = list(range(a.ndim - 1))
    r = np.tensordot(a, g, axes=(lead, lead))
    return np.moveaxis(r, 0, 0 if b.ndim == 1 else b.ndim - 2)
"""


def _dot_shape(a, b):
    if not a or not b:  # a scalar operand: np.dot is the elementwise product
        return tuple(a or b)
    k = 0 if len(b) == 1 else len(b) - 2
    if a[-1] != b[k]:
        raise ShapeError(
            f"dot: shapes {a} and {b} are not aligned: {a[-1]} (last axis of the first) != "
            f"{b[k]} ({'only' if len(b) == 1 else 'second-to-last'} axis of the second)"
        )
    return tuple(a[:-1]) + tuple(b[:k]) + tuple(b[k + 1 :])


def _lower_dot(a, b):
    """Where ``np.dot`` is ``matmul`` (1-D and 2-D) or a product (a 0-D operand)."""
    na, nb = len(a.shape), len(b.shape)
    if na == 0 or nb == 0:
        return apply("multiply", a, b)
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    return None  # N-D: np.dot itself


def _dot_jvp(tangents, ans, a, b):
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(apply("dot", ta, b))
    if tb is not None:
        terms.append(apply("dot", a, tb))
    return terms[0] if len(terms) == 1 else add(*terms)


register(
    Op(
        name="dot",
        numpy="np.dot",
        reads_only=True,
        cases=(
            ([(2, 3, 4), (5, 4, 2)], {}),
            ([(2, 3, 4), (4,)], {}),
            ([(3,), (2, 3, 4)], {}),
            ([(), (2, 3)], {}),
            ([(3, 4), (4,)], {}),
        ),
        impl=np.dot,
        nargs=2,
        vjp=lambda g, ans, a, b: [apply("dot_grad_a", g, a, b), apply("dot_grad_b", g, a, b)],
        jvp=_dot_jvp,
        shape=_dot_shape,
        dtype="promote",
        emit="np.dot({0}, {1})",
        sympy=lambda sp, a, b: a * b,
        label="dot",
        domain=[(-2, 2), (-2, 2)],
        lower=_lower_dot,
        doc="``np.dot``: the sum over the last axis of ``a`` and the second-to-last of ``b`` "
        "(the only axis of a 1-D ``b``); ``matmul`` for 1-D and 2-D operands, a product "
        "when one is 0-D.",
    )
)
_dot_impls = {n: _exec_helper(DOT_GRAD_SRC, f"_ga_{n}") for n in ("dot_grad_a", "dot_grad_b")}
# both are linear in g and in the other operand, so their VJPs are dots again (as matmul's)
register(
    Op(
        name="dot_grad_a",
        cases=(([(2, 3, 5, 2), (2, 3, 4), (5, 4, 2)], {}), ([(2, 3), (), (2, 3)], {})),
        internal=True,
        impl=_dot_impls["dot_grad_a"],
        nargs=3,
        vjp=lambda h, ans, g, a, b: [
            sum_to(apply("dot", h, b), g),
            None,
            apply("dot_grad_b", g, h, b),
        ],
        shape=lambda g, a, b: a,
        dtype="promote",
        emit="_ga_dot_grad_a({0}, {1}, {2})",
        helper=DOT_GRAD_SRC,
        label="dot_grad_a",
    )
)
register(
    Op(
        name="dot_grad_b",
        cases=(([(2, 3, 5, 2), (2, 3, 4), (5, 4, 2)], {}), ([(2, 4), (3,), (2, 3, 4)], {})),
        internal=True,
        impl=_dot_impls["dot_grad_b"],
        nargs=3,
        vjp=lambda h, ans, g, a, b: [
            sum_to(apply("dot", a, h), g),
            apply("dot_grad_a", g, a, h),
            None,
        ],
        shape=lambda g, a, b: b,
        dtype="promote",
        emit="_ga_dot_grad_b({0}, {1}, {2})",
        helper=DOT_GRAD_SRC,
        label="dot_grad_b",
    )
)


@export
def dot(a, b):
    """``np.dot(a, b)`` with NumPy's semantics for operands of any rank.

    1-D and 2-D operands give ``matmul``, a 0-D one the elementwise product; N-D
    operands sum over the last axis of ``a`` and the second-to-last of ``b``
    (``np.dot``, not the batched ``matmul``).  Where shapes are unknown when the
    graph is built, a ``dot`` node decides once they are known.
    """
    g = graph_of(a, b)
    a, b = as_expr(a, g), as_expr(b, g)
    if a.shape is not None and b.shape is not None:
        lowered = _lower_dot(a, b)
        if lowered is not None:
            return lowered
    return apply("dot", a, b)


# -- shape ops ---------------------------------------------------------------------------


def _transpose_shape(s, axes=None):
    if axes is None:
        return tuple(reversed(s))
    if sorted(a % len(s) for a in axes) != list(range(len(s))):
        raise ShapeError(f"transpose: axes {axes} are not a permutation for shape {s}")
    return tuple(s[a] for a in axes)


def _transpose_vjp(g, ans, x, axes):
    if axes is None:
        return [transpose(g)]
    inverse = tuple(int(i) for i in np.argsort([a % len(axes) for a in axes]))
    return [transpose(g, inverse)]


register(
    Op(
        name="transpose",
        view=True,
        numpy="np.transpose",
        cases=(
            ([(2, 3, 4)], {"axes": None}),
            ([(2, 3, 4)], {"axes": (1, 0, 2)}),
            ([(3, 2)], {"axes": None}),
        ),
        impl=np.transpose,
        vjp=_transpose_vjp,
        jvp=_linear_jvp("transpose"),
        shape=_transpose_shape,
        dtype="first",
        emit="np.transpose({0}, axes={axes})",
        sympy=lambda sp, x, axes=None: x,
        label="T",
        test_params=({"axes": None},),
    )
)


@export
def transpose(x, axes=None):
    """Permute axes (reverse them by default), as ``np.transpose``."""
    return apply("transpose", x, axes=None if axes is None else tuple(int(a) for a in axes))


def _reshape_shape(s, shape):
    size = math.prod(s)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in the new shape {shape}")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ShapeError(f"reshape: cannot reshape an array of shape {s} into {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ShapeError(f"reshape: cannot reshape an array of shape {s} into {shape}")
    return tuple(shape)


register(
    Op(
        name="reshape",
        view=True,
        numpy="np.reshape",
        cases=(
            ([(2, 3, 4)], {"shape": (-1,)}),
            ([(2, 3, 4)], {"shape": (4, 6)}),
            ([(6,)], {"shape": (2, 1, 3)}),
            ([(3, 1)], {"shape": (1, 3)}),
        ),
        impl=np.reshape,
        vjp=lambda g, ans, x, shape: [apply("reshape_like", g, x)],
        jvp=_linear_jvp("reshape"),
        shape=_reshape_shape,
        dtype="first",
        emit="np.reshape({0}, {shape})",
        # Dask reshapes only by merging or splitting axes: through 1-D is both
        duck_emit="np.reshape(np.reshape({0}, (-1,)), {shape})",
        sympy=lambda sp, x, shape: x,
        label="reshape",
        test_params=({"shape": (-1,)},),
    )
)


@export
def reshape(x, shape, *more):
    """Give ``x`` a new shape with the same number of elements (``np.reshape``)."""
    if more or isinstance(shape, int):
        shape = (shape, *more)
    return apply("reshape", x, shape=tuple(int(n) for n in shape))


def _broadcast_to_shape(s, shape):
    try:
        out = np.broadcast_shapes(s, shape)
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {s} to {tuple(shape)}")
    return tuple(shape)


register(
    Op(
        name="broadcast_to",
        view=True,
        numpy="np.broadcast_to",
        # of a constant it stays a free read-only view; folded it would be a full array
        foldable=False,
        cases=(([(3, 1)], {"shape": (2, 3, 4)}), ([()], {"shape": (2,)})),
        impl=np.broadcast_to,
        vjp=lambda g, ans, x, shape: [sum_to(g, x)],
        jvp=_linear_jvp("broadcast_to"),
        shape=_broadcast_to_shape,
        dtype="first",
        emit="np.broadcast_to({0}, {shape})",
        sympy=lambda sp, x, shape: x,
        label="broadcast_to",
        test_params=({"shape": (2, 3, 4)},),
    )
)


@export
def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` (``np.broadcast_to``)."""
    return apply("broadcast_to", x, shape=tuple(int(n) for n in shape))


# -- concatenate / stack -------------------------------------------------------------------

CONCAT_PART_SRC = """
def _ga_concat_part(g, *xs, index, axis):
    start = sum(np.shape(x)[axis] for x in xs[:index])
    stop = start + np.shape(xs[index])[axis]
    sl = [slice(None)] * np.ndim(g)
    sl[axis] = slice(start, stop)
    return g[tuple(sl)]
"""


def _concat_shape(*shapes, axis=0):
    nd = len(shapes[0])
    if nd == 0 or any(len(s) != nd for s in shapes) or not -nd <= axis < nd:
        raise ShapeError(f"concatenate: cannot join shapes {list(shapes)} along axis {axis}")
    ax = axis % nd
    rest = {s[:ax] + s[ax + 1 :] for s in shapes}
    if len(rest) != 1:
        raise ShapeError(f"concatenate: shapes {list(shapes)} differ off axis {axis}")
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    return tuple(out)


def _concat_vjp(g, ans, *xs, axis):
    return [apply("concat_part", [g, *xs], index=i, axis=axis) for i in range(len(xs))]


def _concat_jvp(tangents, ans, *xs, axis):
    return concatenate(
        [zeros_like(x) if t is None else t for t, x in zip(tangents, xs, strict=True)], axis=axis
    )


register(
    Op(
        name="concatenate",
        numpy="np.concatenate",
        cases=(
            ([(2, 3), (4, 3)], {"axis": 0}),
            ([(2, 3), (2, 1), (2, 2)], {"axis": 1}),
            ([(3,), (2,)], {"axis": -1}),
        ),
        impl=lambda *xs, axis: np.concatenate(xs, axis=axis),
        nargs=None,
        vjp=_concat_vjp,
        jvp=_concat_jvp,
        shape=_concat_shape,
        dtype="promote",
        emit=lambda a, p: f"np.concatenate(({', '.join(a)},), axis={p['axis']!r})",
        label="concat",
        test_params=({"axis": 0},),
    )
)


def _concat_part_vjp(h, ans, g, *xs, index, axis):
    pieces = [h if i == index else zeros_like(x) for i, x in enumerate(xs)]
    return [concatenate(pieces, axis=axis)] + [None] * len(xs)


register(
    Op(
        name="concat_part",
        cases=(([(5, 3), (2, 3), (3, 3)], {"index": 1, "axis": 0}),),
        internal=True,
        impl=_exec_helper(CONCAT_PART_SRC, "_ga_concat_part"),
        nargs=None,
        vjp=_concat_part_vjp,
        shape=lambda g, *xs, index, axis: xs[index],
        dtype="first",
        emit=lambda a, p: (
            f"_ga_concat_part({', '.join(a)}, index={p['index']!r}, axis={p['axis']!r})"
        ),
        helper=CONCAT_PART_SRC,
        label="slice",
    )
)


@export
def concatenate(arrays, axis=0):
    """Join a sequence of arrays along an existing axis (``np.concatenate``)."""
    return apply("concatenate", list(arrays), axis=int(axis))


def _stack_shape(*shapes, axis=0):
    if len(set(shapes)) != 1:
        raise ShapeError(f"stack: all inputs must have the same shape, got {list(shapes)}")
    nd = len(shapes[0]) + 1
    if not -nd <= axis < nd:
        raise ShapeError(f"stack: axis {axis} out of bounds for {nd}-D result")
    out = list(shapes[0])
    out.insert(axis % nd, len(shapes))
    return tuple(out)


def _stack_part_vjp(h, ans, g, index, count, axis):
    return [stack([h if i == index else zeros_like(h) for i in range(count)], axis=axis)]


register(
    Op(
        name="stack",
        numpy="np.stack",
        cases=(
            ([(2, 3), (2, 3)], {"axis": 0}),
            ([(2, 3), (2, 3), (2, 3)], {"axis": -1}),
            ([(), ()], {"axis": 0}),
        ),
        impl=lambda *xs, axis: np.stack(xs, axis=axis),
        nargs=None,
        vjp=lambda g, ans, *xs, axis: [
            apply("stack_part", g, index=i, count=len(xs), axis=axis) for i in range(len(xs))
        ],
        jvp=lambda ts, ans, *xs, axis: stack(
            [zeros_like(x) if t is None else t for t, x in zip(ts, xs, strict=True)], axis=axis
        ),
        shape=_stack_shape,
        dtype="promote",
        emit=lambda a, p: f"np.stack(({', '.join(a)},), axis={p['axis']!r})",
        label="stack",
        test_params=({"axis": 0},),
    )
)
register(
    Op(
        name="stack_part",
        cases=(([(2, 3)], {"index": 1, "count": 2, "axis": 0}),),
        internal=True,
        impl=lambda g, index, count, axis: np.take(g, index, axis=axis),
        vjp=_stack_part_vjp,
        jvp=_linear_jvp("stack_part"),
        shape=lambda s, index, count, axis: s[: axis % len(s)] + s[axis % len(s) + 1 :],
        dtype="first",
        emit="np.take({0}, {index}, axis={axis})",
        label="take",
    )
)


@export
def stack(arrays, axis=0):
    """Join a sequence of same-shaped arrays along a new axis (``np.stack``)."""
    return apply("stack", list(arrays), axis=int(axis))


# the array API standard's names, which NumPy 2 has too (np.concat is np.concatenate)
export(concatenate, "concatenate", "concat")
export(transpose, "transpose", "permute_dims")
