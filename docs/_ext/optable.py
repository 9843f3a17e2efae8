"""``.. graphad-op-table::``: the op table, drawn from graphad's op table itself.

One row per public op: its name, the NumPy function it matches, how many
arguments it takes, which of them are differentiable, and its convention at a
kink or outside its domain (the op's own docstring line).  Nothing is typed by
hand, so the page cannot drift from the code.
"""

from __future__ import annotations


def _numpy_name(op) -> str:
    impl = op.impl
    module = getattr(impl, "__module__", None) or ""
    name = getattr(impl, "__name__", None)
    if isinstance(impl, type(abs)) or module.startswith("numpy") or type(impl).__name__ == "ufunc":
        return f"numpy.{name}" if name else ""
    return "(composition)"


def _rows():
    import graphad as ga
    from graphad.ops import OPS

    public = set(ga.__all__)
    for name in sorted(OPS):
        op = OPS[name]
        if op.internal or op.custom or (name not in public and not op.namespace):
            continue
        nargs = "any" if op.nargs is None else str(op.nargs)
        diff = op.differentiable
        if diff is True:
            diff_text = "all"
        elif not diff:
            diff_text = "none"
        else:
            diff_text = ", ".join(str(i) for i in diff)
        doc = " ".join(f"{op.doc or ''} {op.kink}".split())  # the summary, then the kink facet
        shown = f"{op.namespace}.{name}" if op.namespace else name
        yield [shown, _numpy_name(op), nargs, diff_text, doc]


def setup(app):
    # docutils comes with Sphinx; the rows above need neither (the tests read them)
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class OpTable(Directive):
        has_content = False

        def run(self):
            header = ["op", "NumPy", "arguments", "differentiable arguments", "convention"]
            table = nodes.table()
            group = nodes.tgroup(cols=len(header))
            table += group
            for width in (12, 18, 8, 12, 50):
                group += nodes.colspec(colwidth=width)
            head = nodes.thead()
            group += head
            head += self._row(header)
            body = nodes.tbody()
            group += body
            for row in _rows():
                body += self._row(row)
            return [table]

        @staticmethod
        def _row(cells):
            row = nodes.row()
            for text in cells:
                entry = nodes.entry()
                entry += nodes.paragraph(text=str(text))
                row += entry
            return row

    app.add_directive("graphad-op-table", OpTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
