"""Draw graphs with graphviz: forward and gradient nodes, values and adjoints.

:func:`render` turns expressions (and anything that carries a graph: a
compiled ``Function``, a gradient-check report, a tape) into a
``graphviz.Digraph`` whose DOT source is deterministic: node names are the
stable node ids (``n12``), so the same graph gives byte-identical DOT.

This module is imported lazily (``ga.render``), so importing graphviz at module
level keeps ``import graphad`` free of it.
"""

from __future__ import annotations

import html
import textwrap
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import graphviz
import numpy as np

from .errors import GraphadError, MissingInputError
from .expr import Expr, _named_values, to_string
from .graph import Graph, ancestors
from .ops import OPS

__all__ = ["render", "repr_svg", "FORMATS", "STYLES"]

#: File suffixes :func:`render` writes; ``dot``/``gv`` need no Graphviz program.
FORMATS = ("svg", "png", "pdf", "dot", "gv")

_FONT = "Helvetica,Arial,sans-serif"
_GREY = "#6b7280"
_ADJ = "#9a3412"  # text colour of everything about adjoints
_RED = "#b91c1c"


def _box(fill: str, border: str, style: str = "rounded,filled", **more: str) -> dict[str, str]:
    return {"shape": "box", "style": style, "fillcolor": fill, "color": border, **more}


#: Node styles by kind; the legend explains each one drawn.
STYLES: dict[str, dict[str, str]] = {
    "input": _box("#dcfce7", "#15803d", "filled", shape="ellipse"),
    "constant": _box("#f3f4f6", "#9ca3af", fontsize="10"),
    "forward": _box("#e0e7ff", "#4338ca"),
    "grad": _box("#ffedd5", "#c2410c"),
    "adjoint": _box("#fdba74", "#9a3412", "rounded,filled,bold"),
    "summary": _box("#fafafa", _GREY, "rounded,dashed,filled"),
}
_LEGEND_TEXT = {
    "input": "input",
    "constant": "constant",
    "forward": "forward op",
    "grad": "gradient op (chain rule)",
    "adjoint": "gradient op holding an adjoint ∂f/∂v",
    "summary": "collapsed nodes (see tooltip)",
}
_LEGEND = {"shape": "box", "style": "rounded", "color": "#d1d5db", "fontsize": "10"}
_NONFINITE = {"fillcolor": "#fecaca", "color": _RED}
_HIGHLIGHT = {"color": "#dc2626", "penwidth": "3"}
_EDGES = {
    "fwd": {"color": "#374151"},
    "grad": {"color": "#c2410c"},
    "read": {"color": "#a1a7b0", "style": "dashed"},  # the backward pass reads a forward value
}
_POS = "label"
_BIG, _FAR_RANKS = 60, 6  # pictures with more boxes draw far arrows as stand-ins


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
        sinks = sorted(n for n in obj.nodes() if obj.nx.out_degree(n) == 0)
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
        outputs = sorted(n for n in graph.nodes() if graph.nx.out_degree(n) == 0)
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


def _chains(graph: Graph, ids: list[int], keep: set[int], min_len: int = 3) -> list[_Group]:
    """Runs of single-input, single-user nodes of one role (elementwise chains and the like)."""
    view = graph.nx.nodes
    nodes = {n: view[n] for n in ids}  # one networkx lookup per node, not seven
    users: dict[int, list[int]] = {n: [] for n in ids}
    for n in ids:
        for a in dict.fromkeys(nodes[n]["args"]):
            users[a].append(n)
    run_of: dict[int, list[int]] = {}
    runs: list[list[int]] = []
    for n in ids:
        node = nodes[n]
        if n in keep or node["op"] in ("input", "constant") or len(users[n]) != 1:
            continue
        inner = [a for a in dict.fromkeys(node["args"]) if nodes[a]["op"] != "constant"]
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
            and all(u in members for u in users[a])
        }
        groups.append(_Group(f"c{run[0]}_{run[-1]}", sorted(members | consts)))
    return groups


