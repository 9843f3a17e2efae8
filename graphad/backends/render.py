"""Draw graphs with graphviz: forward and gradient nodes, values and adjoints.

:func:`render` turns expressions (and anything that carries a graph: a
compiled ``Function``, a gradient-check report, a tape) into a
``graphviz.Digraph`` whose DOT source is deterministic: node names are the
stable node ids (``n12``), so the same graph gives byte-identical DOT.

This module is imported lazily (``ga.render``), so importing graphviz at module
level keeps ``import graphad`` free of it.

What is drawn (which nodes, folded into which groups) is decided first, in
:mod:`.render_plan`; labels and styles are :mod:`.render_labels`; this module draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import graphviz

from ..core._escape import dot_string, dot_tooltip, short_name
from ..core.errors import GraphadError, MissingInputError
from ..core.expr import Expr, _named_values
from ..core.graph import Graph, ancestors
from .printing import to_text
from .render_labels import (
    FONT,
    GREY,
    LEGEND_ATTRS,
    STYLES,
    Namer,
    const_label,
    finite,
    group_attrs,
    legend_label,
    node_attrs,
    op_text,
    title_text,
)
from .render_plan import (
    _BIG,
    _Group,
    _node_id,
    _resolve,
    _select,
    _Target,
    _without_plumbing,
)

__all__ = ["render", "repr_svg", "FORMATS", "STYLES"]

#: File suffixes :func:`render` writes; ``dot``/``gv`` need no Graphviz program.
FORMATS = ("svg", "png", "pdf", "dot", "gv")

_EDGES = {
    "fwd": {"color": "#374151"},
    "grad": {"color": "#c2410c"},
    "read": {"color": "#a1a7b0", "style": "dashed"},  # the backward pass reads a forward value
}
_POS = "label"
_FAR_RANKS = 6  # pictures of more than _BIG boxes draw far arrows as stand-ins
_READ_BOXES = 20  # in bigger pictures, a gradient op reading a forward value reads a stand-in


# -- values ----------------------------------------------------------------------------------


def _values(target: _Target, ids: list[int], at: Mapping[Any, Any]) -> dict[int, Any]:
    """Every node's value in one interpreter pass (nodes needing a placeholder are skipped)."""
    from .interp import evaluate

    graph = target.graph
    nodes = graph.records()
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
    names: Namer
    held: dict[int, list]  # holder -> [(output, node)]
    holders: dict[int, list]  # node -> [(output, holder)]
    values: dict[int, Any]
    first_bad: int | None

    def __post_init__(self) -> None:
        self.graph = self.target.graph
        self.outputs = set(self.target.outputs)
        self.highlight = self.target.highlight


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
        ``.pdf``, or ``.dot``/``.gv``, which need no Graphviz program).  ``.html``
        writes the backprop stepper (:mod:`graphad.stepper`): one self-contained
        page with the picture whose buttons, slider and arrow keys step through
        the backward pass of ``f`` (given as ``[f, *grads]``) at ``at`` node by
        node, showing each chain-rule term with its numbers.
    at : mapping, optional
        Input values by name: every drawn node shows its value and, where the
        gradient graph computes it, its adjoint (full numbers in tooltips).
        NaN/inf values are drawn in red; the first node producing one is marked.
    rankdir : {"TB", "LR", "BT", "RL"}
        Layout direction.
    cluster : bool
        Box the forward and backward parts separately (when both are drawn).
    max_nodes : int or None
        Pictures of more than 60 nodes draw a long sum as one ``Σ of N terms``
        box (its middle terms folded into one counted box) and an op repeated
        across many layers as one box with a count (``tanh ×37``).  Beyond
        ``max_nodes`` nodes (or 40 ranks), long single-input chains are collapsed
        into one box each and, if still too many, only the nodes nearest the
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
    if path is not None and Path(path).suffix.lower() in (".html", ".htm"):
        return _draw_page(target, Path(path), at, rankdir, cluster, max_nodes, legend)
    return _draw(target, path, at, rankdir, cluster, max_nodes, legend, title)


def _draw_page(
    target: _Target,
    path: Path,
    at: Mapping[Any, Any] | None,
    rankdir: str,
    cluster: bool,
    max_nodes: int | None,
    legend: bool,
) -> graphviz.Digraph:
    """The backprop stepper page (:mod:`graphad.stepper`): picture plus steps, one file."""
    from .stepper import steps_for, write_page

    at = at if at is not None else target.at
    if at is None:
        raise GraphadError(
            "render: a backprop page (.html) shows numbers: give the point, e.g. at={'x': 3.0}"
        )
    outputs = list(target.outputs)
    bp = steps_for(target.graph, outputs, target.names, at)
    ctx_box: list[_Ctx] = []
    dot = _draw(target, None, at, rankdir, cluster, max_nodes, legend, True, ctx_out=ctx_box)
    ctx = ctx_box[0]
    holders = {n: [h for _, h in pairs] for n, pairs in ctx.holders.items()}
    try:
        svg = dot.pipe(format="svg").decode("utf-8")
    except graphviz.ExecutableNotFound:
        raise GraphadError(
            f"render: writing {path.name} needs the Graphviz `dot` program, "
            f"which is not on PATH; {_INSTALL}"
        ) from None
    title = to_text(Expr(target.graph, bp.output), names=False, max_nodes=200)[:300]
    write_page(bp, svg, path, f"{bp.function_name} = {title}", holders)
    return dot


