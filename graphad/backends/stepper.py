"""The backprop stepper: one HTML page that walks through a backward pass node by node.

:func:`backprop_steps` computes, in Python, what reverse mode does at a point:
starting from the seed ``∂f/∂f = 1``, each node's adjoint is the sum of one
contribution per use (``∂f/∂v3 += ∂f/∂v7 · cos(v3)``), taken in reverse
topological order.  Every contribution is computed by the op's own VJP rule,
applied to the numbers (a small graph per node whose arguments are symbols
with the values' shapes), and its text is the rule's local derivative, so the
page shows what graphad does, not a second implementation of it.

:func:`write_page` writes the page: the graph drawn by :mod:`graphad.render`
(inline SVG), the steps as JSON data, and a small script with buttons, a
slider and arrow keys.  No network, no server.  Every user text (input names,
titles) is escaped (:mod:`graphad._escape`); the script only ever sets
``textContent``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core._escape import html_text, json_script, short_name
from ..core.errors import GraphadError
from ..core.graph import Graph, ancestors
from .render_labels import Namer, short

__all__ = ["Step", "Backprop", "backprop_steps", "write_page", "MAX_STEP_NODES"]

#: A page steps through at most this many nodes of the forward graph (each
#: step is read by a person; a bigger graph is refused with this number).
MAX_STEP_NODES = 1000


@dataclass
class Step:
    """One step of the backward pass: a contribution added to ``node``'s adjoint.

    ``source`` is the node whose adjoint flows back (``None`` for the seed);
    ``term`` the contribution's value, ``total`` the adjoint after adding it;
    ``part``/``parts`` count the contributions this node receives (fan-out).
    """

    node: int
    source: int | None
    rule: str
    numbers: str
    term: Any
    total: Any
    part: int
    parts: int
    label: str = ""

    @property
    def done(self) -> bool:
        """True when this step completes the node's adjoint."""
        return self.part == self.parts


@dataclass
class Backprop:
    """The steps of one function's backward pass, with the names and values they use."""

    graph: Graph
    output: int
    wrt: list[int]
    steps: list[Step]
    values: dict[int, Any]
    names: dict[int, str] = field(default_factory=dict)
    adjoint_names: dict[int, str] = field(default_factory=dict)
    function_name: str = "f"

    def adjoint(self, node: int) -> Any:
        """The complete adjoint ∂f/∂node (the last step's total)."""
        for s in reversed(self.steps):
            if s.node == node:
                return s.total
        raise GraphadError(f"backprop: node v{node} gets no adjoint (it does not reach the output)")


# -- numbers as text --------------------------------------------------------------------------


def _num(value: Any) -> str:
    """A value as a factor: ``0.41``, ``(-0.99)``, or a tensor's short summary."""
    text = short(value)
    if np.ndim(value) == 0 and text.startswith("-"):
        return f"({text})"
    return text


# -- the steps -------------------------------------------------------------------------------


def _function_and_wrt(graph: Graph, outputs: Sequence[int]) -> tuple[int, list[int]]:
    nodes = graph.records()
    functions = [o for o in outputs if nodes[o]["role"] != "grad"]
    grads = [o for o in outputs if nodes[o]["role"] == "grad"]
    if len(functions) != 1:
        raise GraphadError(
            "backprop page: give exactly one function (and optionally its gradients), "
            f"e.g. ga.render([f, *ga.grad(f, [x, y])], 'backprop.html', at=...); got "
            f"{len(functions)} non-gradient outputs"
        )
    f = functions[0]
    used = ancestors(graph, [f])
    inputs = sorted(n for n in used if nodes[n]["op"] == "input")
    wrt = sorted({w for g in grads for w in nodes[g].get("grad_wrt", ()) if w in used})
    return f, wrt or inputs


def _scratch_names(graph: Graph, args: list[int], adjoint_name: str) -> dict[int, str]:
    """Distinct symbol names for the distinct arguments of one node (their labels)."""
    out: dict[int, str] = {}
    taken = {adjoint_name}
    for a in args:
        if a in out:
            continue
        name = short_name(graph.label(a))
        while name in taken:
            name += "′"
        taken.add(name)
        out[a] = name
    return out


