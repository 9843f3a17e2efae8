"""Differentiation as a graph transformation.

Reverse mode (:func:`grad`, :func:`jacobian`, :func:`hessian`) walks the nodes
between the inputs and the output in reverse topological order and asks each
op's VJP rule for the cotangents of its arguments; forward mode (:func:`jvp`)
walks them in order with JVP rules.  Rules build graph nodes, so the result is
an ordinary graph: it evaluates, compiles, renders and differentiates again.
New nodes carry ``role="grad"``; each node holding a complete adjoint records
which one in its ``adjoint`` attribute.

Each rule is applied once per forward node and adds a bounded number of
nodes, so the gradient graph is linear in the size of the forward graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.errors import GraphadError, UnknownNameError
from ..core.expr import Expr
from ..core.graph import Graph, gc_paused
from ..ops import OPS, apply, as_expr
from ..ops.core import build_node, provide_lowering
from ..ops.elementwise import add, multiply
from ..ops.rules import derived_jvp, derived_vjp_ids, ones_like, zeros_like

__all__ = ["grad", "vjp", "jvp", "jacobian", "hessian", "substitute"]


def _resolve(graph: Graph, x: Any, *, inputs_only: bool = True) -> int:
    """The node id of an input given as an Expr or by name.

    Resolving changes nothing: a name must be an input of the graph already (one
    the expression does not use has a zero gradient; one the graph has never
    seen is most likely a typo, and is an error).  ``inputs_only=False`` admits
    any node of the graph (a tape's intermediate tensors, a transposition's
    placeholder); the public functions take inputs only, as the SPEC says.
    """
    if isinstance(x, Expr):
        if x.graph is not graph:
            raise GraphadError("the variable belongs to a different graph than the expression")
        if inputs_only and x.op != "input":
            what = "a constant" if x.op == "constant" else f"the {x.op} node v{x.id}"
            raise GraphadError(
                f"can only differentiate with respect to an input, not {what}; "
                "use a symbol (ga.symbols) or an input name"
            )
        return x.id
    if isinstance(x, str):
        nid = graph.input_id(x)
        if nid is None:
            known = sorted(graph.inputs())
            shown = ", ".join(map(repr, known[:10])) + (", ..." if len(known) > 10 else "")
            raise UnknownNameError(
                f"no input named {x[:100]!r} in the expression's graph (its inputs: "
                f"{shown or 'none'}); declare it first, e.g. with ga.symbols"
            )
        return nid
    raise GraphadError(f"expected an input (an Expr or an input name), got {type(x).__name__}")


def _relevant(graph: Graph, outputs: Sequence[int], wrt: Iterable[int]) -> list[int]:
    """Nodes on a path from any of ``wrt`` to any output, ascending (topological)."""
    nodes = graph.records()
    wrt = set(wrt)
    on_path: list[int] = []  # ascending, as the walk
    seen: set[int] = set()
    for n in graph.topo(outputs):
        if n in wrt:
            seen.add(n)
            on_path.append(n)
            continue
        node = nodes[n]
        for a in node.args:
            if a in seen:
                op = OPS.get(node.op)
                if op is None or op.differentiable:  # nothing flows through comparisons
                    seen.add(n)
                    on_path.append(n)
                break
    return on_path


class _Scope:
    """Collects the nodes a transformation creates, to drop those it did not use."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.start = graph.next_id

    def prune(self, keep: Iterable[int]) -> None:
        self.graph.prune(keep, since=self.start)


