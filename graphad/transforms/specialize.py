"""Specialization: a graph fixed to the concrete types of the values it runs with.

Graphs over symbols without declared shapes stay shape-polymorphic while they
are built, printed and drawn: a gradient holds ``sum_to_like(g, x)`` where
broadcasting may have happened, ``ones_like(f)`` as the seed of a non-scalar
output, ``jacobian(v, x)`` where the number of rows is not known yet.
Evaluation and compilation do what ``jax.jit`` does per input signature: they
replay the graph into a fresh copy whose inputs are declared with the shapes
and dtypes of the actual values.  Each op is rebuilt through the op table's
:func:`~graphad.ops.core.apply`, so shape and dtype inference runs on concrete
types (a mismatch is a :class:`~graphad.ShapeError` naming the op), and
every shape helper lowers to plain ops or vanishes (its ``lower`` facet).  The
copy then holds exactly what a graph built from declared shapes would, and the
rewrite rows, fusion, batching and code generation see static shapes and
dtypes everywhere.

The copy is made once per (outputs, input types) and cached on the graph
(bounded, least recently used first out); nodes of a graph never change once
built, so a cached copy stays valid while the graph grows.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import DTypeError, MissingInputError
from ..core.graph import Graph, Node
from ..ops import OPS

__all__ = [
    "Specialized",
    "specialize",
    "specialized",
    "value_type",
    "peak_live_elements",
    "check_live_elements",
    "CACHE_SIZE",
]

# Specializations kept per graph (and per compiled Function).
CACHE_SIZE = 32

InputType = tuple[tuple[int, ...], np.dtype]


@dataclass(frozen=True)
class Specialized:
    """A specialized copy: ``graph``, and the ids of the outputs and inputs in it."""

    graph: Graph
    outputs: tuple[int, ...]
    inputs: tuple[int, ...]
    mapping: dict[int, int]


def value_type(value: Any) -> InputType:
    """The (shape, dtype) a value gives an input (NumPy's rules: a Python float is float64)."""
    if type(value) is float:
        return (), _F64
    if isinstance(value, np.ndarray | np.generic):
        return value.shape, value.dtype
    arr = np.asarray(value)
    return arr.shape, arr.dtype


_F64 = np.dtype(np.float64)


def specialize(
    graph: Graph,
    outputs: Sequence[int],
    inputs: Sequence[int],
    types: Sequence[InputType],
    *,
    marks: bool = True,
    builder: Any = None,
    into: Graph | None = None,
    shape_only: bool = False,
) -> Specialized:
    """Replay what ``outputs`` need into a new graph whose ``inputs`` have ``types``.

    Inputs with a declared shape or dtype keep it (a value of another type is
    checked and cast before it reaches the specialized code).  Roles, and with
    ``marks`` the adjoint marks, are carried over, so a specialized gradient still
    draws as one.

    ``builder`` (with ``into``, the graph it builds in) makes each node instead of
    plain hash-consing: ``builder.make(op, args, params, shape, dtype, role)`` for an
    op with static inference, ``builder.adopt(first_new_id, out)`` after a lowering or
    ``apply`` made nodes its own way.  The rewriter is one (specialization and
    optimization in one copy: :func:`graphad.transforms.rewrite.optimize_specialized`).

    ``shape_only``: a node the outputs need only for its type (the second argument of
    a ``sum_to_like``, the argument of a ``ones_like``, directly or through plain ops)
    is inferred but not built; the returned ``mapping`` leaves such nodes out.  Raises
    :class:`NeedsValue` (nothing useful is left in ``into``) where one turns out to be
    needed after all: the caller starts again without it.
    """
    from ..ops import OPS
    from ..ops.core import Expr, apply, infer

    nodes = graph.records()
    order = graph.topo(outputs)
    ghost_ids = _shape_only_nodes(nodes, order, outputs) if shape_only else ()
    ghosts: dict[int, Node] = {}  # negative ids: records of nodes inferred, never built

    def rebuild(new: Graph, n: int, node: Node, ids: tuple[int, ...]) -> int | None:
        # runs with ``new`` the innermost graph (a node made of constants alone goes
        # there, not to the caller's) and the node's role as the role of what it builds
        op_name = node.op
        if op_name == "input":
            raise MissingInputError(f"no value given for input {node.name!r}")
        if op_name == "constant":
            return None  # shared, as it is
        new_nodes = new.records()
        if node.grad_wrt is not None:
            _refuse_integer_wrt(nodes, new_nodes, mapping, node.grad_wrt)
        op = OPS[op_name]
        params = node.params
        if n in ghost_ids:  # needed for its shape alone: inferred, not built
            recs = [new_nodes[i] if i >= 0 else ghosts[i] for i in ids]
            shape, dtype = infer(op, recs, dict(params) if params else {})
            gid = -1 - len(ghosts)
            ghosts[gid] = Node(op_name, ids, params, node.role, shape, dtype, None)
            return gid
        if op.nargs is None:
            before = new.next_id
            made = apply(op_name, [Expr(new, i) for i in ids], **dict(params)).id
            return made if builder is None else builder.adopt(before, made)
        if op.lower is None:
            # the common case, without apply's generality: infer, then hash-cons
            shape, dtype = infer(op, [new_nodes[i] for i in ids], dict(params) if params else {})
            if builder is not None:
                return builder.make(op_name, ids, params, shape, dtype, node.role)
            return new.apply(op_name, ids, params, shape, dtype)
        # a shape helper: its lower facet directly (most are the identity here, and a
        # gradient over undeclared inputs holds many), else apply
        if len(ids) == 2 and getattr(op.lower, "same_shape_is_first", False):
            s0 = new_nodes[ids[0]].shape
            i1 = ids[1]
            if s0 is not None and s0 == (new_nodes[i1] if i1 >= 0 else ghosts[i1]).shape:
                return ids[0]  # what the lowering returns, without building its Exprs
        if ids and min(ids) < 0:
            # a lowering that reads only the type of an argument left unbuilt (the
            # marks on the lowerings in ops/rules.py say which): the type stands in for it
            recs = [new_nodes[i] if i >= 0 else ghosts[i] for i in ids]
            if any(r.shape is None for r in recs):
                raise NeedsValue(f"v{n} needs an argument whose shape is not known")
            before = new.next_id
            args = [
                Expr(new, i) if i >= 0 else _TypeOf(r.shape, r.dtype, new)
                for i, r in zip(ids, recs, strict=True)
            ]
            out = op.lower(*args, **dict(params))
            if out is None:
                raise NeedsValue(f"v{n} cannot be lowered from its arguments' types")
            return out.id if builder is None else builder.adopt(before, out.id)
        before = new.next_id
        args = [Expr(new, i) for i in ids]
        out = None
        if all(new_nodes[i].shape is not None for i in ids):
            out = op.lower(*args, **dict(params))
        made = (out if out is not None else apply(op_name, *args, **dict(params))).id
        return made if builder is None else builder.adopt(before, made)

    target = into if into is not None else Graph()
    mapping: dict[int, int] = {}
    for nid, (shape, dtype) in zip(inputs, types, strict=True):
        node = nodes[nid]
        mapping[nid] = target.input(
            node.name,  # type: ignore[arg-type]
            node.shape if node.shape is not None else shape,
            node.dtype if node.dtype is not None else dtype,
        )
    new, mapping = graph.copy(
        outputs, remap=rebuild, seed=mapping, marks=marks, into=target, order=order
    )
    if ghosts:
        mapping = {k: v for k, v in mapping.items() if v >= 0}
    return Specialized(
        new,
        tuple(mapping[o] for o in outputs),
        tuple(mapping[i] for i in inputs),
        mapping,
    )


class NeedsValue(Exception):
    """Internal: a node :func:`specialize` left unbuilt (``shape_only``) is needed."""


class _TypeOf:
    """What a lowering marked ``type_only`` (or the reference of a ``same_shape_is_first``
    one) reads of an argument: its shape, dtype and graph."""

    __slots__ = ("shape", "dtype", "graph")

    def __init__(self, shape: tuple[int, ...], dtype: Any, graph: Graph) -> None:
        self.shape, self.dtype, self.graph = shape, dtype, graph


def _shape_only_nodes(nodes: dict, order: list[int], outputs: Sequence[int]) -> set[int]:
    """The nodes of ``order`` (arguments first) that ``outputs`` need only for their
    shape and that can be inferred without being built (plain ops: no lowering, no
    variable arity).  One pass, users first: a node is needed for its value if a node
    needed for its value takes it, other than as a ``same_shape_is_first`` reference or
    an argument a lowering marks ``type_only`` (``ones_like``'s, ``unreduce``'s second)."""
    value, shape = 1, 2
    state = dict.fromkeys(outputs, value)
    ghost: set[int] = set()
    # per op: () a plain op, else the positions of the arguments its lowering reads
    # the type of alone, None for any other op (every argument's value is built)
    kinds: dict[str, tuple[int, ...] | None] = {}
    for n in reversed(order):
        node = nodes[n]
        args = node.args
        if not args:
            continue
        op_name = node.op
        kind = kinds[op_name] if op_name in kinds else kinds.setdefault(op_name, _kind(op_name))
        if kind == ():
            if state.get(n) == shape and node.grad_wrt is None:
                ghost.add(n)
                for a in args:
                    state.setdefault(a, shape)
                continue
        elif kind is not None and len(args) > max(kind):
            for k, a in enumerate(args):
                if k in kind:
                    state.setdefault(a, shape)
                else:
                    state[a] = value
            continue
        for a in args:
            state[a] = value
    return ghost


def _kind(op_name: str) -> tuple[int, ...] | None:
    op = OPS.get(op_name)
    if op is None:
        return None
    lower = op.lower
    if lower is None:
        return () if op.nargs is not None else None
    if getattr(lower, "same_shape_is_first", False):
        return (1,)
    return getattr(lower, "type_only", None)


def _refuse_integer_wrt(nodes: dict, new_nodes: dict, mapping: dict, wrt: set) -> None:
    """A derivative with respect to an input given integers is refused, as ``jax.grad``
    and ``ga.grad(fn)`` refuse it: its chain-rule factors would run in integer
    arithmetic (d(x**2)/dx at int8(100) wraps to -56)."""
    for w in wrt:
        m = mapping.get(w)
        if m is None or nodes[w].op != "input":
            continue
        dt = new_nodes[m].dtype
        if dt is not None and dt.kind not in "fc":
            raise DTypeError(
                f"input {nodes[w].name!r} is differentiated but given {dt} values; "
                f"gradients need floating-point inputs (convert with .astype(float))"
            )


def specialized(
    graph: Graph,
    outputs: Sequence[int],
    inputs: Sequence[int],
    types: Sequence[InputType],
) -> Specialized:
    """:func:`specialize` without adjoint marks (for evaluation), cached on ``graph``
    per (outputs, inputs, types)."""
    key = (tuple(outputs), tuple(inputs), tuple(types))
    with graph.lock:
        cache = graph.cache("specialized")
        if not cache:
            cache["lru"] = OrderedDict()
        cache = cache["lru"]
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    spec = specialize(graph, outputs, inputs, types, marks=False)
    with graph.lock:
        cache[key] = spec
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return spec


def peak_live_elements(graph: Graph, outputs: Sequence[int]) -> int:
    """The most array elements the schedule of ``outputs`` holds alive at once.

    The schedule is the topological order evaluation and generated code follow,
    each value freed after its last use (outputs are kept).  Inputs count, views
    and constants do not; a node of unknown shape counts as its arguments together.
    """
    nodes = graph.records()
    order = graph.topo(outputs)
    last: dict[int, int] = {}
    for pos, n in enumerate(order):
        for a in nodes[n].args:
            last[a] = pos
    keep = set(outputs)
    size: dict[int, int] = {}
    free_at: dict[int, list[int]] = {}
    live = peak = 0
    for pos, n in enumerate(order):
        node = nodes[n]
        shape = node.shape
        # the op table's view facet: a view of an argument (or of a constant) costs nothing
        if node.op == "constant" or (node.op in OPS and OPS[node.op].view):
            count = 0
        elif shape is not None:
            count = math.prod(shape)
        else:  # a custom op without a shape rule: as large as its arguments together
            count = max(1, sum(size.get(a, 0) for a in node.args))
        size[n] = count
        live += count
        peak = max(peak, live)
        if n not in keep and n in last:
            free_at.setdefault(last[n], []).append(n)
        elif n not in keep:
            live -= count  # used by nothing: dropped at once
        for d in free_at.pop(pos, ()):
            live -= size[d]
    return peak


def check_live_elements(graph: Graph, outputs: Sequence[int]) -> None:
    """Raise :class:`~graphad.LimitError` if the schedule's peak is over the limit."""
    from ..core.errors import LimitError
    from ..core.limits import current

    limit = current().max_live_elements
    total = 0  # every node's elements at once bounds the peak: most graphs stop here
    for node in graph.records().values():
        shape = node.shape
        total += math.prod(shape) if shape is not None else limit + 1
        if total > limit:
            break
    else:
        return
    peak = peak_live_elements(graph, outputs)
    if peak > limit:
        raise LimitError(
            f"evaluating this graph holds about {peak:,} array elements alive at once "
            f"(its schedule's peak for these input shapes), over max_live_elements={limit:,}; "
            f"raise it with ga.limits.override(max_live_elements=...) if that is intended"
        )