def _local_rule(graph, u, values, adj_u, adj_name, wanted):
    """Contributions of node ``u``'s adjoint to the arguments in ``wanted``.

    Returns ``{arg: (value, rule_text, factor_text_or_None)}``; for elementwise
    ops with partial derivatives, the rule is ``adj · partial`` and the factor
    is the partial's value, otherwise the rule is the VJP expression.
    """
    from ..core import expr as _expr
    from ..ops import OPS, apply, as_expr, constant
    from ..ops.rules import _force
    from ..transforms.autodiff import vjp
    from .interp import evaluate
    from .printing import to_text

    node = graph.records()[u]
    op = OPS[node["op"]]
    args = list(node["args"])
    names = _scratch_names(graph, args, adj_name)
    out: dict[int, tuple[Any, str, Any]] = {}
    with Graph() as scratch:
        sym: dict[int, Any] = {}
        feed: dict[str, Any] = {}
        for a in dict.fromkeys(args):
            val = np.asarray(values[a])
            if graph.records()[a]["op"] == "constant":
                sym[a] = constant(graph.records()[a]["value"])
            else:
                sym[a] = _expr.symbol(names[a], shape=val.shape, dtype=val.dtype)
                feed[names[a]] = values[a]
        arg_exprs = [sym[a] for a in args]
        params = dict(node["params"])
        ans = apply(op.name, arg_exprs, **params) if op.nargs is None else None
        if ans is None:
            ans = apply(op.name, *arg_exprs, **params)
        g_val = np.asarray(adj_u)
        g = _expr.symbol(adj_name, shape=g_val.shape, dtype=g_val.dtype)
        feed[adj_name] = adj_u
        todo = [a for a in dict.fromkeys(args) if a in wanted]
        cots = vjp(ans, [sym[a] for a in todo], g)
        partial_texts: dict[int, list] = {}
        if op.partials is not None and op.elementwise and op.nargs is not None:
            parts = op.partials(ans, *arg_exprs, **params)
            for a, p in zip(args, parts, strict=True):
                if a in wanted:
                    partial_texts.setdefault(a, []).append(p)
        ids, slots = [], []
        for a, c in zip(todo, cots, strict=True):
            ids.append(c.id)
            slots.append((a, None))
            ps = partial_texts.get(a)
            if ps and all(p is not None for p in ps):
                forced = [_force(p) for p in ps]
                if all(p is not None for p in forced):
                    total = forced[0]
                    for p in forced[1:]:
                        total = total + p
                    total = as_expr(total, scratch)
                    ids.append(total.id)
                    slots.append((a, total))
        results = evaluate(scratch, ids, feed)
        by_arg: dict[int, list] = {}
        for (a, p), r in zip(slots, results, strict=True):
            by_arg.setdefault(a, []).append((p, r))
        for a, items in by_arg.items():
            value = items[0][1]
            if len(items) > 1:
                p, pval = items[1]
                out[a] = (value, f"{adj_name} · {_paren(to_text(p, names=False))}", pval)
            else:
                c = cots[todo.index(a)]
                out[a] = (value, to_text(c, names=False, max_nodes=60)[:300], None)
    return out


def _paren(text: str) -> str:
    """``text`` as a factor: bare if one name, number or call, else in parentheses."""
    if text.startswith("-"):
        return f"({text})"
    if " " not in text:
        return text
    m = re.match(r"[^\W\d]\w*\(", text)
    if m and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text[m.end() - 1 :], m.end() - 1):
            depth += (ch == "(") - (ch == ")")
            if depth == 0:
                if i == len(text) - 1:
                    return text  # one call spans the whole text
                break
    return f"({text})"


def backprop_steps(exprs: Any, at: Mapping[Any, Any]) -> Backprop:
    """The backward pass of one function at a point, as a list of :class:`Step`.

    ``exprs`` is the function, or ``[f, *grads]`` (the gradients say which inputs
    to differentiate with respect to; without them, all of ``f``'s inputs).
    Nodes are visited in reverse topological order; each gets one step per use
    (per argument position of a user, same positions merged), and the output a
    first step, the seed.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph():
    ...     x = ga.symbols("x")
    ...     bp = backprop_steps(ga.sin(x) * x, at={"x": 0.0})
    >>> [s.rule for s in bp.steps][-2:]
    ['∂f/∂x += ∂f/∂v1 · cos(x)', '∂f/∂x += ∂f/∂v2 · v1']
    """
    graph, outputs, names = _outputs(exprs)
    return steps_for(graph, outputs, names, at)