def _cotangent_pass(
    graph: Graph, outputs: Sequence[int], seeds: Sequence[Expr], wrt: Sequence[int]
) -> dict[int, int]:
    """The adjoint of every node between ``wrt`` and the outputs, as node ids (the
    pass builds nodes from ids: an Expr is made only where a rule takes one)."""
    nodes = graph.records()
    relevant = _relevant(graph, outputs, wrt)
    rel = set(relevant)
    # contributions to each adjoint, summed once all have arrived (the node's turn):
    # in the order of the nodes that use it, so d/dx (x**2 + sin(x*y)) reads
    # 2 * x + cos(x * y) * y, as the expression is written
    parts: dict[int, list[int]] = {}
    for o, s in zip(outputs, seeds, strict=True):
        if o in rel:
            parts.setdefault(o, []).append(s.id)
    adj: dict[int, int] = {}
    ops = OPS
    handles = graph.handles
    for n in reversed(relevant):
        terms = parts.pop(n, None)
        if terms is None:
            continue
        g = terms[-1]
        if len(terms) > 1:
            for t in reversed(terms[:-1]):
                g = build_node(graph, "add", (g, t), nodes)
        adj[n] = g
        node = nodes[n]
        name = node.op
        if name == "input" or name == "constant":
            continue
        op = ops[name]
        if not op.differentiable:
            continue
        node_args = node.args
        needed = [a in rel for a in node_args]
        if True not in needed:
            continue
        # the rules take Exprs: the interned handles where the graph has them already
        args = []
        for a in node_args:
            e = handles.get(a)
            args.append(Expr(graph, a) if e is None else e)
        ans = handles.get(n)
        if ans is None:
            ans = Expr(graph, n)
        if op.vjp is None and op.partials is not None:
            cots = derived_vjp_ids(op, graph, g, ans, args, needed)
        elif op.vjp is not None:
            params = dict(node.params) if node.params else {}
            cots = [
                None if c is None else as_expr(c, graph).id
                for c in op.vjp(Expr(graph, g), ans, *args, **params)
            ]
        else:
            raise GraphadError(f"VJP of {op.name} is not defined")
        for a, c, need in zip(node_args, cots, needed, strict=True):
            if c is None or not need:
                continue
            found = parts.get(a)
            if found is None:
                parts[a] = [c]
            else:
                found.append(c)
    return adj


def _mark_adjoints(graph: Graph, adj: Mapping[int, int], output: int) -> None:
    nodes = graph.records()
    seen: dict[int, set] = {}  # one node can be many adjoints (the seed of a long sum)
    for n, a in adj.items():
        node = nodes[a]
        marks = node.adjoint
        if marks is None:
            node.adjoint = [(output, n)]
            continue
        have = seen.get(a)
        if have is None:
            have = seen[a] = set(marks)
        mark = (output, n)
        if mark not in have:
            have.add(mark)
            marks.append(mark)


def vjp(
    outputs: Expr | Sequence[Expr],
    wrt: Sequence[Any],
    cotangents: Expr | Sequence[Any] | None = None,
) -> list[Expr]:
    """Vector-Jacobian products: sum_i <cotangent_i, d output_i / d x> for each x in ``wrt``.

    Without ``cotangents``, each output is seeded with ones (the gradient of its sum).
    """
    return _vjp(outputs, wrt, cotangents, inputs_only=True)


def _vjp(outputs: Any, wrt: Sequence[Any], cotangents: Any, *, inputs_only: bool) -> list[Expr]:
    """:func:`vjp`; ``inputs_only=False`` also differentiates with respect to
    intermediate nodes (a tape's tensors, a transposition's placeholder)."""
    outs = [outputs] if isinstance(outputs, Expr) else list(outputs)
    graph = outs[0].graph
    if isinstance(wrt, Expr | str) or not isinstance(wrt, Iterable):
        raise GraphadError(f"vjp: wrt must be a list of inputs, not {type(wrt).__name__}")
    wrt_ids = [_resolve(graph, x, inputs_only=inputs_only) for x in wrt]
    # The lock is held from the scope's start to its prune: otherwise the prune could
    # drop a node another thread has just made and not yet used.  A rule that fails
    # (a custom VJP that raises, say) leaves no partial gradient behind.
    with gc_paused(), graph.transaction():  # the prune too (see graph.gc_paused)
        return _vjp_locked(graph, outs, wrt_ids, cotangents)


def _vjp_locked(graph: Graph, outs: list[Expr], wrt_ids: list[int], cotangents: Any) -> list:
    scope = _Scope(graph)
    with gc_paused(), graph, graph.role("grad"):  # graph: where constant-only nodes go
        if cotangents is None:
            seeds = [_seed(o) for o in outs]
        else:
            cts = [cotangents] if isinstance(cotangents, Expr | int | float) else cotangents
            seeds = [as_expr(c, graph) for c in cts]
        adj = _cotangent_pass(graph, [o.id for o in outs], seeds, wrt_ids)
        result = [Expr(graph, adj[w]) if w in adj else zeros_like(Expr(graph, w)) for w in wrt_ids]
        if len(outs) == 1:
            _mark_adjoints(graph, adj, outs[0].id)
        for r, w in zip(result, wrt_ids, strict=True):
            _mark_wrt(graph, r.id, [w])
    scope.prune([r.id for r in result] + [o.id for o in outs])
    return result


def _seed(out: Expr) -> Expr:
    # a weak Python 1.0 is the tidiest seed, but 1.0 * bool is float64, so a
    # float32 scalar output is seeded with a float32 one
    if out.shape == () and (out.dtype is None or out.dtype == np.float64):
        return as_expr(1.0, out.graph)
    return ones_like(out)