def _select(graph: Graph, ids: list[int], max_nodes: int | None, keep: set[int]):
    """Drawn node ids, collapsed chains and hidden nodes: at most ``max_nodes`` boxes."""
    if max_nodes is None or len(ids) <= max_nodes:
        return ids, [], []
    groups = _chains(graph, ids, keep)
    owner = {m: g.name for g in groups for m in g.members}
    units = len(ids) - len(owner) + len(groups)
    if units <= max_nodes:
        return [n for n in ids if n not in owner], groups, []
    # still too many: keep what is closest to the outputs (breadth first); the rest is
    # hidden, each hidden argument of a drawn node shown as a small "⋯ v12" stand-in
    by_name = {g.name: g for g in groups}
    nodes = graph.nx.nodes

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
    hidden = [n for n in ids if n not in chosen and owner.get(n) not in chosen]
    return [n for n in ids if n in chosen], kept, hidden


# -- values ----------------------------------------------------------------------------------


def _values(target: _Target, ids: list[int], at: Mapping[Any, Any]) -> dict[int, Any]:
    """Every node's value in one interpreter pass (nodes needing a placeholder are skipped)."""
    from .interp import evaluate

    graph = target.graph
    nodes = graph.nx.nodes
    skip: set[int] = set()
    for n in ids:
        if nodes[n]["op"] == "placeholder_like" or any(a in skip for a in nodes[n]["args"]):
            skip.add(n)
    wanted = [n for n in ids if n not in skip]
    known = {k: v for k, v in target.known.items() if k in graph}
    try:
        values = evaluate(graph, wanted, _named_values(at or {}, {}), known=known)
    except MissingInputError:
        if at is not None:
            raise
        return {n: known[n] for n in wanted if n in known}  # a tape's partial record
    return dict(zip(wanted, values, strict=True))


def _finite(value: Any) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def _scalar_text(x: Any) -> str:
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    return f"{float(x) + 0.0:.4g}"  # + 0.0 shows -0.0 as 0


def _short(value: Any) -> str:
    """One line: a scalar as ``%.4g``, a tensor as its few values or ``[min … max] μ=mean``."""
    arr = np.asarray(value)
    if arr.size == 1 and arr.ndim == 0:
        return _scalar_text(arr.item())
    if arr.size <= 4:
        return "[" + ", ".join(_scalar_text(v) for v in arr.ravel().tolist()) + "]"
    if arr.dtype.kind == "b":
        return f"{int(arr.sum())} of {arr.size} true"
    flat = arr.astype(np.float64).ravel()
    bad = ~np.isfinite(flat)
    text = ""
    if bad.any():
        text = f"{int(np.isnan(flat).sum())} nan, {int(np.isinf(flat).sum())} inf; "
        flat = flat[~bad]
    if flat.size:
        lo, hi, mean = (float(v) + 0.0 for v in (flat.min(), flat.max(), flat.mean()))
        if abs(mean) <= 1e-12 * max(abs(lo), abs(hi)):
            mean = 0.0  # rounding noise of a sum that is zero, e.g. a softmax gradient
        text += f"[{lo:.3g} … {hi:.3g}] μ={mean:.3g}"
    return text.rstrip("; ")


