"""``.. graphad-op-table::``: the op table, drawn from graphad's op table itself.

One row per public op: its name, the NumPy (or SciPy) function it matches, the
arguments of its ``ga`` function, which of them gradients flow to, its convention
at a kink or outside its domain, and its summary.  Nothing is typed by hand, so
the page cannot drift from the code.
"""

from __future__ import annotations

import inspect

HEADER = [
    "op",
    "NumPy equivalent",
    "arguments",
    "differentiable arguments",
    "kink convention",
    "summary",
]


def _numpy_name(op) -> str:
    """The op's ``numpy`` facet (``np.sin`` -> ``numpy.sin``), else its implementation's
    name when that is NumPy's own function, else a dash (no single equivalent)."""
    if op.numpy:
        return "numpy." + op.numpy[3:] if op.numpy.startswith("np.") else op.numpy
    impl = op.impl
    module = getattr(impl, "__module__", None) or ""
    name = getattr(impl, "__name__", None)
    if name and (module.startswith("numpy") or type(impl).__name__ == "ufunc"):
        return f"numpy.{name}"
    return "-"


def _arguments(fn) -> list[str]:
    return [
        ("*" if p.kind == p.VAR_POSITIONAL else "") + p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind != p.VAR_KEYWORD
    ]


def _gradient_flows(op, fn) -> list[bool]:
    """For each operand: whether the gradient reaching it is more than a constant zero.

    Found by differentiating the op at its first test case (declared shapes, a
    fresh graph): ``ga.grad`` gives a zero constant where the op's rule returns
    no cotangent (``where``'s condition) or a zero one (``floor``)."""
    import numpy as np

    import graphad as ga

    shapes, params = op.test_cases()[0]
    with ga.Graph() as graph:
        args = [ga.symbol(f"a{i}", shape=tuple(s), dtype="float64") for i, s in enumerate(shapes)]
        out = fn(list(args), **params) if op.nargs is None else fn(*args, **params)
        outs = list(out) if isinstance(out, list | tuple) else [out]
        total = ga.sum(outs[0])
        for o in outs[1:]:
            total = total + ga.sum(o)
        nodes = graph.records()
        grads = [nodes[g.id] for g in ga.grad(total, args)]
    return [not (g.op == "constant" and not np.any(g.value)) for g in grads]


def _differentiable(op, fn) -> str:
    """The operands gradients flow to (the first parameters of the op's function);
    its other parameters are static, never differentiated."""
    if not op.differentiable:
        return "none"
    names = _arguments(fn)
    if op.nargs is None:
        return names[0] + " (each array)"
    operands = names[: op.nargs]
    flows = _gradient_flows(op, fn)
    live = [n for n, f in zip(operands, flows, strict=False) if f]
    dead = [n for n, f in zip(operands, flows, strict=False) if not f]
    if not live:
        return "none (its gradient is 0)"
    return ", ".join(live) + (f" (not {', '.join(dead)})" if dead else "")


def _rows():
    import graphad as ga
    from graphad.ops import FUNCTIONS, OPS

    public = set(ga.__all__)
    for name in sorted(OPS):
        op = OPS[name]
        if op.internal or op.custom or name not in FUNCTIONS:
            continue
        if name not in public and not op.namespace:
            continue
        fn = FUNCTIONS[name][1]
        yield [
            f"{op.namespace}.{name}" if op.namespace else name,
            _numpy_name(op),
            ", ".join(_arguments(fn)),
            _differentiable(op, fn),
            " ".join(op.kink.split()) or "-",
            _summary(op, fn),
        ]


def _summary(op, fn) -> str:
    """The op's ``doc`` facet, else the first paragraph of its function's docstring."""
    text = op.doc or (fn.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split()) or "-"


def setup(app):
    # docutils comes with Sphinx; the rows above need neither (the tests read them)
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class OpTable(Directive):
        has_content = False

        def run(self):
            header = HEADER
            table = nodes.table()
            group = nodes.tgroup(cols=len(header))
            table += group
            for width in (12, 16, 12, 12, 30, 40):
                group += nodes.colspec(colwidth=width)
            head = nodes.thead()
            group += head
            head += self._row(header)
            body = nodes.tbody()
            group += body
            for row in _rows():
                body += self._row(row, markup=True)
            return [table]

        def _row(self, cells, markup=False):
            row = nodes.row()
            for k, text in enumerate(cells):
                entry = nodes.entry()
                para = nodes.paragraph()
                if markup and k >= 4:  # the convention and summary hold ``literals``
                    parsed, messages = self.state.inline_text(str(text), self.lineno)
                    para += parsed
                    entry += messages
                else:
                    para += nodes.Text(str(text))
                entry += para
                row += entry
            return row

    app.add_directive("graphad-op-table", OpTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
