"""Batching as a graph transformation: the graph of one example becomes the graph of a batch.

:func:`batch` takes output nodes of a graph traced on one example and the
inputs that stand for the example's batched arguments, and rebuilds every node
that depends on them so that it carries a leading batch axis of size ``B``.
Nodes that do not depend on a batched input (weights shared by all examples,
constants, closures) are reused as they are.  Each op is rewritten by a rule:

* elementwise ops: batched operands are given the output's rank (a batched
  scalar against an unbatched vector is reshaped to ``(B, 1)``), so NumPy's
  right-aligned broadcasting pairs the example axes, and the op is applied once;
* reductions, softmax, transpose, concatenate, stack: their axes shift by one;
* reshape, broadcast_to: the target shape gains the batch axis;
* matmul and 1-D/2-D dot: operands made at least 2-D, batched ones given a
  common rank, so that the batch axis is one of matmul's batch axes;
* getitem and the gradients' slicing helpers (``getitem_grad``, ``concat_part``,
  ``stack_part``): a full slice is prepended to the index, or the axis shifts;
* shape helpers that gradients leave behind (``sum_to_like`` ...): lowered on
  the example's static shapes first (their ``lower`` facet), then batched;
* any other op (a custom op, N-D ``dot``): applied per example and stacked
  -- correct for every op, ``B`` nodes instead of one.

Every rule needs the example's static shapes, which tracing a function on
arrays provides (``ga.vmap`` on functions).  The walk is iterative, in node-id
order (a topological order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph, ancestors
from ..ops import OPS, apply
from ..ops.linalg import broadcast_to, matmul, reshape, stack, transpose

__all__ = ["batch", "move_batch_axis", "tile"]

_REDUCTIONS = {"sum", "mean", "prod", "max", "min", "logsumexp"}
_AXIS_OPS = {"softmax", "log_softmax"}


def batch(
    graph: Graph, outputs: Sequence[int], batched: Mapping[int, Expr], size: int
) -> list[tuple[Expr, bool]]:
    """Batched versions of ``outputs``: per output ``(expr, is_batched)``.

    ``batched`` maps input nodes of the example graph to Exprs holding the whole
    batch, batch axis first.  An output that depends on no batched input comes back
    unchanged with ``is_batched`` False.
    """
    memo: dict[int, Expr] = dict(batched)  # example node -> batched Expr (axis 0)
    _batch_nodes(graph, list(outputs), memo, size)
    return [(memo[o], True) if o in memo else (Expr(graph, o), False) for o in outputs]


def _batch_nodes(graph: Graph, outputs: list[int], memo: dict[int, Expr], size: int) -> None:
    nodes = graph.records()
    pending = [outputs]
    while pending:
        targets = pending.pop()
        for n in sorted(ancestors(graph, targets, stop=memo)):
            if n in memo:
                continue
            node = nodes[n]
            if not any(a in memo for a in node["args"]):
                continue  # shared by every example
            lowered = _lower_first(graph, n)
            if lowered is not None and lowered.id != n:
                # batch the lowered form (plain ops), then take its result for n
                _batch_nodes(graph, [lowered.id], memo, size)
                memo[n] = memo[lowered.id] if lowered.id in memo else tile(lowered, size)
                continue
            memo[n] = _rule(graph, n, memo, size)


def _lower_first(graph: Graph, n: int) -> Expr | None:
    node = graph.records()[n]
    op = OPS.get(node["op"])
    if op is None or op.lower is None or node["op"] == "dot":
        return None
    args = [Expr(graph, a) for a in node["args"]]
    if any(a.shape is None for a in args):
        return None
    return op.lower(*args, **dict(node["params"]))


def tile(e: Expr, size: int) -> Expr:
    """An unbatched value repeated for every example (batch axis first)."""
    if e.shape is None:
        raise GraphadError("vmap: a value of unknown shape cannot be given a batch axis")
    return broadcast_to(e, (size, *e.shape))


def _example_shape(graph: Graph, n: int) -> tuple[int, ...]:
    shape = graph.records()[n]["shape"]
    if shape is None:
        op = graph.records()[n]["op"]
        raise GraphadError(
            f"vmap: the {op} node v{n} has no static shape; vmap needs the shapes of one "
            f"example (call the vmapped function with arrays, or declare the symbols' shapes)"
        )
    return tuple(shape)


def _with_rank(e: Expr, example: tuple[int, ...], rank: int) -> Expr:
    """A batched value (``(B,) + example``) with ones inserted after the batch axis up to
    ``rank`` example axes, so that right-aligned broadcasting pairs the example axes."""
    if len(example) >= rank:
        return e
    return reshape(e, (e.shape[0], *(1,) * (rank - len(example)), *example))


def _shift_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise GraphadError(f"vmap: axis {axis} out of range for rank {rank}")
    return axis % rank + 1


def _rule(graph: Graph, n: int, memo: dict[int, Expr], size: int) -> Expr:
    node = graph.records()[n]
    name = node["op"]
    op = OPS[name]
    params = dict(node["params"])
    argn = node["args"]
    args = [memo.get(a, Expr(graph, a)) for a in argn]
    is_b = [a in memo for a in argn]
    shapes = [graph.records()[a]["shape"] for a in argn]
    out_shape = graph.records()[n]["shape"]
    known = out_shape is not None and all(s is not None for s in shapes)

    if known and (op.elementwise or name in ("zeros_like", "ones_like")):
        rank = len(out_shape)
        moved = [
            _with_rank(e, tuple(s), rank) if b else e
            for e, s, b in zip(args, shapes, is_b, strict=True)
        ]
        return apply(name, *moved, **params)
    if known and name in _REDUCTIONS:
        rank = len(shapes[0])
        axis = params.get("axis")
        if axis is None:
            new_axis: int | tuple = tuple(range(1, rank + 1))
        elif isinstance(axis, int):
            new_axis = _shift_axis(axis, rank)
        else:
            new_axis = tuple(_shift_axis(a, rank) for a in axis)
        return apply(name, args[0], axis=new_axis, keepdims=params.get("keepdims", False))
    if known and name in _AXIS_OPS:
        return apply(name, args[0], axis=_shift_axis(params["axis"], len(shapes[0])))
    if known and name == "transpose":
        rank = len(shapes[0])
        axes = params.get("axes")
        perm = tuple(reversed(range(rank))) if axes is None else tuple(a % rank for a in axes)
        return transpose(args[0], (0, *(a + 1 for a in perm)))
    if known and name == "reshape":
        return reshape(args[0], (size, *out_shape))
    if known and name == "broadcast_to":
        x = _with_rank(args[0], tuple(shapes[0]), len(out_shape))
        return broadcast_to(x, (size, *out_shape))
    if known and name == "getitem":
        return apply("getitem", args[0], index=(("slice", None, None, None), *params["index"]))
    if known and name in ("concatenate", "stack"):
        parts = [e if b else tile(e, size) for e, b in zip(args, is_b, strict=True)]
        rank = len(shapes[0]) + (1 if name == "stack" else 0)
        return apply(name, parts, axis=_shift_axis(params["axis"], rank))
    if known and name == "getitem_grad":  # scatter g into zeros shaped like x
        g, x = (e if b else tile(e, size) for e, b in zip(args, is_b, strict=True))
        return apply(name, g, x, index=(("slice", None, None, None), *params["index"]))
    if known and name == "concat_part":  # the slice of g that one operand received
        parts = [e if b else tile(e, size) for e, b in zip(args, is_b, strict=True)]
        axis = _shift_axis(params["axis"], len(shapes[0]))
        return apply(name, parts, index=params["index"], axis=axis)
    if known and name == "stack_part":
        axis = _shift_axis(params["axis"], len(shapes[0]))
        return apply(name, args[0], index=params["index"], count=params["count"], axis=axis)
    if known and name in ("matmul", "dot") and all(1 <= len(s) <= 2 for s in shapes):
        return _matmul_rule(args, shapes, is_b, out_shape, size)
    return _per_example(graph, n, memo, size)


def _matmul_rule(args: list, shapes: list, is_b: list, out_shape: tuple, size: int) -> Expr:
    (a, b), (sa, sb) = args, shapes
    ba, bb = is_b
    # 1-D operands as matmul reads them: (1, k) and (k, 1)
    if len(sa) == 1:
        sa2 = (1, sa[0])
        a = reshape(a, (size, *sa2)) if ba else reshape(a, sa2)
    else:
        sa2 = tuple(sa)
    if len(sb) == 1:
        sb2 = (sb[0], 1)
        b = reshape(b, (size, *sb2)) if bb else reshape(b, sb2)
    else:
        sb2 = tuple(sb)
    r = matmul(a, b)  # batched operands carry B in front of their 2 axes: (B, m, n)
    return reshape(r, (size, *out_shape))


def _per_example(graph: Graph, n: int, memo: dict[int, Expr], size: int) -> Expr:
    """The op applied to each example's slice, stacked: right for any op."""
    node = graph.records()[n]
    name = node["op"]
    op = OPS[name]
    params = dict(node["params"])
    rows = []
    for k in range(size):
        args = [
            apply("getitem", memo[a], index=(k,)) if a in memo else Expr(graph, a)
            for a in node["args"]
        ]
        rows.append(
            apply(name, args, **params) if op.nargs is None else apply(name, *args, **params)
        )
    return stack(rows, axis=0)


def move_batch_axis(e: Expr, axis: int) -> Expr:
    """A batched value (batch axis first) with its batch axis moved to ``axis``."""
    if axis == 0:
        return e
    if e.shape is None:
        raise GraphadError(
            f"vmap: out_axes {axis} for an output of unknown shape (a custom op's); use 0"
        )
    rank = len(e.shape)
    if not -rank <= axis < rank:
        raise GraphadError(
            f"vmap: out_axes {axis} out of range for an output with {rank - 1} example axes"
        )
    axis %= rank
    if axis == 0:
        return e
    perm = list(range(1, rank))
    perm.insert(axis, 0)
    return transpose(e, tuple(perm))
