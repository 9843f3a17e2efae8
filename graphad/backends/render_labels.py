"""Labels, tooltips, styles and the legend of rendered graphs (see :mod:`graphad.backends.render`).

Everything here turns a planned drawing (which nodes, their names, values and
adjoints) into text: HTML-like Graphviz labels, plain tooltips with the full
numbers, and the legend that explains the node styles.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core._escape import DOT_MAX_BYTES, clean, dot_html, dot_lines, dot_tooltip, short_name
from ..core.expr import Expr, _named_values
from ..core.graph import Graph
from ..ops import OPS
from .printing import constant_text, to_text

if TYPE_CHECKING:
    from .render import _Ctx, _Group

FONT = "Helvetica,Arial,sans-serif"
GREY = "#6b7280"
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
    "summary": _box("#fafafa", GREY, "rounded,dashed,filled"),
}
_LEGEND_TEXT = {
    "input": "input",
    "constant": "constant",
    "forward": "forward op",
    "grad": "gradient op (chain rule)",
    "adjoint": "gradient op holding an adjoint ∂f/∂v",
    "summary": "collapsed nodes (see tooltip)",
}
LEGEND_ATTRS = {"shape": "box", "style": "rounded", "color": "#d1d5db", "fontsize": "10"}
_NONFINITE = {"fillcolor": "#fecaca", "color": _RED}
_HIGHLIGHT = {"color": "#dc2626", "penwidth": "3"}


def finite(value: Any) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def _scalar_text(x: Any) -> str:
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    return f"{float(x) + 0.0:.4g}"  # + 0.0 shows -0.0 as 0


def short(value: Any) -> str:
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


def _esc(text: str, limit: int = 200) -> str:
    return dot_html(text, limit)


def _small(text: str, color: str = GREY) -> str:
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


class Namer:
    """Names in ∂f/∂v labels: outputs are f (or f₁, f₂ ...), other nodes their graph label."""

    _SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

    def __init__(self, graph: Graph, functions: list[int], user: dict[int, str]):
        self.graph = graph
        self.user = user
        self.out: dict[int, str] = {}
        for i, o in enumerate(functions, 1):
            if o in user:
                self.out[o] = short_name(user[o])
            elif graph.node(o)["op"] == "input":
                self.out[o] = short_name(graph.label(o))
            elif len(functions) == 1:
                self.out[o] = "f"
            else:
                self.out[o] = "f" + str(i).translate(self._SUB)

    def node(self, nid: int) -> str:
        """The node's name for labels: one line, at most 40 characters."""
        return short_name(self.user.get(nid) or self.graph.label(nid))

    def adj(self, output: int, nid: int) -> str:
        return f"∂{self.out.get(output) or self.node(output)}/∂{self.node(nid)}"


def _kind(ctx: _Ctx, nid: int) -> str:
    role = ctx.graph.node(nid)["role"]
    if role in ("input", "constant"):
        return role
    if role == "grad":
        return "adjoint" if nid in ctx.held else "grad"
    return "forward"


# What a person would write for the ops only gradients make (the op table's short
# names, such as matmul_grad_a or sum_to, are internal); args are (g, a, b) for matmul.
_READABLE = {
    "sum_to_like": "sum over broadcast axes",
    "unreduce": "broadcast back",
    "broadcast_like": "broadcast",
    "reshape_like": "reshape",
    "astype_like": "cast",
    "numel": "count of elements",
    "getitem_grad": "scatter",
    "matmul_grad_a": "g @ Bᵀ",
    "matmul_grad_b": "Aᵀ @ g",
    "dot_grad_a": "dot(g, Bᵀ)",
    "dot_grad_b": "dot(Aᵀ, g)",
    "concat_part": "slice",
    "stack_part": "take",
    "placeholder_like": "placeholder",
}


def op_text(node: dict) -> str:
    name = node["op"]
    if name in _READABLE:
        return _READABLE[name]
    op = OPS.get(name)
    return op.display if op is not None else name


def const_label(node: dict) -> str:
    """A constant as its boxes show it: the number, or ``const (3, 2)``."""
    value = node["value"]
    if type(value) is float and not value.is_integer():
        from .printing import constant_text

        return constant_text(value, node.get("exact"))
    return _const_text(value)


