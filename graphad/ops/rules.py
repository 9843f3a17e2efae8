"""Helpers the rules share: undoing broadcasting, zeros, and the derived VJP/JVP.

Broadcasting is undone in exactly one place, :func:`sum_to`; a rule never sums
over broadcast axes itself.

The shape helpers (``sum_to_like``, ``unreduce``, ``broadcast_like``,
``reshape_like``, ``astype_like``, ``ones_like``, ``zeros_like``, ``numel``)
stand for "the shape (or dtype) of that other node", which a graph over inputs
of unknown shape cannot say yet.  Each declares a ``lower`` facet: once the
shapes are static (declared, or fixed by specializing the graph to the values
it runs with) the helper becomes plain ops (``sum``, ``reshape``,
``broadcast_to``, a constant) or vanishes.  Their generic implementations run
only where a shape is still unknown when evaluated (the reference interpreter
on an unspecialized graph, a custom op without a shape rule).  Printers show
them as what they mean per element: ``sum_to_like(g, x)`` reads ``g``,
``ones_like(f)`` reads ``1``.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr
from .core import Op, apply, as_expr, build_node, const_value, export, register

__all__ = [
    "sum_to",
    "broadcast_like",
    "unreduce",
    "zeros_like",
    "ones_like",
    "astype_like",
    "reshape_like",
    "numel",
    "derived_vjp",
    "derived_jvp",
]


def _exec_helper(src: str, name: str):
    """Run our own helper source once, so that the interpreter and the generated
    code execute the very same function (a single source of truth)."""
    ns: dict = {"np": np}
    exec(compile(src, f"<graphad helper {name}>", "exec"), ns)  # our source, never user text
    return ns[name]


def _grad_dtype(x) -> np.dtype:
    dt = np.result_type(x)
    return dt if dt.kind in "fc" else np.dtype(np.float64)


SUM_TO_SRC = """
def _ga_sum_to(g, x):
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    if not hasattr(g, "__array_function__"):  # Dask arrays stay lazy
        g = np.asarray(g)
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return np.sum(g, axis=axes).reshape(shape)
"""
UNREDUCE_SRC = """
def _ga_unreduce(g, x, axis, keepdims):
    if not hasattr(g, "__array_function__"):  # a weak Python seed must not make float32 float64
        g = np.asarray(g, dtype=np.result_type(g, x))
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    if isinstance(g, np.ndarray) and hasattr(x, "__array_function__") and not isinstance(
            x, np.ndarray):
        g = np.asarray(g, like=x)  # x is a Dask (CuPy ...) array: so is its gradient
    return np.broadcast_to(g, np.shape(x))
"""
KIND_SRC = """
def _ga_kind(a, ref):
    # a NumPy value as an array of ref's library (NEP 35's like=) when ref is not NumPy's,
    # so that broadcasting it to the shape of a Dask array stays lazy
    if isinstance(ref, np.ndarray) or not hasattr(ref, "__array_function__"):
        return a
    return a if hasattr(a, "__array_function__") and not isinstance(
        a, np.ndarray) else np.asarray(a, like=ref)
"""
ASTYPE_SRC = """
def _ga_astype(a, ref):
    if not hasattr(a, "__array_function__"):  # Dask arrays stay lazy
        a = np.asarray(a)
    return a.astype(np.result_type(ref))
"""
ZEROS_SRC = """
def _ga_zeros_like(x):
    dt = np.result_type(x)
    return np.zeros_like(x, dtype=dt if dt.kind in "fc" else np.float64)
