"""What a picture of a graph shows, decided before anything is drawn.

:func:`_resolve` turns what the user passed to :func:`graphad.render` (Exprs, a
compiled ``Function``, a gradient-check report, a tape) into one graph and the
nodes to show; :func:`_select` chooses the nodes to draw within ``max_nodes`` and
folds long stretches into groups a reader takes in at once: chains of unary ops,
sums of many terms, repeated layers (:func:`_chains`, :func:`_sums`,
:func:`_layers`); :func:`_without_plumbing` leaves out the shape helpers a gradient
of undeclared shapes carries.  :mod:`.render` draws the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph
from .render_labels import const_label

_BIG = 60  # pictures with more boxes fold long sums and repeated layers


@dataclass
class _Target:
    graph: Graph
    outputs: list[int]
    names: dict[int, str] = field(default_factory=dict)
    highlight: dict[int, str] = field(default_factory=dict)
    at: Mapping[Any, Any] | None = None
    known: dict[int, Any] = field(default_factory=dict)


# -- what to draw ----------------------------------------------------------------------------


def _node_id(item: Any, graph: Graph | None) -> tuple[Graph | None, int]:
    if isinstance(item, Expr):
        if graph is not None and item.graph is not graph:
            raise GraphadError("render: the expressions belong to different graphs")
        return item.graph, item.id
    if isinstance(item, int | np.integer) and not isinstance(item, bool):
        return graph, int(item)
    for attr in ("node", "node_id", "id"):  # e.g. a culprit record
        inner = getattr(item, attr, None)
        if inner is not None and inner is not item:
            return _node_id(inner, graph)
    raise GraphadError(
        f"render: cannot draw an object of type {type(item).__name__}; "
        "pass an Expr, a list of Exprs, or an object with .graph and .outputs"
    )


def _flatten(items: Any, graph: Graph | None, names: dict[int, str]) -> tuple[Graph | None, list]:
    """Node ids of nested lists/tuples/dicts of Exprs (or ids), in order, without recursion."""
    out: list[int] = []
    stack: list[tuple[Any, str | None]] = [(items, None)]
    while stack:
        item, name = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed([(v, str(k)) for k, v in item.items()]))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(v, name) for v in item]))
        else:
            graph, nid = _node_id(item, graph)
            if nid not in out:
                out.append(nid)
            if name is not None:
                names.setdefault(nid, name)
    return graph, out


def _resolve(obj: Any) -> _Target:
    """Find the graph, outputs, names, highlights and values an object carries (duck typing)."""
    names: dict[int, str] = {}
    if isinstance(obj, Graph):
        sinks = sorted(n for n in obj.nodes() if obj.n_users(n) == 0)
        return _Target(obj, sinks)
    graph = getattr(obj, "graph", None)
    graph = graph if isinstance(graph, Graph) else None
    if isinstance(obj, Expr | list | tuple | Mapping):
        graph, outputs = _flatten(obj, None, names)
        if graph is None:
            raise GraphadError("render: nothing to draw (no Expr given)")
        return _Target(graph, outputs, names)
    outputs: list[int] = []
    for attr in ("outputs", "output_ids", "exprs", "expr"):
        value = getattr(obj, attr, None)
        if value is not None and not callable(value):
            graph, outputs = _flatten(value, graph, names)
            break
    if graph is None:
        _node_id(obj, None)  # raises the "cannot draw" error
    if not outputs:  # e.g. a tape: draw everything it recorded
        outputs = sorted(n for n in graph.nodes() if graph.n_users(n) == 0)
    target = _Target(graph, outputs, names)
    culprit = getattr(obj, "culprit", None)
    if culprit is not None:
        _, cid = _node_id(culprit, graph)
        reason = getattr(obj, "culprit_reason", None) or getattr(culprit, "reason", None)
        target.highlight[cid] = str(
            reason or "culprit: its local derivative rule disagrees with its numerical check"
        )
    for attr in ("at", "point"):  # the point a report was checked at
        at = getattr(obj, attr, None)
        if isinstance(at, Mapping) and target.at is None:
            target.at = at
    known = getattr(obj, "values", None)
    if isinstance(known, Mapping):
        target.known = {k: v for k, v in known.items() if isinstance(k, int)}
    return target


@dataclass
class _Group:
    """Nodes drawn as one summary node."""

    name: str
    members: list[int]
    kind: str = "chain"  # "chain", "sum" (the adds of a long sum) or "terms" (folded terms)
    count: int = 0  # a sum's number of terms; folded terms: how many


def _users(nodes: Any, ids: list[int]) -> dict[int, list[int]]:
    """Each node's users among ``ids`` (once per user)."""
    users: dict[int, list[int]] = {n: [] for n in ids}
    for n in ids:
        args = nodes[n]["args"]
        for a in args if len(args) == 1 else dict.fromkeys(args):
            if a in users:
                users[a].append(n)
    return users