def _node_lines(ctx: _Ctx, nid: int) -> tuple[list[str], list[str]]:
    """HTML label lines and plain tooltip lines of one node."""
    graph, names = ctx.graph, ctx.names
    node = graph.node(nid)
    op = node["op"]
    shape = _shape_text(node)
    if op == "input":
        lines = [f"<b>{_esc(names.node(nid))}</b>"] + ([_small(shape)] if shape else [])
        tip = [f"input {clean(node['name'], 1000)}"]
    elif op == "constant":
        lines = [_esc(_const_text(node["value"]))]
        value = node["value"]
        if type(value) is float and not value.is_integer():  # exact: log(2), not 0.6931
            lines = [_esc(constant_text(node["value"], node.get("exact")))]
        tip = [f"{graph.label(nid)} = constant"]
        if np.ndim(node["value"]):
            lines.append(_small(short(node["value"])))
            tip.append(_full(node["value"]))
    else:
        params = _params_text(node["params"])
        head = f"<b>{_esc(op_text(node))}</b>"
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
    header = names.out.get(nid) or short_name(names.user.get(nid) or "")
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
        color = "#111827" if finite(value) else _RED
        if op != "constant":
            lines.append(f'<font color="{color}">{_esc(short(value))}</font>')
        tip.append("value: " + _full(value))
    for o, h in ctx.holders.get(nid, []):
        if h == nid:
            continue
        label = names.adj(o, nid)
        if h in ctx.values:
            color = _ADJ if finite(ctx.values[h]) else _RED
            lines.append(
                f'<font color="{color}">{_esc(label)} = {_esc(short(ctx.values[h]))}</font>'
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
            tip.append("⚠ " + clean(reason, 1000))
    return lines, tip


def node_attrs(ctx: _Ctx, nid: int) -> dict[str, str]:
    kind = _kind(ctx, nid)
    attrs = dict(STYLES[kind])
    lines, tip = _node_lines(ctx, nid)
    label = "<br/>".join(lines)
    if len(label.encode("utf-8")) > DOT_MAX_BYTES:  # many long parts: keep the op only
        label = lines[0] if len(lines[0].encode("utf-8")) <= DOT_MAX_BYTES else "⋯"
    attrs["label"] = "<" + label + ">"
    attrs["tooltip"] = dot_tooltip("\n".join(tip), limit=3000)
    if nid in ctx.values and not finite(ctx.values[nid]):
        attrs.update(_NONFINITE)
    if nid in ctx.outputs:
        attrs["penwidth"] = "2.5"
    if nid in ctx.highlight:
        attrs.update(_HIGHLIGHT)
    return attrs


def group_attrs(graph: Graph, group: _Group) -> dict[str, str]:
    ops = [op_text(graph.node(m)) for m in group.members]
    common = ", ".join(f"{c} {op}" if c > 1 else op for op, c in Counter(ops).most_common(4))
    attrs = dict(STYLES["summary"])
    if group.kind == "sum":
        tip = f"a sum of {group.count} terms ({len(ops)} additions drawn as one box)"
        attrs["label"] = f"<<b>Σ of {group.count} terms</b><br/>{_small(f'{len(ops)} additions')}>"
    elif group.kind == "terms":
        names = [short_name(graph.label(m)) for m in group.members]
        tip = f"{group.count} terms of a sum, {len(ops)} nodes: " + ", ".join(names)
        attrs["label"] = (
            f"<<b>⋯ {group.count} more terms</b><br/>{_small(f'{len(ops)} nodes: {common}')}>"
        )
    elif group.kind == "layers":
        tip = (
            f"{group.count} nodes doing the same at {group.count} places (e.g. the same op in "
            "each layer of a network): "
            + ", ".join(short_name(graph.label(m)) for m in group.members)
        )
        first = graph.node(group.members[0])
        if first["op"] == "input":
            ends = f"{graph.label(group.members[0])} … {graph.label(group.members[-1])}"
            attrs.update(STYLES["input"])
            attrs["style"] = "dashed"
            attrs["label"] = f"<<b>inputs ×{group.count}</b><br/>{_small(short_name(ends))}>"
        else:
            head = f"{_esc(ops[0])} ×{group.count}"
            attrs["label"] = f"<<b>{head}</b><br/>{_small('the same op, repeated')}>"
    else:
        tip = "collapsed chain: " + " → ".join(ops)
        attrs["label"] = f"<<b>⋯ chain of {len(ops)} nodes</b><br/>{_small(common)}>"
    attrs["tooltip"] = dot_tooltip(tip, limit=1500)
    return attrs


# -- the picture -----------------------------------------------------------------------------


def legend_label(ctx: _Ctx, extras: list[str]) -> str:
    kinds = {_kind(ctx, n) for n in ctx.drawn} | ({"summary"} if ctx.groups else set())
    if any(n in ctx.outputs for n in ctx.drawn):
        extras.append("<b>thick border</b>: output")
    if ctx.values:
        if ctx.holders:
            extras.append(f'<font color="{_ADJ}">∂f/∂v = …</font>: adjoint of that node')
        if any(np.ndim(v) for v in ctx.values.values()):
            extras.append("tensor: [min … max] μ=mean (tooltip: all values)")
        if any(not finite(v) for n, v in ctx.values.items() if n in set(ctx.drawn)):
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


def title_text(ctx: _Ctx, at: Mapping[Any, Any] | None) -> str:
    graph, target = ctx.graph, ctx.target
    lines = []
    for o in target.outputs:
        if graph.node(o)["role"] != "grad" and graph.op(o) != "input" and len(lines) < 3:
            text = f"{ctx.names.out.get(o, ctx.names.node(o))} = "
            text += to_text(Expr(graph, o), names=False, max_nodes=200)[
                :400
            ]  # two lines of 100 are shown
            wrapped = textwrap.wrap(text, 100, subsequent_indent="    ")
            lines += wrapped[:2] if len(wrapped) <= 2 else [*wrapped[:2], "    …"]
    if at:
        vals = []
        for k, v in _named_values(at, {}).items():
            v = getattr(v, "__graphad_value__", lambda v=v: v)()
            k = short_name(k)
            vals.append(f"{k}={short(v)}" if np.size(v) <= 1 else f"{k}: {np.shape(v)}")
        lines.append("at " + ", ".join(vals))
    if ctx.hidden:
        shown = len(ctx.drawn) + sum(len(g.members) for g in ctx.groups)
        lines.append(f"(showing {shown} of {shown + len(ctx.hidden)} nodes: max_nodes)")
    elif ctx.groups:
        inside = sum(len(g.members) for g in ctx.groups)
        lines.append(
            f"({inside} nodes of repeated structure drawn as {len(ctx.groups)} box(es); "
            "ga.render(..., max_nodes=None) draws every node)"
        )
    return dot_lines(lines)  # each line escaped and ended by "\\l" (left-justified)