def _outputs(exprs: Any) -> tuple[Graph, list[int], dict[int, str]]:
    """Graph, output ids and names of an Expr, or of a list/tuple/dict of them (no recursion)."""
    from ..core.expr import Expr

    outputs: list[int] = []
    names: dict[int, str] = {}
    graph = None
    stack: list[tuple[Any, str | None]] = [(exprs, None)]
    while stack:
        item, name = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed([(v, str(k)) for k, v in item.items()]))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(v, name) for v in item]))
        elif isinstance(item, Expr):
            if graph is not None and item.graph is not graph:
                raise GraphadError("backprop page: the expressions belong to different graphs")
            graph = item.graph
            if item.id not in outputs:
                outputs.append(item.id)
            if name is not None:
                names.setdefault(item.id, name)
        else:
            raise GraphadError(
                f"backprop page: expected an Expr or a list/dict of Exprs, "
                f"not {type(item).__name__}"
            )
    if graph is None:
        raise GraphadError("backprop page: nothing to step through (no Expr given)")
    return graph, outputs, names


def steps_for(
    graph: Graph, outputs: Sequence[int], names: Mapping[int, str], at: Mapping[Any, Any]
) -> Backprop:
    """:func:`backprop_steps` for outputs given by node id (``names`` as ``render``'s)."""
    from ..core.expr import _named_values
    from .interp import evaluate

    f, wrt = _function_and_wrt(graph, outputs)
    from ..transforms.autodiff import _relevant

    relevant = _relevant(graph, [f], wrt)
    if len(relevant) > MAX_STEP_NODES:
        raise GraphadError(
            f"backprop page: {len(relevant)} nodes lie between the inputs and the output, "
            f"more than MAX_STEP_NODES={MAX_STEP_NODES} steps a page can show; draw a "
            "smaller function"
        )
    order = sorted(ancestors(graph, [f]))
    feed = _named_values(at or {}, {})
    values = dict(zip(order, evaluate(graph, order, feed), strict=True))
    for w in wrt:  # as ga.grad: gradients need floating-point inputs
        kind = np.asarray(values[w]).dtype
        if kind.kind not in "fc":
            from ..core.errors import DTypeError

            raise DTypeError(
                f"backprop page: input {short_name(graph.label(w))!r} is differentiated but "
                f"given {kind} values; gradients need floating-point inputs (write 2.0, "
                "or convert with .astype(float))"
            )
    namer = Namer(graph, [f], dict(names))
    adj_name = {n: namer.adj(f, n) for n in relevant}
    node_name = {n: namer.node(n) for n in order}
    rel = set(relevant)
    nodes = graph.records()
    users: dict[int, list[int]] = {n: [] for n in relevant}
    for u in relevant:
        for a in dict.fromkeys(nodes[u]["args"]):
            if a in rel:
                users[a].append(u)
    steps: list[Step] = []
    total: dict[int, Any] = {}
    rules: dict[int, dict] = {}  # user -> its contributions, computed once its adjoint is known
    for a in reversed(relevant):
        if a == f:
            # the seed graphad uses: ones of the output's own (floating) dtype
            out_dtype = np.asarray(values[f]).dtype
            dtype = out_dtype if out_dtype.kind in "fc" else np.dtype(np.float64)
            seed = np.ones(np.shape(values[f]), dtype=dtype)
            seed = seed if np.ndim(seed) else seed.dtype.type(1.0)
            total[f] = seed
            what = "1" if np.ndim(seed) == 0 else "ones (the gradient of sum(f))"
            steps.append(
                Step(f, None, f"{adj_name[f]} = {what}", "the seed", seed, seed, 1, 1, "seed")
            )
            continue
        srcs = users[a]
        for i, u in enumerate(srcs, 1):
            if u not in rules:
                op = nodes[u]["op"]
                from ..ops import OPS

                if not OPS[op].differentiable or u not in total:
                    rules[u] = {}
                else:
                    wanted = {b for b in nodes[u]["args"] if b in rel}
                    rules[u] = _local_rule(graph, u, values, total[u], adj_name[u], wanted)
            if a not in rules[u]:
                continue
            term, rule, factor = rules[u][a]
            new = term if a not in total else total[a] + term
            if factor is not None:
                numbers = f"= {_num(total[u])} · {_num(factor)} = {short(term)}"
            else:
                numbers = f"= {short(term)}   (with {adj_name[u]} = {short(total[u])})"
            if np.shape(term) != np.shape(factor) and factor is not None:
                numbers += "   (summed over the broadcast axes)"
            label = f"use {i} of {len(srcs)}: in {node_name[u]}"
            steps.append(
                Step(a, u, f"{adj_name[a]} += {rule}", numbers, term, new, i, len(srcs), label)
            )
            total[a] = new
    fname = namer.out.get(f, "f")
    return Backprop(graph, f, wrt, steps, values, node_name, adj_name, fname)