#: A sum of at least this many terms is drawn as one "Σ of N terms" box; of its
#: terms, the first _SHOWN_TERMS - 1 and the last are drawn, the others folded.
_MANY_TERMS, _SHOWN_TERMS = 8, 4


def _sums(graph: Graph, ids: list[int], keep: set[int]) -> list[_Group]:
    """Long sums (trees of two-argument adds, e.g. ``sum(...)`` over a Python list) as
    one n-ary box each, with their middle terms folded into one box that counts them."""
    nodes = graph.records()
    users = _users(nodes, ids)

    def inner(n: int) -> bool:  # an add that only feeds the next add of its sum
        us = users[n]
        return (
            nodes[n]["op"] == "add"
            and n not in keep
            and len(us) == 1
            and nodes[us[0]]["op"] == "add"
            and nodes[us[0]]["role"] == nodes[n]["role"]
        )

    groups: list[_Group] = []
    taken: set[int] = set()
    for root in reversed(ids):  # outermost adds first
        if nodes[root]["op"] != "add" or inner(root) or root in taken:
            continue
        adds, terms, stack = [], [], [root]
        while stack:  # the tree of adds under root, terms left to right
            n = stack.pop()
            adds.append(n)
            for a in reversed(nodes[n]["args"]):
                if a in users and inner(a):
                    stack.append(a)
                else:
                    terms.append(a)
        terms.reverse()
        terms = list(dict.fromkeys(terms))  # x + x is one arrow
        if len(terms) < _MANY_TERMS:
            continue
        members = [a for a in adds if a != root or root not in keep]
        taken.update(adds)
        name = f"s{min(adds)}_{root}"
        groups.append(_Group(name, sorted(members), "sum", len(terms)))
        # the middle terms, and what only they use, fold into one box
        fold = {
            t
            for t in terms[_SHOWN_TERMS - 1 : -1]
            if t not in keep and t not in taken and all(u in adds for u in users[t])
        }
        folded: set[int] = set()
        for n in reversed(ids):
            if n >= max(fold, default=-1) + 1 or n in keep or n in taken:
                continue
            us = users[n]
            if n in fold or (us and all(u in folded for u in us)):
                folded.add(n)
        if folded:
            taken.update(folded)
            groups.append(
                _Group(f"t{min(folded)}_{max(folded)}", sorted(folded), "terms", len(fold))
            )
    return groups


#: Nodes repeating a structure (same op, same arguments' structure _LAYER_DEPTH ops
#: deep) at least this many times fold into one box per op; the first and last of
#: each kind stay drawn, to show where the repetition starts and ends.
_REPEATS, _LAYER_DEPTH = 4, 4