def _full(value: Any, limit: int = 1500) -> str:
    """The numbers for a tooltip, NumPy-summarised for big arrays."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    text = np.array2string(arr, threshold=60, edgeitems=3, precision=6, max_line_width=72)
    text = f"{arr.shape} {arr.dtype}\n{text}"
    return text if len(text) <= limit else text[:limit] + " …"


# -- labels ----------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _small(text: str, color: str = _GREY) -> str:
    return f'<font point-size="9" color="{color}">{_esc(text)}</font>'


def _params_text(params: tuple) -> str:
    parts = []
    for k, v in params:
        if v is None or v is False:
            continue
        parts.append(k if v is True else f"{k}={v}")
    return ", ".join(parts)


def _shape_text(node: dict) -> str:
    shape, dtype = node.get("shape"), node.get("dtype")
    parts = []
    if shape not in (None, ()):
        parts.append(str(tuple(shape)))
    if dtype is not None and np.dtype(dtype) != np.float64:
        parts.append(str(np.dtype(dtype)))
    return " ".join(parts)


def _const_text(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return _scalar_text(arr.item())
    return f"const {arr.shape}"


class _Namer:
    """Names in ∂f/∂v labels: outputs are f (or f₁, f₂ ...), other nodes their graph label."""

    _SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

    def __init__(self, graph: Graph, functions: list[int], user: dict[int, str]):
        self.graph = graph
        self.user = user
        self.out: dict[int, str] = {}
        for i, o in enumerate(functions, 1):
            if o in user:
                self.out[o] = user[o]
            elif graph.node(o)["op"] == "input":
                self.out[o] = graph.label(o)
            elif len(functions) == 1:
                self.out[o] = "f"
            else:
                self.out[o] = "f" + str(i).translate(self._SUB)

    def node(self, nid: int) -> str:
        return self.user.get(nid) or self.graph.label(nid)

    def adj(self, output: int, nid: int) -> str:
        return f"∂{self.out.get(output) or self.node(output)}/∂{self.node(nid)}"


def _adjoints(graph: Graph, drawn: set[int]) -> tuple[dict[int, list], dict[int, list]]:
    """Held adjoints per holder and, per node, the holders of its adjoints (drawn only)."""
    held: dict[int, list[tuple[int, int]]] = {}
    holders: dict[int, list[tuple[int, int]]] = {}
    for h in sorted(drawn):
        for o, n in graph.node(h).get("adjoint", ()):
            if o in drawn:
                held.setdefault(h, []).append((o, n))
                holders.setdefault(n, []).append((o, h))
    return held, holders


@dataclass
class _Ctx:
    """Everything the drawing needs: what is drawn, its names, values and adjoints."""

    target: _Target
    drawn: list[int]
    groups: list[_Group]
    hidden: list[int]
    names: _Namer
    held: dict[int, list]  # holder -> [(output, node)]
    holders: dict[int, list]  # node -> [(output, holder)]
    values: dict[int, Any]
    first_bad: int | None

    def __post_init__(self) -> None:
        self.graph = self.target.graph
        self.outputs = set(self.target.outputs)
        self.highlight = self.target.highlight


def _kind(ctx: _Ctx, nid: int) -> str:
    role = ctx.graph.node(nid)["role"]
    if role in ("input", "constant"):
        return role
    if role == "grad":
        return "adjoint" if nid in ctx.held else "grad"
    return "forward"


def _op_text(node: dict) -> str:
    op = OPS.get(node["op"])
    return op.display if op is not None else node["op"]


def _node_lines(ctx: _Ctx, nid: int) -> tuple[list[str], list[str]]:
    """HTML label lines and plain tooltip lines of one node."""
    graph, names = ctx.graph, ctx.names
    node = graph.node(nid)
    op = node["op"]
    shape = _shape_text(node)
    if op == "input":
        lines = [f"<b>{_esc(node['name'])}</b>"] + ([_small(shape)] if shape else [])
        tip = [f"input {node['name']}"]
    elif op == "constant":
        lines = [_esc(_const_text(node["value"]))]
        tip = [f"{graph.label(nid)} = constant"]
        if np.ndim(node["value"]):
            lines.append(_small(_short(node["value"])))
            tip.append(_full(node["value"]))
    else:
        params = _params_text(node["params"])
        head = f"<b>{_esc(_op_text(node))}</b>"
        lines = [head + (" " + _small(params) if params else "")]
        lines.append(_small(" ".join(filter(None, [graph.label(nid), shape]))))
        args = ", ".join(
            _const_text(graph.node(a)["value"]) if graph.op(a) == "constant" else names.node(a)
            for a in node["args"]
        )
        extra = f", {params}" if params else ""
        tip = [f"{names.node(nid)} = {node['op']}({args}{extra})   ({node['role']})"]
    if shape and op != "constant":
        tip.append(f"shape {shape}")
    header = names.out.get(nid) or names.user.get(nid)
    if header and op != "input" and (nid in ctx.outputs or nid in names.out):
        lines.insert(0, f'<font color="#111827"><b>{_esc(header)}</b></font>')
    marks = ctx.held.get(nid, [])
    if marks:
        text = " = ".join(names.adj(o, n) for o, n in marks[:3])
        if len(marks) > 3:
            text += f" (+{len(marks) - 3})"
        lines.append(f'<font color="{_ADJ}">= {_esc(text)}</font>')
        tip.append("holds " + ", ".join(names.adj(o, n) for o, n in marks))
    if nid in ctx.values:
        value = ctx.values[nid]
        color = "#111827" if _finite(value) else _RED
        if op != "constant":
            lines.append(f'<font color="{color}">{_esc(_short(value))}</font>')
        tip.append("value: " + _full(value))
    for o, h in ctx.holders.get(nid, []):
        if h == nid:
            continue
        label = names.adj(o, nid)
        if h in ctx.values:
            color = _ADJ if _finite(ctx.values[h]) else _RED
            lines.append(
                f'<font color="{color}">{_esc(label)} = {_esc(_short(ctx.values[h]))}</font>'
            )
            tip.append(f"{label} (in {names.node(h)}): {_full(ctx.values[h])}")
        else:
            tip.append(f"{label} is computed by {names.node(h)}")
    if nid == ctx.first_bad:
        lines.append(f'<font color="{_RED}"><b>⚠ first NaN/inf</b></font>')
        tip.append("the first node (in topological order) whose value is NaN or inf")
    if nid in ctx.highlight:
        reason = ctx.highlight[nid]
        if reason:
            lines.append(f'<font color="{_RED}"><b>⚠ {_esc(reason)}</b></font>')
            tip.append("⚠ " + reason)
    return lines, tip


def _node_attrs(ctx: _Ctx, nid: int) -> dict[str, str]:
    kind = _kind(ctx, nid)
    attrs = dict(STYLES[kind])
    lines, tip = _node_lines(ctx, nid)
    attrs["label"] = "<" + "<br/>".join(lines) + ">"
    attrs["tooltip"] = "\n".join(tip)
    if nid in ctx.values and not _finite(ctx.values[nid]):
        attrs.update(_NONFINITE)
    if nid in ctx.outputs:
        attrs["penwidth"] = "2.5"
    if nid in ctx.highlight:
        attrs.update(_HIGHLIGHT)
    return attrs


def _group_attrs(graph: Graph, group: _Group) -> dict[str, str]:
    ops = [_op_text(graph.node(m)) for m in group.members]
    common = ", ".join(f"{op}×{c}" if c > 1 else op for op, c in Counter(ops).most_common(4))
    tip = "collapsed chain: " + " → ".join(ops)
    attrs = dict(STYLES["summary"])
    attrs["label"] = f"<<b>⋯ chain of {len(ops)} nodes</b><br/>{_small(common)}>"
    attrs["tooltip"] = tip if len(tip) <= 1500 else tip[:1500] + " …"
    return attrs


# -- the picture -----------------------------------------------------------------------------


def _legend(ctx: _Ctx, extras: list[str]) -> str:
    kinds = {_kind(ctx, n) for n in ctx.drawn} | ({"summary"} if ctx.groups else set())
    if any(n in ctx.outputs for n in ctx.drawn):
        extras.append("<b>thick border</b>: output")
    if ctx.values:
        if ctx.holders:
            extras.append(f'<font color="{_ADJ}">∂f/∂v = …</font>: adjoint of that node')
        if any(np.ndim(v) for v in ctx.values.values()):
            extras.append("tensor: [min … max] μ=mean (tooltip: all values)")
        if any(not _finite(v) for n, v in ctx.values.items() if n in set(ctx.drawn)):
            extras.append(f'<font color="{_RED}">red</font>: NaN or inf value')
    if set(ctx.highlight) & set(ctx.drawn):
        extras.append(f'<font color="{_RED}"><b>red border</b></font>: highlighted (⚠ why)')
    rows = []
    for kind in ("input", "constant", "forward", "grad", "adjoint", "summary"):
        if kind in kinds:
            st = STYLES[kind]
            rows.append(
                f'<tr><td bgcolor="{st["fillcolor"]}" border="1" color="{st["color"]}" '
                f'style="rounded">  </td><td align="left">{_esc(_LEGEND_TEXT[kind])}'
                "</td></tr>"
            )
    rows += [f'<tr><td colspan="2" align="left">{e}</td></tr>' for e in extras]
    return (
        '<<table border="0" cellborder="0" cellspacing="3" cellpadding="2">'
        '<tr><td colspan="2"><b>legend</b></td></tr>' + "".join(rows) + "</table>>"
    )


def _title(ctx: _Ctx, at: Mapping[Any, Any] | None) -> str:
    graph, target = ctx.graph, ctx.target
    lines = []
    for o in target.outputs:
        if graph.node(o)["role"] != "grad" and graph.op(o) != "input" and len(lines) < 3:
            text = f"{ctx.names.out.get(o, ctx.names.node(o))} = "
            text += to_string(Expr(graph, o), max_nodes=200)
            wrapped = textwrap.wrap(text, 100, subsequent_indent="    ")
            lines += wrapped[:2] if len(wrapped) <= 2 else [*wrapped[:2], "    …"]
    if at:
        vals = []
        for k, v in _named_values(at, {}).items():
            v = getattr(v, "__graphad_value__", lambda v=v: v)()
            vals.append(f"{k}={_short(v)}" if np.size(v) <= 1 else f"{k}: {np.shape(v)}")
        lines.append("at " + ", ".join(vals))
    if ctx.hidden:
        shown = len(ctx.drawn) + sum(len(g.members) for g in ctx.groups)
        lines.append(f"(showing {shown} of {shown + len(ctx.hidden)} nodes: max_nodes)")
    return "".join(line + "\\l" for line in lines)  # "\\l" ends a left-justified line


def render(
    exprs: Any,
    path: str | Path | None = None,
    *,
    at: Mapping[Any, Any] | None = None,
    rankdir: Literal["TB", "LR", "BT", "RL"] = "TB",
    cluster: bool = True,
    max_nodes: int | None = 200,
    highlight: Mapping[Any, str | None] | None = None,
    legend: bool = True,
    title: str | bool = True,
) -> graphviz.Digraph:
    """Draw a computational graph: forward ops, gradient ops and, with ``at=``, values.

    Parameters
    ----------
    exprs : Expr, list or dict of Exprs, Graph, or an object carrying a graph
        What to draw with all it depends on; shared subexpressions appear once.
        A dict names its outputs (``{"loss": loss}`` labels adjoints ``∂loss/∂W``).
        Objects with ``.graph`` and ``.outputs`` (or ``.output_ids``, ``.expr``)
        work too: compiled functions, tapes, gradient-check reports (whose
        ``.culprit`` node is highlighted and whose ``.at`` mapping is used).
    path : str or Path, optional
        Also write the picture; the format follows the suffix (``.svg``, ``.png``,
        ``.pdf``, or ``.dot``/``.gv``, which need no Graphviz program).
    at : mapping, optional
        Input values by name: every drawn node shows its value and, where the
        gradient graph computes it, its adjoint (full numbers in tooltips).
        NaN/inf values are drawn in red; the first node producing one is marked.
    rankdir : {"TB", "LR", "BT", "RL"}
        Layout direction.
    cluster : bool
        Box the forward and backward parts separately (when both are drawn).
    max_nodes : int or None
        Beyond this many nodes, long single-input chains are collapsed into
        one box each and, if still too many, only the nodes nearest the
        outputs are drawn (hidden arguments appear as small ``⋯ v12``
        stand-ins, and the title says how many are hidden).  ``None`` draws
        everything.
    highlight : mapping, optional
        ``{node (Expr or id): reason}``: drawn in red with the reason.
    legend, title : bool
        Draw the legend; put the expression (and ``at`` values) on top. ``title``
        may also be the text to use.

    Returns
    -------
    graphviz.Digraph
        Its ``.source`` is deterministic DOT; node names are ``n<id>``.

    Raises
    ------
    GraphadError
        Unknown file suffix, or a format needing Graphviz's ``dot`` when it is
        not installed (the message says how to install it).

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph():
    ...     x = ga.symbols("x")
    ...     f = x**2 + x - 1
    ...     dot = ga.render([f, ga.grad(f, x)], at={"x": 3.0})
    >>> "∂f/∂x = 7" in dot.source
    True
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise GraphadError(f"render: rankdir must be TB, LR, BT or RL, not {rankdir!r}")
    target = _resolve(exprs)
    for k, v in (highlight or {}).items():
        target.highlight[_node_id(k, target.graph)[1]] = "" if v is None else str(v)
    at = at if at is not None else target.at
    ctx = _plan(target, at, max_nodes)
    dot = graphviz.Digraph(
        "graphad",
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "arrowsize": "0.7", "fontcolor": _GREY},
    )
    dot.attr(rankdir=rankdir, fontname=_FONT, fontsize="12", nodesep="0.3", ranksep="0.4")
    text = _title(ctx, at) if title is True else (title or "")
    if text:
        dot.attr(label=text, labelloc="t", labeljust="l")
    edges, stand_ins, extras = _edges(ctx)
    _draw_nodes(dot, ctx, cluster, stand_ins)
    for tail, head, attrs in edges:
        dot.edge(tail, head, **attrs)
    if legend:
        dot.node("legend", label=_legend(ctx, extras), **_LEGEND)
    if path is not None:
        _write(dot, Path(path))
    return dot