# -- the page --------------------------------------------------------------------------------


def _step_json(bp: Backprop, holders: Mapping[int, list[int]]) -> list[dict]:
    out = []
    for s in bp.steps:
        out.append(
            {
                "node": s.node,
                "src": s.source,
                "hold": holders.get(s.node, []),
                "name": bp.adjoint_names[s.node],
                "rule": s.rule,
                "nums": s.numbers,
                "total": short(s.total),
                "part": s.part,
                "parts": s.parts,
                "label": s.label,
            }
        )
    return out


def page_data(bp: Backprop, holders: Mapping[int, list[int]] | None = None) -> dict:
    """What the page's script reads: the steps and each stepped node's name and value."""
    nodes = bp.graph.records()
    stepped = list(dict.fromkeys(s.node for s in bp.steps))
    return {
        "steps": _step_json(bp, holders or {}),
        "nodes": {
            str(n): {
                "name": bp.names[n],
                "op": nodes[n]["op"],
                "value": short(bp.values[n]),
            }
            for n in stepped
        },
    }


def _svg_body(svg: str) -> str:
    """Graphviz's SVG document without its XML prolog and doctype (inline in HTML)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def write_page(
    bp: Backprop,
    svg: str,
    path: str | Path,
    title: str,
    holders: Mapping[int, list[int]] | None = None,
) -> None:
    """Write the self-contained stepper page (SVG picture, JSON steps, inline script)."""
    data = json_script(page_data(bp, holders))
    fill = {
        "TITLE": html_text(title, 400),
        "COUNT": str(len(bp.steps)),
        "MAX": str(max(len(bp.steps) - 1, 0)),
        "SVG": _svg_body(svg),
        "DATA": data,
        "SCRIPT": _SCRIPT,
    }
    # one pass over the template: text put in is never searched for placeholders again
    page = re.sub(r"%([A-Z]+)%", lambda m: fill[m.group(1)], _PAGE)
    path = Path(path)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GraphadError(f"render: cannot write {str(path)!r}: {reason}") from exc


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graphad backprop: %TITLE%</title>
<style>
body{font:14px Helvetica,Arial,sans-serif;margin:0;color:#111827;background:#fff}
header{padding:10px 16px;border-bottom:1px solid #e5e7eb}
header h1{font-size:16px;margin:0 0 4px 0}
#controls{display:flex;gap:8px;align-items:center;margin-top:6px}
#controls button{font-size:14px;padding:2px 10px}
#slider{flex:1;max-width:420px}
main{display:flex;gap:16px;padding:12px 16px;align-items:flex-start}
#panel{flex:0 0 420px;position:sticky;top:8px}
#graph{flex:1;overflow:auto;border:1px solid #e5e7eb;border-radius:6px}
#graph svg{max-width:100%;height:auto}
.box{border:1px solid #e5e7eb;border-radius:6px;padding:8px 10px;margin-bottom:10px}
#what{font-weight:bold;margin-bottom:4px}
#rule,#nums,#total{font-family:Menlo,Consolas,monospace;font-size:15px;
 white-space:pre-wrap;word-break:break-word}
#rule{color:#9a3412}
#total{margin-top:4px;font-weight:bold}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{text-align:left;padding:2px 6px;border-bottom:1px solid #f3f4f6;
 font-family:Menlo,Consolas,monospace}
tr.cur td{background:#fee2e2}
tr.partial td{color:#6b7280;font-style:italic}
.hint{color:#6b7280;font-size:12px}
g.node.cur path,g.node.cur polygon,g.node.cur ellipse{stroke:#dc2626;stroke-width:4px}
g.node.src path,g.node.src polygon,g.node.src ellipse{stroke:#2563eb;stroke-width:4px}
g.node.hold path,g.node.hold polygon,g.node.hold ellipse{stroke:#dc2626;stroke-width:3px;
 stroke-dasharray:6 3}
g.node.done path,g.node.done polygon,g.node.done ellipse{fill:#fed7aa}
</style></head>
<body>
<header><h1>Backward pass of %TITLE%</h1>
<div class="hint">Each step adds one contribution to a node's adjoint, from the node that
uses it (blue) to the node being computed (red); orange nodes have their complete adjoint.
Keys: &larr; &rarr; step, Home/End.</div>
<div id="controls">
<button id="first" title="first step (Home)">|&#x25C0;</button>
<button id="prev" title="previous step (&larr;)">&#x25C0;</button>
<input id="slider" type="range" min="0" max="%MAX%" value="0" aria-label="step">
<button id="next" title="next step (&rarr;)">&#x25B6;</button>
<button id="last" title="last step (End)">&#x25B6;|</button>
<span id="counter">step 1 of %COUNT%</span>
</div></header>
<main>
<section id="panel">
<div class="box"><div id="what"></div><div id="rule"></div><div id="nums"></div>
<div id="total"></div></div>
<div class="box"><b>Adjoints so far</b>
<table><thead><tr><th>adjoint</th><th>value</th><th></th></tr></thead>
<tbody id="adjoints"></tbody></table></div>
</section>
<section id="graph">%SVG%</section>
</main>
<script type="application/json" id="backprop-data">%DATA%</script>
<script>%SCRIPT%</script>
</body></html>
"""

