"""Graph rewrites: constant folding, algebraic simplification, CSE and dead-node elimination.

The rules are data: each :class:`Row` of :data:`RULES` is a pattern over ops
(nested tuples such as ``("multiply", X, ONE)``), a replacement (a pattern
variable, a new node built from the variables, or a function), and a guard
that says where the rewrite is valid (shapes and dtypes kept, argument
non-negative ...).

:func:`optimize` never touches the user's graph.  It copies the nodes the
outputs need into a fresh :class:`~graphad.core.graph.Graph`, in topological
order, normalising each node as it is created: constant folding first, then
the rows, repeated on the result until none applies.  Arguments are already
in normal form when a node is built, and every row looks only at a node and
its arguments, so this single bottom-up pass reaches the fixed point of all
rows.  Hash-consing in the fresh graph merges the nodes the rewrites made
equal (CSE), and a final sweep drops the nodes no output needs (DCE).  Every
step is an iterative loop over the nodes: linear in the graph's size.

One module on purpose, though past 600 lines: the rewrite rows are data and the matcher
that applies them is short; the rows (each with its guard) are most of the length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ..core.graph import Graph, Node, carry_adjoints, gc_paused
from ..ops import OPS
from ..ops.core import _result_dtype

__all__ = ["FOLD_MAX_SIZE", "RULES", "Row", "optimize", "optimize_ids"]

# Constant folding never creates an array with more elements than this: a
# folded constant is held in memory and, on export, written out.
FOLD_MAX_SIZE = 10_000
# -- patterns ----------------------------------------------------------------------------


class _Var(str):
    """A pattern variable: matches any node and binds it to its name."""


class _Const:
    """A pattern leaf matching a constant whose every element equals ``value``."""

    def __init__(self, value: float, name: str):
        self.value = value
        self.name = name

    def __repr__(self) -> str:
        return self.name


X, Y = _Var("X"), _Var("Y")
ZERO, ONE, MINUS_ONE = _Const(0, "ZERO"), _Const(1, "ONE"), _Const(-1, "MINUS_ONE")


@dataclass(frozen=True)
class Row:
    """One rewrite rule.

    Attributes
    ----------
    name : str
        Human name, e.g. ``"x*1"``.
    pattern : tuple
        ``(op, arg_pattern, ...)``; argument patterns are variables (``X``,
        ``Y``), constant leaves (``ZERO``, ``ONE``, ``MINUS_ONE``) or nested
        op patterns.
    replace : Var, tuple or callable
        A variable (the node is replaced by what it bound), ``(op, var, ...)``
        (a new node with the rewritten node's shape, dtype and params), or
        ``replace(rw, nid, binding) -> node id or None``.
    guard : callable, optional
        ``guard(rw, nid, binding) -> bool``; the row applies only where it holds.
    """

    name: str
    pattern: tuple
    replace: Any
    guard: Callable[..., bool] | None = None


# -- guards ---------------------------------------------------------------------------------


def _keeps(var: str) -> Callable[..., bool]:
    """The node can be replaced by ``var``'s node: same shape and same dtype.

    With dtypes unknown before evaluation, ``x * 1`` keeps x's dtype when x is
    certainly floating point and the other operand is a weak Python scalar
    (NumPy 2's promotion rules); an int or bool x would be promoted.
    """

    def guard(rw: _Rewriter, nid: int, b: dict) -> bool:
        x = b[var]
        others = [a for a in rw.args(nid) if a != x]
        # broadcasting against 0-d operands leaves x's shape, known or not
        if not (rw.same_shape(nid, x) or all(rw.nodes[a].shape == () for a in others)):
            return False
        dn, dx = rw.dtype(nid), rw.dtype(x)
        if dn is not None and dx is not None:
            return dn == dx
        return rw.is_float(x) and all(rw.is_weak(a) for a in others)

    return guard


def _int_zero(var: str) -> Callable[..., bool]:
    """``0 * x`` is 0 only for integers: a float x may be inf or NaN, and 0.0 * -1 is -0.0."""
    keeps = _keeps(var)

    def guard(rw: _Rewriter, nid: int, b: dict) -> bool:
        dt = rw.dtype(nid)
        return dt is not None and dt.kind in "biu" and keeps(rw, nid, b)

    return guard


def _never_negative_zero(op_name: str) -> bool:
    """The op table's range fact: the result is never -0.0 (adding +0.0 changes nothing)."""
    op = OPS.get(op_name)
    return op is not None and op.nonnegative and not op.custom


def _adds_zero(var: str, negative_zero: bool) -> Callable[..., bool]:
    """``x + z`` with z all zeros is x where IEEE says so: always for integers; for
    floats where z is -0.0 (``x + -0.0``, ``-0.0 - x``) or +0.0 (``x - 0.0``)
    as ``negative_zero`` says, or where x is never -0.0 itself."""
    keeps = _keeps(var)

    def guard(rw: _Rewriter, nid: int, b: dict) -> bool:
        if not keeps(rw, nid, b):
            return False
        x = b[var]
        dt = rw.dtype(x)
        if dt is not None and dt.kind in "biu":
            return True
        zero = next(a for a in rw.args(nid) if a != x or rw.args(nid).count(a) == 2)
        value = rw.nodes[zero].value
        if bool(np.all(np.signbit(value))) == negative_zero:
            return True
        return negative_zero and _never_negative_zero(rw.nodes[x].op)

    return guard


def _same_dtype(a: str, b: str) -> Callable[..., bool]:
    def guard(rw: _Rewriter, nid: int, bind: dict) -> bool:
        da, db = rw.dtype(bind[a]), rw.dtype(bind[b])
        return da is not None and da == db

    return guard


def _static_same_shape(rw: _Rewriter, nid: int, b: dict) -> bool:
    shape = rw.nodes[b["X"]]["shape"]
    return shape is not None and shape == rw.nodes[nid].shape


# -- replacements -------------------------------------------------------------------------


def _zeros(rw: _Rewriter, nid: int, b: dict) -> int | None:
    """``0 * x`` as a constant of zeros: only where the static shape and dtype are known."""
    node = rw.nodes[nid]
    shape, dtype = node.shape, node.dtype
    if shape is None or dtype is None or math.prod(shape) > FOLD_MAX_SIZE:
        return None
    return rw.constant(np.zeros(shape, dtype))


def _reshape_twice(rw: _Rewriter, nid: int, b: dict) -> int | None:
    node = rw.nodes[nid]
    return rw.make("reshape", (b["X"],), node.params, node, role=node.role)


def _transpose_twice(rw: _Rewriter, nid: int, b: dict) -> int | None:
    """Compose two permutations; the identity disappears."""
    outer = dict(rw.nodes[nid].params).get("axes")
    inner_id = rw.args(nid)[0]
    inner = dict(rw.nodes[inner_id].params).get("axes")
    x = b["X"]
    if outer is None and inner is None:
        return x
    shape = rw.nodes[x].shape
    if shape is None:
        return None
    nd = len(shape)
    p_in = list(range(nd))[::-1] if inner is None else [a % nd for a in inner]
    p_out = list(range(nd))[::-1] if outer is None else [a % nd for a in outer]
    perm = tuple(p_in[i] for i in p_out)
    if perm == tuple(range(nd)):
        return x
    node = rw.nodes[nid]
    return rw.make("transpose", (x,), (("axes", perm),), node, role=node.role)


def _reshape_noop(rw: _Rewriter, nid: int, b: dict) -> bool:
    shape = rw.nodes[b["X"]]["shape"]
    return shape is not None and shape == rw.nodes[nid].shape


def _static_shape(rw: _Rewriter, nid: int) -> Any:
    return rw.nodes[nid].shape


def _absorb_broadcast(rw: _Rewriter, nid: int, b: dict) -> int | None:
    """``broadcast_to(c, s) * z`` (or ``/``): broadcasting does what broadcast_to did.

    A reduction's cotangent seed is a scalar broadcast to the reduced array's shape;
    with a full-shaped ``z`` the product is ``c * z`` and the broadcast array is never
    made.  With a 0-d ``z`` the scalars gather inside the broadcast
    (``broadcast_to(c * z, s)``), where constants fold.  Values and dtype are those of
    NumPy's broadcasting, so the result is the same to the bit.
    """
    node = rw.nodes[nid]
    op_name, args, shape = node.op, node.args, node.shape
    if shape is None:
        return None
    for k in (0, 1):
        u, z = args[k], args[1 - k]
        if rw.nodes[u].op != "broadcast_to" or (op_name == "divide" and k == 1):
            continue
        c = rw.args(u)[0]
        pair = (c, z) if k == 0 else (z, c)
        z_shape = rw.nodes[z].shape
        if z_shape == shape:
            return rw.make(op_name, pair, (), node, node.role)
        if z_shape == () and rw.nodes[c].shape == ():
            inner = rw.make(op_name, pair, (), {"shape": (), "dtype": node.dtype}, node.role)
            return rw.make("broadcast_to", (inner,), (("shape", shape),), node, node.role)
    return None


def _negate_broadcast(rw: _Rewriter, nid: int, b: dict) -> int | None:
    """``-broadcast_to(c, s)`` -> ``broadcast_to(-c, s)``: a constant c folds."""
    u, c = rw.args(nid)[0], b["X"]
    node = rw.nodes[nid]
    neg = rw.make("negative", (c,), (), rw.nodes[c], node.role)
    return rw.make("broadcast_to", (neg,), rw.nodes[u].params, node, node.role)


def _broadcast_twice(rw: _Rewriter, nid: int, b: dict) -> int | None:
    """``broadcast_to(broadcast_to(c, s), t)`` -> ``broadcast_to(c, t)``."""
    node = rw.nodes[nid]
    return rw.make("broadcast_to", (b["X"],), node.params, node, node.role)


RULES: list[Row] = [
    # IEEE 754: x*1, x/1, x*-1, x/-1, x**1, --x and x + (-y) == x - y are exact for every
    # x, NaN, inf and -0.0 included.  x + 0.0 is not (-0.0 + 0.0 is +0.0), nor is 0 * x
    # (0 * inf is NaN, 0.0 * -1 is -0.0): their guards say where they are.
    Row("x*1", ("multiply", X, ONE), X, _keeps("X")),
    Row("1*x", ("multiply", ONE, X), X, _keeps("X")),
    Row("x*0", ("multiply", X, ZERO), _zeros, _int_zero("X")),
    Row("0*x", ("multiply", ZERO, X), _zeros, _int_zero("X")),
    Row("x*-1", ("multiply", X, MINUS_ONE), ("negative", X), _keeps("X")),
    Row("-1*x", ("multiply", MINUS_ONE, X), ("negative", X), _keeps("X")),
    Row("x/1", ("divide", X, ONE), X, _keeps("X")),
    Row("x/-1", ("divide", X, MINUS_ONE), ("negative", X), _keeps("X")),
    Row("x+0", ("add", X, ZERO), X, _adds_zero("X", negative_zero=True)),
    Row("0+x", ("add", ZERO, X), X, _adds_zero("X", negative_zero=True)),
    Row("x-0", ("subtract", X, ZERO), X, _adds_zero("X", negative_zero=False)),
    Row("0-x", ("subtract", ZERO, X), ("negative", X), _adds_zero("X", negative_zero=True)),
    Row("--x", ("negative", ("negative", X)), X),
    Row("x+-y", ("add", X, ("negative", Y)), ("subtract", X, Y)),
    Row("-x+y", ("add", ("negative", X), Y), ("subtract", Y, X)),
    Row("x--y", ("subtract", X, ("negative", Y)), ("add", X, Y)),
    Row("x**1", ("power", X, ONE), X, _keeps("X")),
    Row("astype_like(x, same dtype)", ("astype_like", X, Y), X, _same_dtype("X", "Y")),
    Row("reshape(x, its shape)", ("reshape", X), X, _reshape_noop),
    Row("reshape(reshape(x))", ("reshape", ("reshape", X)), _reshape_twice),
    Row("broadcast_to(x, its shape)", ("broadcast_to", X), X, _static_same_shape),
    Row("broadcast_to(broadcast_to(x))", ("broadcast_to", ("broadcast_to", X)), _broadcast_twice),
    Row("transpose(transpose(x))", ("transpose", ("transpose", X)), _transpose_twice),
    Row("broadcast_to(c) * z -> c * z", ("multiply", X, Y), _absorb_broadcast),
    Row("broadcast_to(c) / z -> c / z", ("divide", X, Y), _absorb_broadcast),
    Row("-broadcast_to(c)", ("negative", ("broadcast_to", X)), _negate_broadcast),
]


def _compile_pattern(pattern: tuple) -> tuple:
    """``(op, p0, p1)`` -> per-argument steps ``(index, kind, payload)``."""
    steps = []
    for i, p in enumerate(pattern[1:]):
        if isinstance(p, _Var):
            steps.append((i, "var", str(p)))
        elif isinstance(p, _Const):
            steps.append((i, "const", p.value))
        else:
            steps.append((i, "op", (p[0], _compile_pattern(p))))
    return tuple(steps)


_BY_OP: dict[str, list[tuple[Row, tuple]]] = {}
for _row in RULES:
    # cheap, selective checks (constants, nested ops) before binding variables
    _steps = tuple(sorted(_compile_pattern(_row.pattern), key=lambda s: s[1] == "var"))
    _BY_OP.setdefault(_row.pattern[0], []).append((_row, _steps))
_CANDIDATES: dict[tuple, list[tuple[Row, tuple]]] = {}


def _candidates(op_name: str, args: tuple, nodes: dict) -> list[tuple[Row, tuple]]:
    """The rows whose argument ops can match (a constant where the pattern has one, the
    nested op where it has one), cached per (op, argument ops): most nodes try none."""
    key = (op_name, *(nodes[a].op for a in args))
    found = _CANDIDATES.get(key)
    if found is None:
        found = [
            (row, steps)
            for row, steps in _BY_OP.get(op_name, ())
            if len(steps) == len(args)
            and all(
                kind == "var" or key[1 + i] == ("constant" if kind == "const" else payload[0])
                for i, kind, payload in steps
            )
        ]
        if len(_CANDIDATES) < 4096:
            _CANDIDATES[key] = found
    return found


# -- the rewriter -----------------------------------------------------------------------------


class _Rewriter:
    """Builds normalised nodes into a fresh graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes = graph.records()
        self._float: dict[int, bool] = {}
        self._fill: dict[int, Any] = {}
        self.fired: dict[str, int] = {}

    # facts about new-graph nodes
    def args(self, nid: int) -> tuple[int, ...]:
        return self.nodes[nid].args

    def dtype(self, nid: int) -> np.dtype | None:
        return self.nodes[nid].dtype

    def is_weak(self, nid: int) -> bool:
        node = self.nodes[nid]
        return node.op == "constant" and isinstance(node.value, bool | int | float)

    def is_float(self, nid: int) -> bool:
        """True where the value is certainly floating point (even with dtype unknown).

        Computed when a node is created (its arguments already have theirs), so
        looking it up never walks the graph.
        """
        found = self._float.get(nid)
        if found is None:
            found = self._float[nid] = self._float_from_args(self.nodes[nid])
        return found

    def _float_from_args(self, node: dict) -> bool:
        dt = node.dtype
        if dt is not None:
            return dt.kind == "f"
        if node.op == "constant":
            return isinstance(node.value, float)
        op = OPS.get(node.op)
        kind = None if op is None or op.custom else op.dtype
        known = self._float
        args = node.args
        if kind == "float":
            return True
        if kind == "promote":
            return any(known.get(a, False) for a in args)
        if kind == "first":
            return known.get(args[0], False)
        if node.op == "where":
            return known.get(args[1], False) or known.get(args[2], False)
        return False

    def same_shape(self, a: int, b: int) -> bool:
        sa, sb = self.nodes[a].shape, self.nodes[b].shape
        if sa is not None and sb is not None:
            return sa == sb
        return a == b

    def fill(self, nid: int) -> Any:
        """The value every element of a constant node equals, else None."""
        if nid in self._fill:
            return self._fill[nid]
        node = self.nodes[nid]
        res = None
        if node.op == "constant":
            v = node.value
            if isinstance(v, bool):
                res = None
            elif isinstance(v, int | float):
                res = v
            elif v.size and v.size <= FOLD_MAX_SIZE and v.dtype.kind in "iuf":
                first = v.flat[0]
                if np.all(v == first):
                    res = first.item()
        self._fill[nid] = res
        return res

    # building
    def constant(self, value: Any) -> int:
        return self.graph.adopt_constant(value)

    def make(
        self, op_name: str, args: tuple[int, ...], params: tuple, like: dict, role: str
    ) -> int:
        """The normal form of ``op(*args)`` with ``like``'s shape and dtype."""
        return self.make_typed(op_name, args, params, like["shape"], like["dtype"], role)

    def make_typed(
        self, op_name: str, args: tuple[int, ...], params: tuple, shape: Any, dtype: Any, role: str
    ) -> int:
        """:meth:`make` with the shape and dtype given (no record to read them from)."""
        if dtype is None:
            dtype = self._dtype_from_args(op_name, args)
        nid = self._raw(op_name, args, params, shape, dtype, role)
        for _ in range(64):  # every row shrinks the graph, so this ends long before
            new = self._step(nid)
            if new is None or new == nid:
                return nid
            nid = new
        return nid

    def _dtype_from_args(self, op_name: str, args: tuple[int, ...]) -> np.dtype | None:
        """A dtype unknown when the node was built may be known now that its arguments
        are rewritten (a folded ``numel`` is a weak Python float): infer it as ``apply`` does."""
        op = OPS.get(op_name)
        if op is None or op.custom or not isinstance(op.dtype, str):
            return None
        keys = []
        for a in args:
            node = self.nodes[a]
            dt = node.dtype
            if dt is None:
                if node.op != "constant":
                    return None
                dt = type(node.value)
            keys.append(dt)
        return _result_dtype(op.dtype, tuple(keys))

    def _raw(
        self, op_name: str, args: tuple[int, ...], params: tuple, shape: Any, dtype: Any, role: str
    ) -> int:
        nid = self.graph.apply(op_name, args, params, shape, dtype, role)
        if nid not in self._float:  # a new node (with the old node's role), or one made outside
            node = self.nodes[nid]
            for a in args:
                self.is_float(a)  # leaves get theirs here; inner nodes already have one
            self._float[nid] = self._float_from_args(node)
        return nid

    def adopt(self, first: int, out: int) -> int:
        """Put the nodes made since id ``first`` outside the rewriter (a lowering's, an
        ``apply``'s) through it, as a second pass would; returns what ``out`` became.
        The originals are left for the final prune."""
        if out < first:
            return out
        nodes = self.nodes
        done: dict[int, int] = {}
        for n in range(first, out + 1):
            node = nodes.get(n)
            if node is None or node.op in ("input", "constant"):
                continue
            args = tuple(done.get(a, a) for a in node.args)
            done[n] = self.make(node.op, args, node.params, node, node.role)
        return done.get(out, out)

    def _step(self, nid: int) -> int | None:
        node = self.nodes[nid]
        folded = self._fold(nid, node)
        if folded is not None:
            return folded
        for row, steps in _candidates(node.op, node.args, self.nodes):
            b: dict[str, int] = {}
            if not self._match(steps, node.args, b) or (
                row.guard is not None and not row.guard(self, nid, b)
            ):
                continue
            rep = row.replace
            if isinstance(rep, _Var):
                out = b[rep]
            elif isinstance(rep, tuple):
                out = self._raw(
                    rep[0],
                    tuple(b[v] for v in rep[1:]),
                    node.params,
                    node.shape,
                    node.dtype,
                    node.role,
                )
            else:
                out = rep(self, nid, b)
            if out is not None and out != nid:
                self.fired[row.name] = self.fired.get(row.name, 0) + 1
                return out
        return None

    def _match(self, steps: tuple, args: tuple, binding: dict) -> bool:
        """Match compiled pattern steps against argument ids (nesting only as deep as
        the pattern, so this recursion is bounded by the rows, not by the graph)."""
        if len(args) != len(steps):
            return False
        nodes = self.nodes
        for i, kind, payload in steps:
            a = args[i]
            if kind == "const":
                if self.fill(a) != payload:
                    return False
            elif kind == "op":
                node = nodes[a]
                if node.op != payload[0] or not self._match(payload[1], node.args, binding):
                    return False
            elif binding.setdefault(payload, a) != a:
                return False
        return True

    def _fold(self, nid: int, node: dict) -> int | None:
        """Evaluate an op whose arguments are all constants, if the result is small."""
        op_name = node.op
        if op_name in ("constant", "input"):
            return None
        nodes = self.nodes
        args = node.args
        for a in args:  # most nodes have a computed argument: the cheapest test first
            if nodes[a].op != "constant":
                return None
        value = fold_constant(
            OPS.get(op_name), [nodes[a].value for a in args], node.params, node.shape, node.dtype
        )
        return None if value is None else self.constant(value)


def fold_constant(op: Any, values: list, params: tuple, shape: Any, dtype: Any) -> Any:
    """The value of ``op`` applied to constant ``values`` where folding it is allowed (the
    node's static ``shape`` and ``dtype`` given), else None: a Python float where the
    dtype is unknown (it stays weak), else an array.  The rewriter folds through this, and
    so does the scalar VM's compiler (``graphad.backends._scalar_vm.build_scalar``), so
    both fold the same nodes to the same bits."""
    # the table's foldable facet: nodes that must not run, free views (broadcast_to);
    # user code (defop) may be impure or expensive
    if op is None or op.custom or not op.foldable:
        return None
    if shape is None or math.prod(shape) > FOLD_MAX_SIZE:
        return None
    if op.name == "power" and (dtype is None or dtype.kind != "f"):
        return None  # integer powers overflow silently; leave them to run time
    try:  # the op's own NumPy kernel, as the interpreter runs it
        with np.errstate(all="ignore"):
            value = op.impl(*values, **dict(params))
        arr = np.asarray(value)
    except Exception:  # the interpreter will raise the same error at run time
        return None
    if arr.dtype == object or arr.shape != shape or (dtype is not None and arr.dtype != dtype):
        return None
    if isinstance(value, float) and dtype is None:
        return value  # a Python float stays weak (e.g. numel)
    return arr


# -- the passes ---------------------------------------------------------------------------------


def optimize_ids(
    graph: Graph, outputs: Sequence[int], inputs: Iterable[int] = (), *, rewrite: bool = True
) -> tuple[Graph, list[int], dict[int, int]]:
    """Copy what ``outputs`` need from ``graph`` into a new, rewritten graph.

    Returns ``(new_graph, new_output_ids, mapping)`` where ``mapping`` takes
    old node ids to new ones.  ``inputs`` are input nodes to keep even if
    unused.  With ``rewrite=False`` the copy is exact (no folding or rows).
    """
    with gc_paused():
        return _optimize_ids(graph, outputs, inputs, rewrite)


def _optimize_ids(
    graph: Graph, outputs: Sequence[int], inputs: Iterable[int], rewrite: bool
) -> tuple[Graph, list[int], dict[int, int]]:
    target = Graph()
    rw = _Rewriter(target)
    nodes = graph.records()
    seed: dict[int, int] = {}
    for i in sorted(set(inputs)):
        seed[i] = _copy_input(rw, nodes[i])

    def rebuild(new: Graph, n: int, node: Node, args: tuple[int, ...]) -> int | None:
        op = node.op
        if op == "input":
            return _copy_input(rw, node)
        if op == "constant":
            return None  # shared, as it is
        if rewrite:
            return rw.make(op, args, node.params, node, node.role)
        return rw._raw(op, args, node.params, node.shape, node.dtype, node.role)

    new, mapping = graph.copy(outputs, remap=rebuild, seed=seed, marks=False, into=target)
    outs = [mapping[o] for o in outputs]
    keep = set(outs) | {mapping[i] for i in inputs}
    new.prune(keep)
    carry_adjoints(graph, new, mapping)
    new.rewrites_fired = dict(rw.fired)  # for reports and tests
    return new, outs, mapping


def optimize_specialized(
    graph: Graph,
    outputs: Sequence[int],
    inputs: Sequence[int],
    types: Sequence[tuple],
    *,
    rewrite: bool = True,
) -> tuple[Graph, list[int], list[int]]:
    """:func:`~graphad.transforms.specialize.specialize` and :func:`optimize_ids` in one
    copy: each node is specialized to the input ``types`` and built through the
    rewriter at once (one graph copy fewer: the time and peak memory of a compile).
    Returns the new graph and the new ids of ``outputs`` and ``inputs``."""
    from .specialize import NeedsValue

    with gc_paused():
        try:  # nodes needed for their shape alone are inferred, not built
            return _optimize_specialized(graph, outputs, inputs, types, rewrite, True)
        except NeedsValue:
            return _optimize_specialized(graph, outputs, inputs, types, rewrite, False)


def _optimize_specialized(graph, outputs, inputs, types, rewrite, shape_only):
    """One attempt of :func:`optimize_specialized` (``shape_only``: see ``specialize``)."""
    from .specialize import specialize

    target = Graph()
    rw = _Rewriter(target)

    class _Build:
        @staticmethod
        def make(op, args, params, shape, dtype, role):
            if rewrite:
                return rw.make_typed(op, args, params, shape, dtype, role)
            return rw._raw(op, args, params, shape, dtype, role)

        @staticmethod
        def adopt(first, out):
            return rw.adopt(first, out) if rewrite else out

    spec = specialize(
        graph,
        outputs,
        inputs,
        types,
        marks=False,
        builder=_Build,
        into=target,
        shape_only=shape_only,
    )
    new = spec.graph
    keep = set(spec.outputs) | set(spec.inputs)
    new.prune(keep)
    carry_adjoints(graph, new, spec.mapping)
    new.rewrites_fired = dict(rw.fired)  # for reports and tests
    return new, list(spec.outputs), list(spec.inputs)


def _copy_input(rw: _Rewriter, node: dict) -> int:
    return rw.graph.input(node.name, node.shape, node.dtype)


def optimize(outputs: Any, inputs: Sequence[Any] = ()) -> tuple[Graph, list[int]]:
    """An optimized copy of the graph the outputs need; the original is left untouched.

    Constant folding (results up to :data:`FOLD_MAX_SIZE` elements), the
    algebraic rows of :data:`RULES` (``x*1``, ``x+0``, ``0*x`` with a static
    shape, ``--x``, ``exp(log(x))`` for x >= 0, no-op reshapes and
    broadcasts, ...), common-subexpression elimination and dead-node
    elimination.  Gradient roles and adjoint marks are carried over.

    Parameters
    ----------
    outputs : Expr or sequence of Expr
    inputs : sequence of Expr or str, optional
        Inputs to keep in the new graph even where the outputs do not use them.

    Returns
    -------
    (Graph, list of int)
        The new graph and the ids of the outputs in it.

    Raises
    ------
    GraphadError
        If no output is given, or the outputs are not Exprs of one graph.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph():
    ...     x = ga.symbol("x", dtype="float64")
    ...     e = (x * 1.0 + 0.0) * (2.0 + 3.0)
    >>> g, (out,) = ga.optimize(e)
    >>> str(ga.Expr(g, out))
    '5 * x'
    """
    from ..core.expr import Expr

    outs = [outputs] if isinstance(outputs, Expr) else list(outputs)
    if not outs:
        raise GraphadError("optimize needs at least one output")
    graph = outs[0].graph
    if any(not isinstance(o, Expr) or o.graph is not graph for o in outs):
        raise GraphadError("optimize: outputs must be Exprs of one graph")
    ids = []
    for x in inputs:
        nid = x.id if isinstance(x, Expr) else graph.input_id(x)
        if nid is not None:
            ids.append(nid)
    new, out_ids, _ = optimize_ids(graph, [o.id for o in outs], ids)
    return new, out_ids