def grad(f: Any, wrt: Any = None) -> Any:
    """The gradient of the Expr ``f`` with respect to ``wrt``, as new nodes of the same graph.

    ``f`` non-scalar means the gradient of ``f.sum()`` (as TensorFlow's
    ``GradientTape.gradient``).  The gradient has the shape of the input and is
    zero (never None) for an input ``f`` does not use.  (``ga.grad`` also takes
    Python functions: see :mod:`graphad.frontends.trace`.)

    Parameters
    ----------
    f : Expr
    wrt : Expr, str, or a list of them
        One input gives one Expr, a list gives a list in the same order.
        Omitted: the single input of ``f``.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.symbols("x")
    >>> float(ga.grad(x**2 + x - 1, x).eval(x=3.0))
    7.0
    >>> gx, gy = ga.grad(x * ga.symbols("y"), ["x", "y"])
    """
    if not isinstance(f, Expr):
        raise GraphadError(
            f"grad expects an Expr, got {type(f).__name__} (ga.grad differentiates Python "
            f"functions too)"
        )
    if wrt is None:
        names = f.free_symbols
        if len(names) != 1:
            raise GraphadError(
                f"grad: say which input(s) to differentiate with respect to "
                f"(wrt=...); the expression uses {list(names)}"
            )
        wrt = names[0]
    if isinstance(wrt, Expr | str) or not isinstance(wrt, Iterable):
        return vjp(f, [wrt])[0]  # anything but an input is refused by name
    return vjp(f, list(wrt))


def jvp(f: Expr, tangents: Mapping[Any, Any]) -> Expr:
    """Forward mode: the directional derivative sum_x d f / d x · tangent_x, as a graph.

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> float(ga.jvp(x * y, {x: 1.0}).eval(x=3.0, y=2.0))
    2.0
    """
    graph = f.graph
    keys = [_resolve(graph, k) for k in tangents]  # all checked before any node is made
    with graph.transaction():  # the lock is held until the prune (see vjp)
        tan = {nid: as_expr(v, graph) for nid, v in zip(keys, tangents.values(), strict=True)}
        return _jvp_locked(graph, f, tan)


def _jvp_locked(graph: Graph, f: Expr, tan: dict[int, Expr]) -> Expr:
    scope = _Scope(graph)
    nodes = graph.records()
    with gc_paused(), graph, graph.role("grad"):
        for n in _relevant(graph, [f.id], tan):
            node = nodes[n]
            if n in tan or node.op in ("input", "constant"):
                continue
            op = OPS[node.op]
            ts = [tan.get(a) for a in node.args]
            if not op.differentiable or all(t is None for t in ts):
                continue
            args = [Expr(graph, a) for a in node.args]
            ans = Expr(graph, n)
            params = dict(node.params)
            if op.jvp is not None:
                t = op.jvp(ts, ans, *args, **params)
            elif op.partials is not None:
                t = derived_jvp(op, ts, ans, args)
            else:
                t = _jvp_by_transposition(op, ts, ans, args, params)
            if t is not None:
                tan[n] = as_expr(t, graph)
        out = tan.get(f.id)
        if out is None:
            out = zeros_like(f)
        _mark_wrt(graph, out.id, list(tan))
    scope.prune([out.id, f.id])
    return out


def _mark_wrt(graph: Graph, nid: int, wrt: Sequence[int]) -> None:
    """Record on a derivative's node which inputs it differentiates with respect to, so a
    graph specialized to an integer value of one of them can refuse (gradients of
    integers computed in integers wrap around: d(x**2)/dx at int8(100) would be -56)."""
    node = graph.node(nid)
    if node.role == "grad":
        if node.grad_wrt is None:
            node.grad_wrt = set()
        node.grad_wrt.update(wrt)


def _jvp_by_transposition(op, tangents, ans, args, params):
    """A JVP from a VJP: the VJP is linear in its cotangent u, so
    ``jvp(t) = d/du sum_i <vjp(u)_i, t_i>``, then u is replaced by any value
    of the output's shape (the result does not depend on u's value)."""
    graph = ans.graph
    u = Expr(graph, graph.apply("placeholder_like", (ans.id,), (), ans.shape, ans.dtype))
    cots = op.vjp(u, ans, *args, **params)
    total = None
    for c, t in zip(cots, tangents, strict=True):
        if c is None or t is None:
            continue
        term = apply("sum", multiply(c, t), axis=None, keepdims=False)
        total = term if total is None else add(total, term)
    if total is None:
        return None
    (du,) = _vjp(total, [u], None, inputs_only=False)
    return Expr(graph, substitute(graph, [du.id], {u.id: ans.id})[0])