"""
ONES_SRC = ZEROS_SRC.replace("zeros", "ones")
NUMEL_SRC = """
def _ga_numel(x, axis):
    shape = np.shape(x)
    if axis is None:
        return float(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return float(np.prod([shape[a] for a in axes]))
"""

# Fills of at most this many elements become constants when lowered; larger ones a
# broadcast scalar (a read-only view costing no memory).
_FILL_CONSTANT_MAX = 16


def _lower_sum_to(g, ref):
    """Sum ``g`` over the axes broadcasting added to ``ref``'s shape."""
    gs, rs = g.shape, ref.shape
    if gs == rs:
        return g
    lead = len(gs) - len(rs)
    if lead < 0 or any(r not in (1, n) for r, n in zip(rs, gs[lead:], strict=True)):
        # a cotangent narrower than its target: broadcasting it is the adjoint's meaning
        return apply("broadcast_to", g, shape=rs)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, r in enumerate(rs) if r == 1 and gs[lead + i] != 1
    )
    out = apply("sum", g, axis=axes, keepdims=False) if axes else g
    return out if out.shape == rs else apply("reshape", out, shape=rs)


# Specialization (transforms/specialize.py) reads this mark: the lowering of a node whose
# two arguments have equal static shapes is its first argument, so it skips the lowering
# call (a gradient over undeclared scalars holds one sum_to_like per binary op).
_lower_sum_to.same_shape_is_first = True  # type: ignore[attr-defined]


def _lower_unreduce(g, x, axis, keepdims):
    """A reduction's cotangent spread back over the reduced axes of ``x``."""
    if type(const_value(g)) is float:
        if x.dtype is None:
            return None  # the weak seed takes x's float dtype: wait until it is known
        if x.dtype.kind == "f":
            g = as_expr(np.asarray(const_value(g), dtype=x.dtype), g.graph)
    if axis is not None and not keepdims:
        axes = axis if isinstance(axis, tuple) else (axis,)
        nd = len(x.shape)
        kept = sorted(a % nd for a in axes)
        shape = list(g.shape)
        for a in kept:
            shape.insert(a, 1)
        g = apply("reshape", g, shape=tuple(shape))
    if g.shape == x.shape:
        return g
    return apply("broadcast_to", g, shape=x.shape)


_lower_unreduce.type_only = (1,)  # type: ignore[attr-defined]  # x's shape and dtype alone


def _lower_like(op_name):
    def lower(a, ref):
        if a.shape == ref.shape:
            return a
        return apply(op_name, a, shape=ref.shape)

    lower.same_shape_is_first = True  # type: ignore[attr-defined]
    return lower


def _lower_astype(a, ref):
    if a.dtype is None or ref.dtype is None:
        return None
    return a if a.dtype == ref.dtype else None


def _lower_fill(fill):
    def lower(x):
        if x.dtype is None:
            return None
        dt = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
        shape = x.shape
        if int(np.prod(shape)) <= _FILL_CONSTANT_MAX:
            return as_expr(np.full(shape, fill, dtype=dt), x.graph)
        return apply("broadcast_to", as_expr(np.asarray(fill, dtype=dt), x.graph), shape=shape)

    # specialization reads this mark (positions of arguments): the lowering uses their
    # shape, dtype and graph alone, so a node needed only here is inferred, not built
    lower.type_only = (0,)  # type: ignore[attr-defined]
    return lower


def _lower_numel(x, axis):
    shape = x.shape
    if axis is None:
        return as_expr(float(np.prod(shape)), x.graph)
    axes = axis if isinstance(axis, tuple) else (axis,)
    return as_expr(float(np.prod([shape[a] for a in axes])), x.graph)


_lower_numel.type_only = (0,)  # type: ignore[attr-defined]  # its shape and graph alone


def _linear_jvp(name):
    """JVP of an op linear in its first argument: the op applied to the tangent."""

    def jvp(tangents, ans, first, *rest, **params):
        return None if tangents[0] is None else apply(name, tangents[0], *rest, **params)

    return jvp