# The page's script: replays steps 0..i to show step i.  Text goes in with
# textContent only, so nothing from the data is ever read as HTML.
_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("backprop-data").textContent);
  var steps = data.steps, nodes = data.nodes;
  var byTitle = {};
  var gs = document.querySelectorAll("#graph g.node");
  for (var k = 0; k < gs.length; k++) {
    var t = gs[k].querySelector("title");
    if (t) byTitle[t.textContent] = gs[k];
  }
  function mark(id, cls) {
    var g = byTitle["n" + id];
    if (g) g.classList.add(cls);
  }
  function $(id) { return document.getElementById(id); }
  var slider = $("slider"), current = -1;
  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  function show(i) {
    if (!steps.length) {
      $("counter").textContent = "no steps: the function depends on no input";
      return;
    }
    i = Math.max(0, Math.min(steps.length - 1, i));
    current = i;
    var s = steps[i];
    slider.value = String(i);
    $("counter").textContent = "step " + (i + 1) + " of " + steps.length;
    var node = nodes[String(s.node)];
    var what = s.name + "  (" + node.name + " = " + node.op + ", value " + node.value + ")";
    if (s.parts > 1) what += "  \u2014 contribution " + s.part + " of " + s.parts;
    $("what").textContent = what;
    $("rule").textContent = s.rule;
    $("nums").textContent = s.nums;
    $("total").textContent = s.name + " = " + s.total +
      (s.part < s.parts ? "   (so far)" : "");
    for (var t in byTitle) byTitle[t].classList.remove("cur", "src", "hold", "done");
    var seen = {}, order = [];
    for (var j = 0; j <= i; j++) {
      var sj = steps[j];
      if (!(sj.node in seen)) order.push(sj.node);
      seen[sj.node] = sj;
      if (j < i && sj.part === sj.parts) mark(sj.node, "done");
    }
    var body = $("adjoints");
    while (body.firstChild) body.removeChild(body.firstChild);
    for (var m = 0; m < order.length; m++) {
      var st = seen[order[m]], tr = document.createElement("tr");
      if (order[m] === s.node) tr.className = "cur";
      else if (st.part < st.parts) tr.className = "partial";
      cell(tr, st.name);
      cell(tr, st.total);
      cell(tr, st.part < st.parts ? st.part + " of " + st.parts + " so far" : "");
      body.appendChild(tr);
    }
    mark(s.node, "cur");
    if (s.src !== null) mark(s.src, "src");
    for (var h = 0; h < s.hold.length; h++) mark(s.hold[h], "hold");
  }
  $("first").onclick = function () { show(0); };
  $("prev").onclick = function () { show(current - 1); };
  $("next").onclick = function () { show(current + 1); };
  $("last").onclick = function () { show(steps.length - 1); };
  slider.oninput = function () { show(parseInt(slider.value, 10)); };
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") show(current + 1);
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") show(current - 1);
    else if (ev.key === "Home") show(0);
    else if (ev.key === "End") show(steps.length - 1);
    else return;
    ev.preventDefault();
  });
  window.graphadBackprop = {show: show, count: steps.length,
    current: function () { return current; }};
  var start = /step=(\d+)/.exec(window.location.hash || "");
  show(start ? parseInt(start[1], 10) - 1 : 0);  // page.html#step=5 opens at step 5
})();
"""