def _layers(graph: Graph, ids: list[int], keep: set[int]) -> list[_Group]:
    """Repeated structure, such as the per-layer blocks of a deep network and of its
    gradient: nodes alike up to :data:`_LAYER_DEPTH` ops back are drawn as one box."""
    nodes = graph.records()
    inside = set(ids)
    sig: dict[Any, Any] = {}
    for n in ids:  # depth 0: the op itself (inputs alike, constants by value)
        node = nodes[n]
        if node["op"] == "input":  # inputs alike whatever their names
            sig[n] = ("input", node["role"])
            continue
        const = node["op"] == "constant" and const_label(node)
        sig[n] = (node["op"], node["role"], repr(node["params"])[:200], const)
    args = [(n, tuple(a if a in inside else None for a in nodes[n]["args"])) for n in ids]
    sig[None] = None  # an argument that is not drawn
    for _ in range(_LAYER_DEPTH):  # depth k: the op and its arguments at depth k - 1
        sig = {n: hash((sig[n], tuple([sig[a] for a in nargs]))) for n, nargs in args} | {
            None: None
        }
    alike: dict[Any, list[int]] = {}
    for n in ids:
        if nodes[n]["op"] not in ("input", "constant") and n not in keep:
            alike.setdefault(sig[n], []).append(n)
    groups = []
    owner: dict[int, int] = {}
    for members in alike.values():
        if len(members) >= _REPEATS:
            middle = members[1:-1]
            owner.update(dict.fromkeys(middle, len(groups)))
            groups.append(_Group(f"l{middle[0]}_{middle[-1]}", middle, "layers", len(middle)))
    # inputs read only by such boxes (each layer's weights) fold into a box beside them
    users = _users(nodes, ids)
    feeds: dict[tuple, list[int]] = {}
    for n in ids:
        us = users[n]
        if nodes[n]["op"] == "input" and n not in keep and us and all(u in owner for u in us):
            feeds.setdefault(tuple(sorted({owner[u] for u in us})), []).append(n)
    for members in feeds.values():
        if len(members) >= _REPEATS - 2:
            groups.append(_Group(f"i{members[0]}_{members[-1]}", members, "layers", len(members)))
    groups.sort(key=lambda g: g.members[0])
    return groups


def _chains(graph: Graph, ids: list[int], keep: set[int], min_len: int = 3) -> list[_Group]:
    """Runs of single-input, single-user nodes of one role (elementwise chains and the like)."""
    nodes = graph.records()  # the node dicts themselves: automatic displays must be quick
    users = _users(nodes, ids)
    run_of: dict[int, list[int]] = {}
    runs: list[list[int]] = []
    for n in ids:
        node = nodes[n]
        if len(users[n]) != 1 or n in keep or node["op"] in ("input", "constant"):
            continue
        args = node["args"]
        if len(args) == 1:
            inner = args if nodes[args[0]]["op"] != "constant" else ()
        else:
            inner = [a for a in dict.fromkeys(args) if nodes[a]["op"] != "constant"]
        if len(inner) != 1:
            continue
        prev = inner[0]
        if prev in run_of and nodes[prev]["role"] == node["role"]:
            run_of[n] = run_of[prev]
            run_of[n].append(n)
        else:
            run_of[n] = [n]
            runs.append(run_of[n])
    groups = []
    for run in runs:
        run = run[1:-1]  # the first and last op stay visible, to show where the chain goes
        if len(run) < min_len:
            continue
        members = set(run)
        # constants feeding only this run would float alone: fold them in
        consts = {
            a
            for m in run
            for a in nodes[m]["args"]
            if nodes[a]["op"] == "constant"
            and a not in keep
            and a in users
            and all(u in members for u in users[a])
        }
        groups.append(_Group(f"c{run[0]}_{run[-1]}", sorted(members | consts)))
    return groups


#: Pictures with a longer path than this collapse their chains (see :func:`_select`).
_MAX_RANKS = 40


def _ranks(graph: Graph, ids: list[int]) -> int:
    """The longest path among ``ids`` (ascending, arguments first), in nodes."""
    nodes = graph.records()
    depth: dict[int, int] = {}
    for n in ids:
        depth[n] = 1 + max((depth[a] for a in nodes[n]["args"] if a in depth), default=0)
    return max(depth.values(), default=0)