def _plan(target: _Target, at: Mapping[Any, Any] | None, max_nodes: int | None) -> _Ctx:
    graph = target.graph
    ids = sorted(ancestors(graph, target.outputs))
    values = _values(target, ids, at) if at is not None or target.known else {}
    first_bad = next((n for n in ids if n in values and not _finite(values[n])), None)
    keep = set(target.outputs) | set(target.highlight)
    if first_bad is not None:
        keep.add(first_bad)
    drawn, groups, hidden = _select(graph, ids, max_nodes, keep)
    held, holders = _adjoints(graph, set(drawn))
    # the functions: outputs given that are not gradients, and whatever was differentiated
    functions = [o for o in target.outputs if graph.node(o)["role"] != "grad"]
    functions += sorted({o for marks in held.values() for o, _ in marks} - set(functions))
    names = _Namer(graph, functions, target.names)
    return _Ctx(target, drawn, groups, hidden, names, held, holders, values, first_bad)


def _part(ctx: _Ctx, n: int, drawn: set[int]) -> str:
    """Which cluster a node goes in; constants used only by gradient ops are backward."""
    graph = ctx.graph
    role = graph.node(n)["role"]
    if role == "constant":
        users = [u for u in graph.nx.successors(n) if u in drawn]
        grad = users and all(graph.node(u)["role"] == "grad" for u in users)
        return "backward" if grad else "forward"
    return "backward" if role == "grad" else "forward"