def _reg(name, src, fn_name, nargs, vjp, *, shape=None, dtype="first", sympy=None, **kw):
    """Register a rule helper op (internal unless the ``ga`` namespace offers it)."""
    kw.setdefault("internal", name not in ("zeros_like", "ones_like"))
    impl = _exec_helper(src, fn_name)
    params = kw.pop("param_names", ())
    sig = ", ".join([f"{{{i}}}" for i in range(nargs)] + [f"{p}={{{p}}}" for p in params])
    return register(
        Op(
            name=name,
            impl=impl,
            nargs=nargs,
            vjp=vjp,
            shape=shape,
            dtype=dtype,
            sympy=sympy,
            emit=f"{fn_name}({sig})",
            helper=src,
            **kw,
        )
    )


_reg(
    "sum_to_like",
    SUM_TO_SRC,
    "_ga_sum_to",
    2,
    lambda g, ans, a, ref: [broadcast_like(g, a), None],
    jvp=_linear_jvp("sum_to_like"),
    shape=lambda a, ref: ref,
    label="sum_to",
    cases=(([(2, 3, 4), (3, 1)], {}), ([(3,), ()], {})),
    sympy=lambda sp, a, ref: a,
    lower=_lower_sum_to,
)
_reg(
    "unreduce",
    UNREDUCE_SRC,
    "_ga_unreduce",
    2,
    lambda g, ans, a, ref, axis, keepdims: [apply("sum", g, axis=axis, keepdims=keepdims), None],
    jvp=_linear_jvp("unreduce"),
    shape=lambda a, ref, **p: ref,
    param_names=("axis", "keepdims"),
    label="unreduce",
    cases=(
        ([(2, 4), (2, 3, 4)], {"axis": 1, "keepdims": False}),
        ([(), (3,)], {"axis": None, "keepdims": False}),
    ),
    sympy=lambda sp, a, ref, **p: a,
    lower=_lower_unreduce,
)
register(
    Op(
        name="broadcast_like",
        internal=True,
        impl=lambda a, ref: np.broadcast_to(a, np.shape(ref)),
        nargs=2,
        vjp=lambda g, ans, a, ref: [sum_to(g, a), None],
        jvp=_linear_jvp("broadcast_like"),
        shape=lambda a, ref: ref,
        dtype="first",
        emit="np.broadcast_to({0}, np.shape({1}))",
        duck_emit="np.broadcast_to(_ga_kind({0}, {1}), np.shape({1}))",
        helper=KIND_SRC,
        label="broadcast",
        cases=(([(3, 1), (2, 3, 4)], {}),),
        sympy=lambda sp, a, ref: a,
        lower=_lower_like("broadcast_to"),
    )
)
register(
    Op(
        name="reshape_like",
        internal=True,
        impl=lambda a, ref: np.reshape(a, np.shape(ref)),
        nargs=2,
        vjp=lambda g, ans, a, ref: [reshape_like(g, a), None],
        jvp=_linear_jvp("reshape_like"),
        shape=lambda a, ref: ref,
        dtype="first",
        emit="np.reshape({0}, np.shape({1}))",
        # Dask reshapes only by merging or splitting axes: through 1-D is both
        duck_emit="np.reshape(np.reshape({0}, (-1,)), np.shape({1}))",
        label="reshape",
        cases=(([(6,), (2, 3)], {}),),
        sympy=lambda sp, a, ref: a,
        lower=_lower_like("reshape"),
    )
)
_reg(
    "astype_like",
    ASTYPE_SRC,
    "_ga_astype",
    2,
    lambda g, ans, a, ref: [astype_like(g, a), None],
    jvp=_linear_jvp("astype_like"),
    shape=lambda a, ref: a,
    dtype=lambda a, ref: ref,
    label="cast",
    cases=(([(3,), (3,)], {}),),
    sympy=lambda sp, a, ref: a,
    lower=_lower_astype,
)
for _fill, _src, _value in (("zeros", ZEROS_SRC, 0), ("ones", ONES_SRC, 1)):
    _reg(
        f"{_fill}_like",
        _src,
        f"_ga_{_fill}_like",
        1,
        lambda g, ans, x: [None],
        shape=lambda x: x,
        dtype="float",
        differentiable=False,
        sympy=lambda sp, x, _v=_value: sp.Integer(_v),
        label=_fill,
        numpy=f"np.{_fill}_like",
        cases=(([(2, 3)], {}),),
        lower=_lower_fill(_value),
    )