def _select(
    graph: Graph,
    ids: list[int],
    max_nodes: int | None,
    keep: set[int],
    outputs: set[int] = frozenset(),
):
    """Drawn node ids, collapsed groups and hidden nodes: at most ``max_nodes`` boxes.

    A picture of more than :data:`_BIG` nodes draws each long sum as one box (its
    middle terms folded into a box that counts them) and, if still that big, each
    op repeated in many layers as one box with a count.  Chains collapse beyond
    ``max_nodes``, or in a picture deeper than :data:`_MAX_RANKS` (a long chain
    drawn as a strip many screens tall).
    """
    if max_nodes is None:
        return ids, [], []
    every = ids
    sums = _sums(graph, ids, keep) if len(ids) > _BIG else []
    if sums:
        owned = {m for g in sums for m in g.members}
        ids = [n for n in ids if n not in owned]
    groups = list(sums)
    if len(ids) + len(groups) > max_nodes or _ranks(graph, ids) > _MAX_RANKS:
        groups += _chains(graph, ids, keep)
    owned = {m for g in groups for m in g.members}
    ids = [n for n in ids if n not in owned]
    if len(ids) + len(groups) > _BIG:
        # repeated structure (a network's layers); outputs fold too (each layer's gradient)
        groups += _layers(graph, ids, keep - outputs)
        owned = {m for g in groups for m in g.members}
        ids = [n for n in ids if n not in owned]
    if len(ids) + len(groups) <= max_nodes:
        return ids, groups, []
    owner = {m: g.name for g in groups for m in g.members}
    # still too many: keep what is closest to the outputs (breadth first); the rest is
    # hidden, each hidden argument of a drawn node shown as a small "⋯ v12" stand-in
    by_name = {g.name: g for g in groups}
    nodes = graph.records()

    def unit_args(u):
        members = by_name[u].members if isinstance(u, str) else [u]
        out = []
        for m in members:
            for a in nodes[m]["args"]:
                ua = owner.get(a, a)
                if ua != u and ua not in out:
                    out.append(ua)
        return out

    chosen: dict[Any, None] = dict.fromkeys(owner.get(k, k) for k in sorted(keep))
    queue = list(chosen)
    head = 0
    while head < len(queue) and len(chosen) < max_nodes:
        for a in unit_args(queue[head]):
            if a not in chosen and len(chosen) < max_nodes:
                chosen[a] = None
                queue.append(a)
        head += 1
    kept = [g for g in groups if g.name in chosen]
    hidden = [n for n in every if n not in chosen and owner.get(n) not in chosen]
    return [n for n in ids if n in chosen], kept, hidden


_SEE_THROUGH = frozenset(
    {"sum_to_like", "broadcast_like", "reshape_like", "unreduce", "astype_like"}
)
_SHAPE_ONLY = frozenset({"ones_like", "zeros_like", "numel"})


def _without_plumbing(target: _Target, ids: list[int]) -> tuple[_Target, list[int]]:
    """A view of the graph, same node ids, with the shape helpers of an unspecialized
    gradient contracted (their adjoint marks move to the node they stand for)."""
    graph = target.graph
    nodes = graph.records()
    alias: dict[int, int] = {}
    for n in ids:  # ascending: an argument's alias is known before its user's
        if nodes[n]["op"] in _SEE_THROUGH:
            a = nodes[n]["args"][0]
            alias[n] = alias.get(a, a)
    if not alias and not any(nodes[n]["op"] in _SHAPE_ONLY for n in ids):
        return target, ids
    keep = [n for n in ids if n not in alias]

    def contracted(n: int, node: Any) -> tuple[int, ...]:
        if node["op"] in _SHAPE_ONLY:
            return ()
        return tuple(alias.get(a, a) for a in node["args"])

    view = graph.subgraph(keep, args=contracted)
    for n in ids:
        marks = nodes[n].get("adjoint")
        if marks:
            holder = view.node(alias.get(n, n)).setdefault("adjoint", [])
            for o, of in marks:
                mark = (alias.get(o, o), of)
                if mark not in holder:
                    holder.append(mark)

    def see(mapping: dict[int, Any]) -> dict[int, Any]:
        return {alias.get(k, k): v for k, v in mapping.items()}

    outputs = list(dict.fromkeys(alias.get(o, o) for o in target.outputs))
    shown = _Target(view, outputs, see(target.names), see(target.highlight), target.at)
    shown.known = {k: v for k, v in target.known.items() if k not in alias}
    return shown, keep