def _draw_nodes(dot: graphviz.Digraph, ctx: _Ctx, cluster: bool, stand_ins: dict) -> None:
    graph, drawn = ctx.graph, set(ctx.drawn)
    parts = {"forward": dot, "backward": dot}
    subgraphs = []
    if cluster and any(graph.node(n)["role"] == "grad" for n in drawn):
        for name, label, color in (
            ("forward", "forward pass", "#4338ca"),
            ("backward", "backward pass (gradients)", "#c2410c"),
        ):
            sub = parts[name] = graphviz.Digraph(f"cluster_{name}")
            sub.attr(
                label=label, style="rounded,dashed", color=color, fontcolor=color, labeljust="l"
            )
            subgraphs.append(sub)
    for n in ctx.drawn:
        parts[_part(ctx, n, drawn)].node(f"n{n}", **_node_attrs(ctx, n))
    for g in ctx.groups:
        grad = all(graph.node(m)["role"] == "grad" for m in g.members)
        parts["backward" if grad else "forward"].node(g.name, **_group_attrs(graph, g))
    for name, (src, user) in stand_ins.items():
        label = graph.label(src)
        if src in drawn:
            tip = f"{label} is drawn further up (an arrow would cross the picture)"
        else:
            label = "⋯ " + label
            tip = (
                f"{label[2:]} = {_op_text(graph.node(src))}(...) and the nodes it needs "
                f"are not drawn: {len(ctx.hidden)} nodes hidden (max_nodes)"
            )
        parts[_part(ctx, user, drawn)].node(
            name, label=label, shape="plaintext", fontcolor=_GREY, fontsize="9", tooltip=tip
        )
    for sub in subgraphs:
        dot.subgraph(sub)