def _draw(
    target: _Target,
    path: str | Path | None,
    at: Mapping[Any, Any] | None,
    rankdir: str,
    cluster: bool,
    max_nodes: int | None,
    legend: bool,
    title: str | bool,
    note: str = "",
    ctx_out: list | None = None,
) -> graphviz.Digraph:
    at = at if at is not None else target.at
    ctx = _plan(target, at, max_nodes)
    if ctx_out is not None:  # the stepper page: forward values only, it shows the adjoints
        nodes = ctx.graph.records()
        fwd = {n for n in nodes if nodes[n]["role"] != "grad"}
        ctx.values = {n: v for n, v in ctx.values.items() if n in fwd}
        ctx_out.append(ctx)
    dot = graphviz.Digraph(
        "graphad",
        node_attr={"fontname": FONT, "fontsize": "11"},
        edge_attr={"fontname": FONT, "fontsize": "9", "arrowsize": "0.7", "fontcolor": GREY},
    )
    dot.attr(rankdir=rankdir, fontname=FONT, fontsize="12", nodesep="0.3", ranksep="0.4")
    # the caller's own title is shown as it is, never read as DOT or HTML
    text = title_text(ctx, at) if title is True else dot_string(title or "", limit=2000)
    if note:
        text += dot_string(note, limit=300) + "\\l"
    if text:
        dot.attr(label=text, labelloc="t", labeljust="l")
    edges, stand_ins, extras = _edges(ctx)
    _draw_nodes(dot, ctx, cluster, stand_ins)
    for tail, head, attrs in edges:
        dot.edge(tail, head, **attrs)
    if legend:
        dot.node("legend", label=legend_label(ctx, extras), **LEGEND_ATTRS)
    if path is not None:
        _write(dot, Path(path))
    return dot


# Shape plumbing, drawn as what it means per element: broadcasting undone (or redone) is
# its argument; a fill (the seed of a gradient) or an element count reads only its
# argument's shape, so the arrow from it is not drawn.
def _plan(target: _Target, at: Mapping[Any, Any] | None, max_nodes: int | None) -> _Ctx:
    ids = sorted(ancestors(target.graph, target.outputs))
    values = _values(target, ids, at) if at is not None or target.known else {}
    target, ids = _without_plumbing(target, ids)
    graph = target.graph
    first_bad = next((n for n in ids if n in values and not finite(values[n])), None)
    keep = set(target.outputs) | set(target.highlight)
    if first_bad is not None:
        keep.add(first_bad)
    outs = set(target.outputs) - set(target.highlight)
    drawn, groups, hidden = _select(graph, ids, max_nodes, keep, outs)
    held, holders = _adjoints(graph, set(drawn))
    # the functions: outputs given that are not gradients, and whatever was differentiated
    functions = [o for o in target.outputs if graph.node(o)["role"] != "grad"]
    functions += sorted({o for marks in held.values() for o, _ in marks} - set(functions))
    names = Namer(graph, functions, target.names)
    return _Ctx(target, drawn, groups, hidden, names, held, holders, values, first_bad)