_reg(
    "numel",
    NUMEL_SRC,
    "_ga_numel",
    1,
    lambda g, ans, x, axis: [None],
    shape=lambda x, **p: (),
    dtype=lambda x, **p: None,
    differentiable=False,
    param_names=("axis",),
    label="count",
    cases=(([(2, 3)], {"axis": None}), ([(2, 3)], {"axis": 1})),
    lower=_lower_numel,
)


# -- autodiff's own nodes ----------------------------------------------------------------


def _no_value(*_):
    raise GraphadError("a transposition placeholder was evaluated; this is a bug in a JVP rule")


def _unexpanded(*_):
    raise GraphadError(
        "a jacobian node runs only in a graph specialized to concrete shapes "
        "(Expr.eval and ga.compile do that); this is a bug in the caller"
    )


def _jacobian_vjp(g, ans, v, x, d):
    raise GraphadError(
        "differentiating a Jacobian of expressions whose shapes are unknown when the graph "
        "is built is not supported; declare the shapes (ga.symbol(name, shape=...)) or "
        "differentiate the function with ga.jacfwd/ga.hessian on a callable"
    )


register(
    Op(
        name="placeholder_like",
        internal=True,
        impl=_no_value,
        nargs=1,
        vjp=lambda g, ans, x: [None],
        shape=lambda s: s,
        dtype="first",
        differentiable=False,
        foldable=False,
        label="u",
        cases=(),  # exists only inside a transposition (JVP from VJP)
        doc="The variable of a linear map being transposed; never evaluated.",
    )
)
register(
    Op(
        name="jacobian",
        internal=True,
        impl=_unexpanded,
        nargs=3,
        vjp=_jacobian_vjp,
        shape=lambda v, x, d: tuple(v) + tuple(x),
        dtype=lambda v, x, d: d,
        label="jacobian",
        foldable=False,
        # its lower facet (rows of VJPs) is provided by graphad.autodiff
        sympy=lambda sp, v, x, d: d,  # SymPy's symbols are scalars: d v / d x
        cases=(),  # expanded by specialization; tested with ga.jacobian
        doc="d v / d x, expanded into VJPs once the shapes are static.",
    )
)


# -- public helpers used by rules ---------------------------------------------------------


def _same_shape(a, b) -> bool:
    """True when a and b certainly have the same shape: the same node, or equal static shapes."""
    if a.id == b.id:
        return True
    s_a = a.graph.records()[a.id]["shape"]
    return s_a is not None and s_a == b.graph.records()[b.id]["shape"]


def sum_to(g, like):
    """``g`` summed over the axes broadcasting added, down to the shape of ``like``.

    The one place where broadcasting is undone.  Free when shapes are static and equal;
    otherwise a ``sum_to_like`` node that lowers to ``sum`` once shapes are known.
    """
    if g is None:
        return None
    if _same_shape(g, like):
        return g
    return apply("sum_to_like", g, like)


def broadcast_like(a, like):
    if _same_shape(a, like):
        return a
    return apply("broadcast_like", a, like)


def reshape_like(a, like):
    if _same_shape(a, like):
        return a
    return apply("reshape_like", a, like)


def astype_like(a, like):
    return apply("astype_like", a, like)


def unreduce(g, like, axis, keepdims):
    """The VJP of a reduction: ``g`` expanded back over the reduced axes of ``like``."""
    return apply("unreduce", g, like, axis=axis, keepdims=keepdims)


@export
def zeros_like(x):
    """Zeros of ``x``'s shape, with ``x``'s float dtype (float64 for integer ``x``)."""
    return apply("zeros_like", x)


@export
def ones_like(x):
    """Ones of ``x``'s shape, with ``x``'s float dtype (float64 for integer ``x``)."""
    return apply("ones_like", x)


