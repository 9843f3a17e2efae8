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


def tree_size(graph: Any, order: list[int], cap: int) -> int:
    """Nodes of the expression written out as a tree (no sharing), counted up to ``cap``."""
    nodes = graph._nodes
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