def _edges(ctx: _Ctx) -> tuple[list, dict[str, tuple[int, int]], list[str]]:
    """Edges with argument positions, stand-ins, and the legend lines they need.

    A hidden argument (``max_nodes``) is drawn as a small ``⋯ v12`` stand-in.  In
    big pictures, an arrow spanning many ranks (typically a gradient op reading
    a forward value) starts from a small ``v12`` stand-in instead: such arrows
    are most of the clutter, and most of Graphviz's layout time.
    """
    nodes, drawn = ctx.graph.nx.nodes, set(ctx.drawn)
    owner = {m: g.name for g in ctx.groups for m in g.members}
    depth: dict[int, int] = {}
    for n in ctx.drawn:
        depth[n] = 1 + max((depth[a] for a in nodes[n]["args"] if a in depth), default=-1)
    big = len(ctx.drawn) + len(ctx.groups) > _BIG
    edges, stand_ins, kinds = [], {}, set()

    def tail(a: int, user: int) -> str:
        if a in owner:
            return owner[a]
        if a not in drawn:
            stand_ins[f"h{a}"] = (a, user)
            kinds.add("hidden")
            return f"h{a}"
        if big and user in depth and depth[user] - depth[a] > _FAR_RANKS:
            stand_ins[f"r{a}_{user}"] = (a, user)
            kinds.add("far")
            return f"r{a}_{user}"
        return f"n{a}"

    for n in ctx.drawn:
        args = nodes[n]["args"]
        pos: dict[str, list[str]] = {}
        for i, a in enumerate(args):
            pos.setdefault(tail(a, n), []).append(str(i))
        for src, idx in pos.items():
            real = int(src[1:]) if src[0] == "n" else None
            if nodes[n]["role"] != "grad":
                kind = "fwd"
            elif real is not None and nodes[real]["role"] != "grad":
                kind = "read"
            else:
                kind = "grad"
            kinds.add(kind)
            attrs = dict(_EDGES[kind])
            if len(args) > 1:
                attrs[_POS] = ",".join(idx)
                kinds.add("pos")
            edges.append((src, f"n{n}", attrs))
    for g in ctx.groups:
        members = set(g.members)
        first = g.members[0]
        for src in dict.fromkeys(
            tail(a, first) for m in g.members for a in nodes[m]["args"] if a not in members
        ):
            edges.append((src, g.name, _EDGES["fwd"]))
    extras = []
    if "pos" in kinds:
        extras.append("edge label k: argument k of the op")
    if "read" in kinds:
        extras.append(f'<font color="{_GREY}">- - -  </font>backward op reads a forward value')
    if "far" in kinds:
        extras.append(f'<font color="{_GREY}">v12</font>: node v12, drawn further up')
    if "hidden" in kinds:
        extras.append(
            f'<font color="{_GREY}">⋯ v12</font>: node v12 and what it needs, not drawn (max_nodes)'
        )
    return edges, stand_ins, extras


# -- output ----------------------------------------------------------------------------------

_INSTALL = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`; "
    "or write a .dot file, which needs no Graphviz program"
)


def _write(dot: graphviz.Digraph, path: Path) -> None:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GraphadError(
            f"render: cannot tell the format of {str(path)!r} from its suffix; "
            f"use one of {', '.join('.' + f for f in FORMATS)}"
        )
    if fmt in ("dot", "gv"):
        path.write_text(dot.source, encoding="utf-8")
        return
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphadError(
            f"render: writing {path.name} needs the Graphviz `dot` program, "
            f"which is not on PATH; {_INSTALL}"
        ) from None
    except graphviz.CalledProcessError as exc:
        raise GraphadError(f"render: Graphviz failed on {path.name}: {exc}") from None
    path.write_bytes(data)


def repr_svg(obj: Any) -> str | None:
    """SVG text of ``render(obj)`` for Jupyter's ``_repr_svg_``; ``None`` without Graphviz.

    Examples
    --------
    >>> class Report:  # anything carrying a graph and its outputs
    ...     def _repr_svg_(self):
    ...         return repr_svg(self)
    """
    try:
        return render(obj)._repr_image_svg_xml()
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, GraphadError):
        return None