def _part(ctx: _Ctx, n: int, drawn: set[int]) -> str:
    """Which cluster a node goes in; constants used only by gradient ops are backward."""
    graph = ctx.graph
    role = graph.node(n)["role"]
    if role == "constant":
        users = [u for u in graph.users(n) if u in drawn]
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
        parts[_part(ctx, n, drawn)].node(f"n{n}", **node_attrs(ctx, n))
    for g in ctx.groups:
        grad = all(graph.node(m)["role"] == "grad" for m in g.members)
        parts["backward" if grad else "forward"].node(g.name, **group_attrs(graph, g))
    for name, (src, user) in stand_ins.items():
        label = short_name(graph.label(src))
        if src in drawn:
            tip = f"{label} is drawn further up (an arrow would cross the picture)"
            if graph.node(user)["role"] == "grad" and graph.node(src)["role"] != "grad":
                tip = f"the gradient op {graph.label(user)} reads {label} of the forward pass"
            if graph.node(src)["op"] == "constant":  # constants are drawn by value, not id
                label = const_label(graph.node(src))
        else:
            tip = (
                f"{label} = {op_text(graph.node(src))}(...) and the nodes it needs "
                f"are not drawn: {len(ctx.hidden)} nodes hidden (max_nodes)"
            )
            label = "⋯ " + label
        parts[_part(ctx, user, drawn)].node(
            name,
            label=dot_string(label),
            shape="plaintext",
            fontcolor=GREY,
            fontsize="9",
            tooltip=dot_tooltip(tip),
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
    nodes, drawn = ctx.graph.records(), set(ctx.drawn)
    owner = {m: g.name for g in ctx.groups for m in g.members}
    depth: dict[int, int] = {}
    for n in ctx.drawn:
        depth[n] = 1 + max((depth[a] for a in nodes[n]["args"] if a in depth), default=-1)
    big = len(ctx.drawn) + len(ctx.groups) > _BIG
    many = len(ctx.drawn) + len(ctx.groups) > _READ_BOXES
    edges, stand_ins, kinds = [], {}, set()
    of: dict[str, int] = {}  # stand-in -> the node it stands for

    def tail(a: int, user: int) -> str:
        if a in owner:
            return owner[a]
        if a not in drawn:
            stand_ins[f"h{a}"] = (a, user)
            kinds.add("hidden")
            return f"h{a}"
        far = user in depth and depth[user] - depth[a] > _FAR_RANKS
        # the backward pass reading a forward value: a short reference next to the
        # reader, not a long dashed arrow across the picture (issue 16)
        reads = nodes[user]["role"] == "grad" and nodes[a]["role"] not in ("grad", "constant")
        if (big and far) or (reads and many):
            name = f"r{a}_{user}"
            stand_ins[name] = (a, user)
            of[name] = a
            kinds.add("read-ref" if reads else "far")
            return name
        return f"n{a}"

    for n in ctx.drawn:
        args = nodes[n]["args"]
        pos: dict[str, list[str]] = {}
        for i, a in enumerate(args):
            pos.setdefault(tail(a, n), []).append(str(i))
        for src, idx in pos.items():
            real = int(src[1:]) if src[0] == "n" else of.get(src)
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
            edges.append((src, g.name, _EDGES["grad" if nodes[first]["role"] == "grad" else "fwd"]))
    extras = []
    if "pos" in kinds:
        extras.append("edge label k: argument k of the op")
    if "read" in kinds:
        extras.append(f'<font color="{GREY}">- - -  </font>backward op reads a forward value')
    if "far" in kinds:
        extras.append(f'<font color="{GREY}">v12</font>: node v12, drawn further up')
    if "read-ref" in kinds:
        extras.append(
            f'<font color="{GREY}">v12 - - &gt;</font>: reads node v12 of the forward pass'
        )
    if "hidden" in kinds:
        extras.append(
            f'<font color="{GREY}">⋯ v12</font>: node v12 and what it needs, not drawn (max_nodes)'
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
        _save(path, dot.source.encode("utf-8"))
        return
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphadError(
            f"render: writing {path.name} needs the Graphviz `dot` program, "
            f"which is not on PATH; {_INSTALL}"
        ) from None
    except (graphviz.CalledProcessError, OSError) as exc:  # OSError: dot quit early (pipe)
        detail = getattr(exc, "stderr", None) or exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        first = str(detail).strip().splitlines()[:1] or [type(exc).__name__]
        raise GraphadError(f"render: Graphviz failed on {path.name!r}: {first[0][:300]}") from None
    _save(path, data)


def _save(path: Path, data: bytes) -> None:
    """Write the file; a path that cannot be written is a GraphadError naming it."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GraphadError(f"render: cannot write {str(path)!r}: {reason}") from exc


#: Automatic displays draw at most this many boxes, and show values (a report's
#: point) only for graphs of at most DISPLAY_VALUE_NODES nodes: Jupyter calls
#: them on every output, so they must stay quick whatever the graph's size.
DISPLAY_MAX_NODES = 40
DISPLAY_VALUE_NODES = 2_000


def display_dot(obj: Any) -> graphviz.Digraph:
    """The bounded drawing automatic displays show (see :func:`repr_svg`)."""
    target = _resolve(obj)
    if len(target.outputs) > DISPLAY_MAX_NODES:
        target.outputs = target.outputs[:DISPLAY_MAX_NODES]
    size = len(ancestors(target.graph, target.outputs))
    if size > DISPLAY_VALUE_NODES:  # evaluating every node for its label would be slow
        target.at, target.known = None, {}
    note = ""
    if size > DISPLAY_MAX_NODES:
        note = f"({size} nodes in all: ga.render(..., max_nodes=None) draws every one)"
    return _draw(target, None, None, "TB", True, DISPLAY_MAX_NODES, True, True, note)


def repr_svg(obj: Any) -> str | None:
    """SVG text for Jupyter's ``_repr_svg_``; ``None`` without Graphviz.

    Bounded for big graphs: at most :data:`DISPLAY_MAX_NODES` boxes are drawn
    (the picture says how many nodes there are and how to draw them all).

    Examples
    --------
    >>> class Report:  # anything carrying a graph and its outputs
    ...     def _repr_svg_(self):
    ...         return repr_svg(self)
    """
    try:
        return display_dot(obj)._repr_image_svg_xml()
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, GraphadError, OSError):
        return None