def numel(x, axis=None):
    return apply("numel", x, axis=axis)


# -- rules derived from elementwise partials ------------------------------------------------


def _scale(g, p):
    """``g * p`` without emitting a node for p == 1, and None for p == 0."""
    c = p if isinstance(p, int | float) else const_value(p)
    if isinstance(c, int | float) and not isinstance(c, bool):
        if c == 1:
            return g
        if c == -1:
            return apply("negative", g)
        if c == 0:
            return None
    seed = const_value(g)
    if type(seed) is float and seed == 1.0 and not isinstance(p, int | float):
        dt = p.graph.records()[p.id]["dtype"]
        if dt is not None and dt.kind == "f":
            return p  # the weak seed of a float scalar output: 1.0 * p is p, dtype and all
    return apply("multiply", g, p)


def _scale_id(graph, records, g: int, p) -> int | None:
    """:func:`_scale` on node ids (``g`` a node of ``graph``, ``p`` a partial): the same
    node, without the Exprs."""
    tp = type(p)
    if tp is Expr and p.graph is graph:
        node = records[p.id]
        c = node.value if node.op == "constant" else None
    elif tp is int or tp is float:
        c = p
    else:  # anything else (a bool, another graph's node): the general form decides
        out = _scale(Expr(graph, g), p)
        return None if out is None else as_expr(out, graph).id
    if (type(c) is int or type(c) is float) or (
        isinstance(c, int | float) and not isinstance(c, bool)
    ):
        if c == 1:
            return g
        if c == -1:
            return build_node(graph, "negative", (g,), records)
        if c == 0:
            return None
    if tp is not Expr:  # a Python number: made a constant by apply
        return apply("multiply", Expr(graph, g), p).id
    seed = records[g]
    if seed.op == "constant" and type(seed.value) is float and seed.value == 1.0:
        dt = records[p.id].dtype
        if dt is not None and dt.kind == "f":
            return p.id  # the weak seed of a float scalar output: 1.0 * p is p, dtype and all
    return build_node(graph, "multiply", (g, p.id), records)


def _force(p):
    """A partial may be a thunk, so that an unneeded one is never built."""
    return p() if callable(p) else p


def derived_vjp(op: Op, g, ans, args, needed):
    """The cotangents of ``args`` (Exprs; ``None`` where not ``needed`` or zero) from the
    elementwise op's partials and the cotangent ``g`` of its result ``ans``."""
    graph = ans.graph
    ids = derived_vjp_ids(op, graph, as_expr(g, graph).id, ans, args, needed)
    return [None if c is None else Expr(graph, c) for c in ids]


def derived_vjp_ids(op: Op, graph, g: int, ans, args, needed) -> list[int | None]:
    """:func:`derived_vjp` with the cotangent ``g`` and the results as node ids of
    ``graph`` (autodiff's pass works on ids)."""
    parts = op.partials(ans, *args)
    unary = len(args) == 1  # the result has its argument's shape: nothing to undo
    records = graph.records()
    out: list[int | None] = []
    for p, a, need in zip(parts, args, needed, strict=True):
        if not need:
            out.append(None)
            continue
        if callable(p):
            p = p()
        if p is None:
            out.append(None)
            continue
        term = _scale_id(graph, records, g, p)
        if term is None or unary:
            out.append(term)
            continue
        # sum_to(term, a), on ids
        aid = a.id
        if term == aid:
            out.append(term)
            continue
        s_t = records[term].shape
        if s_t is not None and s_t == records[aid].shape:
            out.append(term)
        else:
            out.append(build_node(graph, "sum_to_like", (term, aid), records))
    return out


def derived_jvp(op: Op, tangents, ans, args):
    parts = op.partials(ans, *args)
    total = None
    for p, t in zip(parts, tangents, strict=True):
        if t is None or (p := _force(p)) is None:
            continue
        term = _scale(t, p)
        if term is not None:
            total = term if total is None else apply("add", total, term)
    return None if total is None else broadcast_like(total, ans)