def substitute(graph: Graph, outputs: Sequence[int], mapping: Mapping[int, int]) -> list[int]:
    """Rebuild ``outputs`` with nodes replaced per ``mapping`` (iterative).

    Nodes that depend on a replaced node are built anew (in the same graph); the
    others are shared.  Works on node ids, as the graph transformations do.

    Parameters
    ----------
    graph : Graph
        The graph holding every node named.
    outputs : sequence of int
        Ids of the nodes to rebuild.
    mapping : mapping of int to int
        Node id -> id of the node that takes its place.

    Returns
    -------
    list of int
        The ids of the rebuilt outputs, in order.

    Examples
    --------
    >>> import graphad as ga
    >>> from graphad.core.expr import Expr
    >>> with ga.Graph() as g:
    ...     x, y = ga.symbols("x y")
    ...     (new,) = ga.substitute(g, [(ga.sin(x) * y).id], {x.id: y.id})
    ...     Expr(g, new)
    Expr(sin(y) * y)
    """
    nodes = graph.records()
    new: dict[int, int] = dict(mapping)
    for n in graph.topo(outputs):
        if n in new:
            continue
        node = nodes[n]
        args = node.args
        if not any(a in new for a in args):
            continue
        new_args = [Expr(graph, new.get(a, a)) for a in args]
        params = dict(node.params)
        if OPS[node.op].nargs is None:
            e = apply(node.op, new_args, **params)
        else:
            e = apply(node.op, *new_args, **params)
        new[n] = e.id
    return [new.get(o, o) for o in outputs]


def jacobian(v: Expr, x: Any) -> Expr:
    """The Jacobian of ``v`` with respect to ``x``: an Expr of shape ``v.shape + x.shape``.

    Where the shapes are static it is built at once, one VJP per element of
    ``v``.  Where they are not (symbols without declared shapes), the number of
    rows is not known yet: the result is a ``jacobian`` node that evaluation
    and compilation expand once they have specialized the graph to the shapes
    of the values (so a Jacobian of undeclared symbols evaluates to shape
    ``v.shape + x.shape`` like any other).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> x = ga.symbol("x", shape=(2,))
    >>> ga.jacobian(x * x, x).eval(x=np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    >>> z = ga.symbol("z")                      # no declared shape
    >>> ga.jacobian(ga.sin(z), z).eval(z=np.zeros(2))
    array([[1., 0.],
           [0., 1.]])
    """
    graph = v.graph
    if not isinstance(v, Expr):
        raise GraphadError(f"jacobian expects an Expr, got {type(v).__name__}")
    xe = Expr(graph, _resolve(graph, x))
    if xe.op != "input":
        raise GraphadError(f"jacobian: {xe!r} is not an input")
    if v.shape is not None and xe.shape is not None:
        return _static_jacobian(v, xe)
    # the node keeps the gradient of v's sum beside it: the Jacobian itself where v turns
    # out a scalar, and the per-element formula a printer shows (d/dx of v)
    return apply("jacobian", v, xe, grad(v, xe))


def _static_jacobian(v: Expr, xe: Expr, d: Expr | None = None) -> Expr | None:
    """The Jacobian as rows of VJPs with one-hot cotangents (static shapes)."""
    if xe.op != "input":
        return None
    shape = v.shape
    if shape == ():
        return d if d is not None else grad(v, xe)
    n = int(np.prod(shape))
    rows = []
    for k in range(n):
        onehot = np.zeros(n, dtype=v.dtype if v.dtype is not None else float)
        onehot[k] = 1
        rows.append(vjp([v], [xe], [onehot.reshape(shape)])[0])
    from ..ops.linalg import reshape, stack

    return reshape(stack(rows, axis=0), tuple(shape) + tuple(xe.shape))


def hessian(f: Expr, wrt: Any) -> Any:
    """Second derivatives: ``hessian(f, [x, y])[i][j] = d²f / dx_i dx_j`` (nested list).

    Given a single input instead of a list, returns one Expr.

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> h = ga.hessian(x**2 * y, [x, y])
    >>> [[float(e.eval(x=3.0, y=2.0)) for e in row] for row in h]
    [[4.0, 6.0], [6.0, 0.0]]
    """
    single = isinstance(wrt, Expr | str)
    xs = [wrt] if single else list(wrt)
    rows = [[jacobian(gi, xj) for xj in xs] for gi in vjp(f, xs)]
    return rows[0][0] if single else rows


# the jacobian op is declared in the op table (ops/rules.py); its expansion into VJPs
# is this module's: provided here, a layer above the table
provide_lowering("jacobian", _static_jacobian)
