"""Methods of :class:`~graphad.core.expr.Expr` that reach up the layers.

Evaluating, printing and displaying an Expr use the interpreter, the printer and
the renderer, which sit above the core that defines ``Expr``.  They are attached
here, at the top, as JAX attaches its array methods from ``jax.numpy``, so that no
lower layer imports a higher one.  Each imports its backend when first called, so
``import graphad`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .core.expr import Expr, _named_values
from .core.graph import ancestors

__all__ = ["install"]


def _eval(self: Expr, mapping: Mapping[Any, Any] | None = None, /, **values: Any) -> Any:
    """Evaluate with NumPy: ``e.eval(x=3.0)`` or ``e.eval({"x": 3.0})``.

    Returns a NumPy scalar for 0-d results, an ndarray otherwise.  Values
    for names the expression does not use are ignored.
    """
    from .backends.interp import evaluate

    return evaluate(self.graph, [self.id], _named_values(mapping, values))[0]


def to_string(e: Expr, max_nodes: int = 10_000, max_chars: int = 1_000_000) -> str:
    """Python-syntax text of an expression, as people write it (:mod:`graphad.backends.printing`).

    It parses back with :func:`graphad.parse` to an expression with the same values
    (up to rounding: products are collected, constants shown exactly).  A shared
    subexpression is written out at each use (``printing.to_text(e, names=True)``
    names it instead), so text can grow much faster than the graph: past
    ``max_nodes`` nodes or ``max_chars`` characters a ``<...>`` summary is returned.
    """
    from .backends.printing import to_text

    return to_text(e, names=False, max_nodes=max_nodes, max_chars=max_chars)


def _str(self: Expr) -> str:
    return to_string(self)


def _repr(self: Expr) -> str:
    n = len(ancestors(self.graph, [self.id]))
    if n > 60:
        return f"<graphad.Expr v{self.id}: {self.op}, {n} nodes>"
    return f"Expr({to_string(self)})"


def _repr_svg_(self: Expr) -> str | None:
    try:  # bounded for big graphs: at most render.DISPLAY_MAX_NODES boxes
        from .backends.render import repr_svg

        return repr_svg(self)
    except Exception:  # no dot program: Jupyter falls back to the next format
        return None


def _repr_latex_(self: Expr) -> str | None:
    try:  # names escaped; shared parts named; a short note when too big
        from .backends._display import LATEX_MAX_CHARS, LATEX_MAX_NODES
        from .backends.printing import latex_display

        return latex_display(self, 10 * LATEX_MAX_NODES, LATEX_MAX_CHARS)
    except Exception:  # a display must never raise in a notebook
        return None


def _repr_mimebundle_(self: Expr, include: Any = None, exclude: Any = None) -> dict[str, str]:
    # the graph first, as HTML embedding the SVG (JupyterLab ranks LaTeX above SVG)
    from .backends._display import mimebundle

    return mimebundle(self, include, exclude)


def install(cls: type = Expr) -> None:
    """Attach ``eval``, ``str``/``repr`` and the notebook displays to ``cls``."""
    cls.eval = _eval
    cls.__str__ = _str
    cls.__repr__ = _repr
    cls._repr_svg_ = _repr_svg_
    cls._repr_latex_ = _repr_latex_
    cls._repr_mimebundle_ = _repr_mimebundle_
