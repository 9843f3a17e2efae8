"""Jupyter's automatic displays of expressions: bounded in time and size, names escaped.

Jupyter calls every ``_repr_*_`` method of every value a cell shows, so each
one must return quickly whatever the graph's size.  Past a size bound, the
LaTeX form is a one-line note saying how big the expression is and how to
get its full form, instead of SymPy's typesetting (a 10,000-term sum took
22 s and 3 GB).
"""

from __future__ import annotations

from typing import Any

from ..core._escape import latex_name

#: Typeset with SymPy only expressions of at most this many graph nodes and
#: at most LATEX_MAX_TREE nodes once shared subexpressions are written out at
#: each use (SymPy prints trees: sharing can make a small graph exponentially long).
LATEX_MAX_NODES = 200
LATEX_MAX_TREE = 2_000
#: Longest LaTeX text returned; a longer one is replaced by the note.
LATEX_MAX_CHARS = 20_000


#: The MIME types an Expr offers, most preferred first.  JupyterLab and VS Code
#: both show ``text/html`` before ``text/latex`` and ``image/svg+xml`` (JupyterLab
#: ranks LaTeX above SVG: offered as SVG and LaTeX only, an Expr showed its
#: formula, never its graph), so the graph is offered as HTML embedding the SVG;
#: the other forms stay for front ends and exports (nbconvert to LaTeX/PDF).
MIME_ORDER = ("text/html", "image/svg+xml", "text/latex", "text/plain")
#: Tallest a graph is shown in a notebook cell; a taller one scrolls inside its box.
DISPLAY_MAX_HEIGHT_PX = 600


def svg_html(svg: str, note: str = "") -> str:
    """An SVG document as an HTML fragment: no XML prolog, bounded height, scrolls."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else ""
    # ``note`` is fixed text from graphad (numbers and words), never the user's
    extra = f'<div style="color:#6b7280;font-size:12px">{note}</div>' if note else ""
    return (
        f'<div class="graphad-graph" style="max-height:{DISPLAY_MAX_HEIGHT_PX}px;'
        f'overflow:auto">{body}</div>{extra}'
    )


def mimebundle(e: Any, include: Any = None, exclude: Any = None) -> dict[str, str]:
    """``Expr._repr_mimebundle_``: the graph as HTML and SVG, the formula as LaTeX, the text.

    Keys follow :data:`MIME_ORDER`.  Each form is bounded (see
    :func:`graphad.render.repr_svg` and :func:`latex`), and a form that cannot be
    made (no Graphviz program) is left out: a display must never raise.
    """
    bundle: dict[str, str] = {}
    wanted = [m for m in MIME_ORDER if (not include or m in include)]
    wanted = [m for m in wanted if not exclude or m not in exclude]
    if "text/html" in wanted or "image/svg+xml" in wanted:
        svg = None
        try:
            svg = e._repr_svg_()
        except Exception:
            svg = None
        if svg:
            if "text/html" in wanted:
                bundle["text/html"] = svg_html(svg)
            if "image/svg+xml" in wanted:
                bundle["image/svg+xml"] = svg
    if "text/latex" in wanted:
        tex = None
        try:
            tex = e._repr_latex_()
        except Exception:
            tex = None
        if tex:
            bundle["text/latex"] = tex
    if "text/plain" in wanted:
        bundle["text/plain"] = repr(e)
    return bundle


def tree_size(graph: Any, order: list[int], cap: int) -> int:
    """Nodes of the expression written out as a tree (no sharing), counted up to ``cap``."""
    nodes = graph.records()
    size: dict[int, int] = {}
    for n in order:
        size[n] = min(cap + 1, 1 + sum(size[a] for a in nodes[n]["args"]))
    return size[order[-1]] if order else 0


def _note(what: str) -> str:
    # fixed words and numbers only: nothing here comes from the user
    return (
        rf"$\text{{graphad expression: {what}; print(e) shows its text, ga.render(e) its graph}}$"
    )


def latex(e: Any) -> str | None:
    """``Expr._repr_latex_``: SymPy's LaTeX with escaped names, or a short note for big ones."""
    from ..core.graph import ancestors

    order = sorted(ancestors(e.graph, [e.id]))
    if len(order) > LATEX_MAX_NODES:
        return _note(f"{len(order)} nodes, too many to typeset")
    if tree_size(e.graph, order, LATEX_MAX_TREE) > LATEX_MAX_TREE:
        return _note(f"{len(order)} nodes, over {LATEX_MAX_TREE} once written out")
    try:
        import sympy

        from .sympy import to_sympy

        expr = to_sympy(e)
    except Exception:  # not every graph converts (custom ops, tensors): no LaTeX form
        return None
    names = {}
    for s in expr.free_symbols:
        safe = latex_name(s.name)
        if safe is not None:
            names[s] = safe
    text = sympy.latex(expr, symbol_names=names)
    if len(text) > LATEX_MAX_CHARS:
        return _note(f"over {LATEX_MAX_CHARS} characters of LaTeX")
    return f"${text}$"
